"""Reconstruct a mesh from a capture's photos: the orchestrator.

    masks -> visual hull -> SDF grid refined by volume rendering (coarse to
    fine) -> marching cubes -> cleanup -> UV atlas

Captures without masks start from a sphere and explain what lies outside the
bounding sphere with background shells (see foreground.py). Progress is a
stream of immutable `ReconstructionProgress` snapshots; `cancel()` is polled
every step, and a cancelled run still returns the mesh of the grid so far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import torch

from models.camera import Camera
from models.errors import RelitError
from models.mesh import Mesh
from models.reconstruction.config import ReconstructionConfig
from models.reconstruction.sdf_grid import GridSpec, resample, sphere_sdf
from models.reconstruction.views import Frame, RaySet


@dataclass(frozen=True)
class ReconstructionProgress:
    """Where a reconstruction stands.

    `stage` names the current stage ("loading", "visual hull" or, without
    masks, "foreground" (the occupancy fit), "refine 64^3", "mesh", "done",
    "cancelled"); `stage_index` of `stage_count` counts the refinement stages
    (0 before the first). `step` of `total_steps` counts optimiser steps over
    the foreground fit and all refinement stages; `loss` is the step's total and `losses`
    its weighted terms; `elapsed_s` since the start; `eta_s` an estimate of
    the time left (nan when unknown).
    """

    stage: str
    stage_index: int
    stage_count: int
    step: int
    total_steps: int
    loss: float
    losses: Mapping[str, float]
    elapsed_s: float
    eta_s: float
    message: str = ""
    sharpness: float = math.nan

    def __post_init__(self) -> None:
        object.__setattr__(self, "losses", MappingProxyType(dict(self.losses)))

    @property
    def fraction(self) -> float:
        return 1.0 if self.total_steps <= 0 else min(1.0, self.step / self.total_steps)


@dataclass
class ReconstructionResult:
    """What `reconstruct_views` produces: the world-space mesh, the final SDF
    grid (normalised frame), the frame, corrected cameras (world) when poses
    were refined, whether it was cancelled, and timings in seconds."""

    mesh: Mesh
    sdf: np.ndarray
    spec: GridSpec
    frame: Frame
    cameras: list[Camera] | None = None
    cancelled: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    last_losses: dict[str, float] = field(default_factory=dict)


ProgressFn = Callable[[ReconstructionProgress], None]
CancelFn = Callable[[], bool]


def reconstruct(
    capture,
    config: ReconstructionConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Mesh:
    """A world-space mesh (with UVs unless `config.mesh.uv_resolution` is 0)
    of the object in `capture` (models.capture.Capture), at the capture's
    loaded resolution. Uses masks when every view has one, else treats the
    capture as mask-free. Raises RelitError when nothing can be reconstructed."""
    return reconstruct_capture(capture, config, progress, cancel).mesh


def reconstruct_capture(
    capture,
    config: ReconstructionConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ReconstructionResult:
    """`reconstruct` returning the whole ReconstructionResult."""
    config = config or ReconstructionConfig()
    started = time.perf_counter()
    views = capture.views if config.split in ("", "all") else capture.split(config.split)
    if not views:
        views = capture.views
    if config.max_views and len(views) > config.max_views:
        keep = np.linspace(0, len(views) - 1, config.max_views).round().astype(int)
        views = tuple(views[i] for i in keep)
    if progress is not None:
        progress(_snapshot("loading", 0, config, 0, {}, started, message=f"decoding {len(views)} views"))
    images, masks, coverage = [], [], []
    for v in views:
        image, mask = v.load()
        images.append(image)
        masks.append(mask)
        coverage.append(v.load_coverage())  # undistorted photos: pixels that saw the photo
        if cancel is not None and cancel():
            raise RelitError(capture.root, "reconstruction cancelled while loading images")
    use_masks = config.use_masks and all(m is not None for m in masks)
    centre, radius = capture.bounding_sphere()
    if not use_masks:
        from models.reconstruction.foreground import object_sphere

        centre, radius = object_sphere(
            [v.camera for v in views], (np.asarray(centre), float(radius)), config.foreground, capture.aabb_scale
        )
    return reconstruct_views(
        [v.camera for v in views], images, masks if use_masks else None, (np.asarray(centre), float(radius)),
        config, progress, cancel, aabb_scale=capture.aabb_scale, up=np.asarray(capture.up, np.float64),
        started=started, valid=coverage,
    )


def reconstruct_views(
    cameras: list[Camera],
    images: list[np.ndarray],
    masks: list[np.ndarray] | None,
    sphere: tuple[np.ndarray, float],
    config: ReconstructionConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    aabb_scale: float | None = None,
    up: np.ndarray | None = None,
    started: float | None = None,
    valid: list[np.ndarray | None] | None = None,
) -> ReconstructionResult:
    """Reconstruct from in-memory views: world pinhole `cameras`, linear
    `images` (H, W, 3), `masks` (H, W) in [0, 1] or None (mask-free), and the
    object's bounding `sphere` (centre, radius) in world units. `valid`
    (H, W) bool per view (or None) marks the pixels to train on."""
    config = config or ReconstructionConfig()
    from models.reconstruction.density import fit_foreground
    from models.reconstruction.foreground import estimate_foreground
    from models.reconstruction.poses import PoseRefinement
    from models.reconstruction.refine import Refiner
    from models.reconstruction.sdf_grid import occupancy_sdf
    from models.reconstruction.visual_hull import hull_sdf
    from models.reconstruction.volume_render import Background

    started = time.perf_counter() if started is None else started
    device = torch.device(config.device)
    frame = Frame(np.asarray(sphere[0], np.float64), float(sphere[1]))
    cams = [frame.camera(c) for c in cameras]
    timings: dict[str, float] = {}
    stages = config.stages
    first = stages[0].resolution if stages else config.hull.resolution
    spec0 = GridSpec(first, config.grid_margin)
    background = None
    plane = None  # a wall or table behind the object (mask-free captures)
    t0 = time.perf_counter()
    rays = RaySet.build(cams, images, masks, device, keep_missing=masks is None, valid=valid)
    timings["rays_s"] = time.perf_counter() - t0
    total = config.total_steps
    step, last, cancelled = 0, {}, False
    t0 = time.perf_counter()
    if masks is not None:
        if progress is not None:
            progress(_snapshot("visual hull", 0, config, 0, {}, started, total=total))
        hull_spec = GridSpec(config.hull.resolution, config.grid_margin)
        sdf = hull_sdf(cams, masks, hull_spec, config.hull, device)
        if not (sdf < 0).any():
            raise RelitError(None, "the visual hull is empty: masks and camera poses disagree")
        sdf = resample(sdf[None], first)[0]
    else:
        fc = config.foreground
        fg = estimate_foreground(frame.centre, frame.radius, aabb_scale, cameras, fc)
        up_t = torch.as_tensor(np.array([0.0, 1.0, 0.0]) if up is None else up, dtype=torch.float32)
        background = Background(fc.shells, *fc.shell_resolution, fg.far_radius, up_t, device, fc.inner_shell)
        sdf = sphere_sdf(spec0, fg.init_radius, device)
        if fc.density_steps > 0:
            total += fc.density_steps
            spec_d = GridSpec(fc.density_resolution, config.grid_margin)
            found = fit_foreground(
                rays, spec_d, background, fc, 2 * config.render.rays_per_batch,
                torch.Generator().manual_seed(config.seed),
                on_step=lambda k, losses: _density_step(k, losses, config, total, started, progress, cancel),
                cameras=cams,
            )
            step = fc.density_steps
            plane = found.plane
            if plane is not None:
                timings["plane_inliers"] = plane.inliers
            cancelled = found.cancelled or (cancel is not None and cancel())
            if found.occupied.any():
                voxel = 2 * config.grid_margin / (fc.density_resolution - 1)
                sdf = resample(torch.as_tensor(occupancy_sdf(found.occupied, voxel), device=device)[None], first)[0]
    timings["init_s"] = time.perf_counter() - t0
    poses = PoseRefinement(len(cams), device) if config.poses.enabled else None
    refiner = Refiner(rays, sdf, spec0, config, background, poses)

    t_refine = time.perf_counter()
    first_step = step
    budget = config.time_budget_s if config.time_budget_s > 0 else math.inf
    planned = 0
    for si, stage in enumerate(stages):
        if cancelled:
            break
        refiner.start_stage(stage)
        planned += stage.steps
        # Each stage may use the budget's share of the steps planned so far.
        deadline = t_refine + budget * planned / max(config.total_steps, 1)
        name = f"refine {stage.resolution}^3"
        for k in range(stage.steps):
            if cancel is not None and cancel():
                cancelled = True
                break
            if time.perf_counter() > deadline:
                break
            last = refiner.step(k / max(stage.steps, 1), (step - first_step) / max(config.total_steps, 1))
            step += 1
            if progress is not None and (step % config.progress_every == 0 or k == stage.steps - 1):
                elapsed = time.perf_counter() - t_refine
                eta = min(elapsed / (step - first_step) * (total - step), max(t_refine + budget - time.perf_counter(), 0.0))
                progress(_snapshot(name, si + 1, config, step, last, started, eta,
                                   float(refiner.sharpness.detach()), total=total))
        if cancelled:
            break
    timings["refine_s"] = time.perf_counter() - t_refine
    timings["steps"] = step - first_step

    if progress is not None:
        progress(_snapshot("mesh", len(stages), config, step, last, started, message="marching cubes and cleanup",
                           total=total))
    t0 = time.perf_counter()
    sdf_final = refiner.sdf.detach()
    spec = refiner.spec
    if plane is not None:  # nothing behind the wall: intersect with its front half-space
        nodes = spec.node_positions(sdf_final.device).reshape(-1, 3).double().cpu().numpy()
        behind = -plane.height(nodes).reshape(sdf_final.shape)
        sdf_final = torch.maximum(sdf_final, torch.as_tensor(behind, dtype=sdf_final.dtype, device=sdf_final.device))
    mesh = extract_mesh(sdf_final, spec, frame, config, uv=not cancelled)
    timings["mesh_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started
    world_cams = [frame.to_world_camera(c) for c in poses.corrected(cams)] if poses is not None else None
    if progress is not None:
        state = "cancelled" if cancelled else "done"
        progress(_snapshot(state, len(stages), config, step, last, started, 0.0,
                           message=f"{len(mesh.faces)} faces in {timings['total_s']:.1f} s", total=total))
    return ReconstructionResult(mesh, sdf_final.cpu().numpy(), spec, frame, world_cams, cancelled, timings, last)


def extract_mesh(sdf: torch.Tensor, spec: GridSpec, frame: Frame, config: ReconstructionConfig, uv: bool = True) -> Mesh:
    """Marching cubes of `sdf` (R, R, R) + cleanup (+ UV atlas) -> world Mesh."""
    from models.reconstruction.cleanup import clean, laplacian_smooth
    from models.reconstruction.marching import marching_cubes

    mc = config.mesh
    if mc.resolution and mc.resolution != spec.resolution:
        sdf = resample(sdf[None], mc.resolution)[0]
        spec = GridSpec(mc.resolution, spec.half_size)
    v, f = marching_cubes(sdf.cpu().numpy(), spec.half_size)
    if len(f) == 0:
        raise RelitError(None, "reconstruction produced no surface (the grid is empty or full)")
    v, f = clean(v, f, mc.target_faces, mc.keep_largest, mc.fill_holes)
    v = laplacian_smooth(v, f, mc.smoothing_passes)
    mesh = Mesh.from_arrays(frame.to_world(v), f)
    if uv and mc.uv_resolution > 0:
        from models.uv_atlas import ensure_uv

        mesh = ensure_uv(mesh, resolution=mc.uv_resolution)
    return mesh


def _density_step(
    k: int,
    losses: dict[str, float],
    config: ReconstructionConfig,
    total: int,
    started: float,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> bool:
    """Progress and cancellation during the mask-free occupancy fit."""
    if progress is not None and (k + 1) % config.progress_every == 0:
        elapsed = time.perf_counter() - started
        progress(_snapshot("foreground", 0, config, k + 1, losses, started, elapsed / (k + 1) * (total - k - 1), total=total))
    return cancel is not None and cancel()


def _snapshot(
    stage: str,
    stage_index: int,
    config: ReconstructionConfig,
    step: int,
    losses: dict[str, float],
    started: float,
    eta: float = math.nan,
    sharpness: float = math.nan,
    message: str = "",
    total: int | None = None,
) -> ReconstructionProgress:
    return ReconstructionProgress(
        stage=stage,
        stage_index=stage_index,
        stage_count=len(config.stages),
        step=step,
        total_steps=config.total_steps if total is None else total,
        loss=float(sum(losses.values())) if losses else math.nan,
        losses=losses,
        elapsed_s=time.perf_counter() - started,
        eta_s=eta,
        message=message,
        sharpness=sharpness,
    )
