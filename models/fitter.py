"""The material + light fit (Qt-free): from calibrated photos of an object
with a known mesh, recover UV maps of albedo, roughness and metallic and an
environment map, by differentiable shading of random pixel batches.

Setup (once): decode the views, unwrap UVs if needed, bake vertex AO,
rasterize every view, keep only the covered, fully masked, non-silhouette
pixels as one compact table of surface samples on the device, and initialise
the albedo by back-projecting the photos into the texture.

Each step: draw a random batch of those samples, sample the sigmoid-
parametrised maps at their UVs, prefilter the current (small, log-space)
environment differentiably, shade (split sum, baked AO, the specular
visibility table), map prediction and photo into the loss space, add the
priors, take an Adam step with the scheduled learning rate. A few times per
start the steps' single environment lookup is re-calibrated per pixel
against the sampled lobe of still frames, and the light the object sends
itself (one bounce) worked out again (`_refresh_lobe_ratio`).

Starts: the steps and time are shared between starting metallic values
(FitConfig.metallic_trials), each fitted from fresh parameters; at the end
the one with the lowest loss (photometric and priors) on a fixed set of
pixels is kept.

Control: `cancel()` / `pause()` / `resume()` (or the threading.Events given
to the constructor) are checked between steps; `current_scene()` is valid at
any time, from any thread; `save_checkpoint` / `load_checkpoint` make a fit
resumable; progress arrives as immutable FitProgress snapshots.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from models.camera import Camera
from models.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from models.cores import all_cores
from models.errors import RelitError
from models.fit_config import FitConfig
from models.fit_progress import FitPreview, FitProgress, FitState
from models.lighting import Environment, Lighting
from models.losses import mse_to_psnr, photometric_losses
from models.material import MaterialMaps
from models.mesh import Mesh
from models.priors import (
    env_saturation,
    env_total_variation,
    equirect_solid_angles,
    exposure_anchor,
    metallic_sparsity,
    pair_smoothness,
    white_balance,
)
from models.scene import Scene
from renderer.shade import EnvironmentTextures, MaterialSample, SurfaceSample, shade
from renderer.texture import sample_texture
from renderer.tonemap import encode_srgb, tone_for_loss
from renderer.visibility import SpecularVisibility, visibility_tensors

ProgressCallback = Callable[[FitProgress], None]
MAPS = ("albedo", "roughness", "metallic")
"""The fitted material maps (sigmoid of the summed level logits)."""
LOG_RADIANCE_LIMIT = 30.0
"""Fitted log radiance is clamped to +-this when used (exp stays finite)."""
ENV_LEVELS = 6
"""Prefiltered roughness levels of the fitted environment (as the renderers use)."""
HDR_SUFFIXES = (".exr", ".hdr", ".pic", ".rgbe")
VALIDATION_SAMPLES = 1 << 16
"""Fixed pixels on which the metallic starts are compared (FitConfig.metallic_trials)."""
# Columns of the packed sample table.
_POS, _NRM, _VIEW, _UV, _AO, _RGB = slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 11), slice(11, 12), slice(12, 15)
_TRI, _BARY = slice(15, 16), slice(16, 19)  # triangle index (exact in float32 below 2^24), barycentric weights
LOBE_REFRESH_PIXELS = 1 << 20
"""Training pixels whose lobe ratio one refresh recomputes, the next ones
in turn (FitConfig.lobe_refreshes): larger captures are covered over
several refreshes, so a refresh costs at most a few seconds on a CPU."""
LOBE_REFRESH_SHARE = 16
"""A refresh shades at most 1/LOBE_REFRESH_SHARE as many pixels as the steps
since the previous one (a metallic pixel's 128 lookups cost ~12 step-pixels,
a dielectric's 32 ~3.5; refreshes took ~25% of WaterBottle's 300 s fit, and
short fits barely any)."""
LOBE_RATIO_METALLIC = 0.25
"""Pixels at least this metallic get FitConfig.lobe_ratio_samples lookups at
a refresh, the rest still frames' RENDER_SAMPLES: a dielectric reflects a
few per cent of its light specularly, so that term's error barely shows in
the pixel, while the extra lookups cost steps (Avocado, all dielectric, 300 s:
128 lookups everywhere 29.83 dB relit / 27.30 albedo, 32 lookups 30.01 / 27.85)."""
BOUNCE_RAYS_PER_PIXEL = 16
"""A refresh lights the bounce rays (renderer/interreflection.py) only when
there are at most this many per pixel it refreshes (lighting a ray costs
~1/20 of a pixel's sampled lobe), or when it refreshes every pixel; smaller
refreshes, early in a fit or in short ones, keep the bounce light they have."""
LOBE_RATIO_RANGE = (0.25, 4.0)
"""Bounds of a lobe ratio (a dark single lookup must not blow up the gradient)."""
OPEN_LEVELS = 6
"""Roughness levels of the fitter's specular-visibility table (0, 0.2, ... 1)."""


@dataclass(frozen=True)
class FitView:
    """One training photo: its pinhole camera, linear pixels (H,W,3) float32,
    an optional mask (H,W) in [0,1] (1 = object) and whether it was HDR."""

    camera: Camera
    image: np.ndarray
    mask: np.ndarray | None = None
    name: str = ""
    hdr: bool = False


def views_from_capture(capture, config: FitConfig) -> list[FitView]:
    """Decode the capture's training views (all views when it has no train
    split), at most `config.max_views`, evenly spread."""
    views = capture.split("train") or capture.views
    if config.max_views and len(views) > config.max_views:
        pick = np.linspace(0, len(views) - 1, config.max_views).round().astype(int)
        views = tuple(views[i] for i in pick)
    out = []
    for v in views:
        image, mask = v.load()
        out.append(FitView(v.camera, image, mask, v.name, v.image_path.suffix.lower() in HDR_SUFFIXES))
    return out


def mesh_from_capture(capture) -> Mesh:
    """The capture's mesh (with its UVs, in Relit's world), or a RelitError
    when the capture has none."""
    mesh = capture.load_mesh()
    if mesh is None:
        raise RelitError(capture.root, "no mesh in capture; reconstruction is not available yet")
    return mesh


class Fitter:
    """Fits material maps and an environment to photos of a known mesh.

    Typical use:
        fitter = Fitter.from_capture(load_capture(path), FitConfig(iterations=2000))
        scene = fitter.run()            # blocks; call cancel() from elsewhere to stop
    """

    def __init__(
        self,
        views: Sequence[FitView],
        mesh: Mesh,
        config: FitConfig | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        cancel_event: threading.Event | None = None,
        pause_event: threading.Event | None = None,
    ):
        if not views:
            raise RelitError(None, "no views to fit")
        self.config = (config or FitConfig()).validate()
        self.views = list(views)
        self.source_mesh = mesh
        self.on_progress = on_progress
        self.cancel_event = cancel_event or threading.Event()
        self.pause_event = pause_event or threading.Event()
        self.device = torch.device(self.config.resolved_device())
        self.step_count = 0
        self.elapsed_s = 0.0
        self.setup_s = 0.0
        self.state: FitState = "setup"
        self.last_losses: dict[str, float] = {}
        self.last_total = math.nan
        self.last_psnr = math.nan
        self.skipped_steps = 0
        # Metallic starts (FitConfig.metallic_trials): which one is running,
        # where its schedule began (moved on when the kept one goes on), the
        # validation loss of each one after its trial, the best so far.
        self.start_index = 0
        self.start_step = 0
        self.start_s = 0.0
        self.start_losses: list[float] = []
        self._best_start: tuple[int, dict[str, Tensor]] | None = None
        self._best_state: _StartState | None = None  # the rest of the best start's state, to go on with it
        # Per training pixel, worked out at each lobe refresh (FitConfig.lobe_refreshes),
        # float16 (P,3) each: "lobe_ratio" sampled-lobe / single-lookup specular;
        # with one bounce also "bounce_radiance" (over the lobe) and "bounce_irradiance".
        self.refreshed: dict[str, Tensor] = {}
        self._lobe_cursor = 0
        self._lobe_refreshed = 0
        self._lobe_step = 0
        self._best_refreshed: dict[str, Tensor] = {}  # the best start's, kept with its parameters
        self._lock = threading.RLock()
        self._ready = False

    @staticmethod
    def from_capture(capture, config: FitConfig | None = None, **kwargs) -> "Fitter":
        """A Fitter on a loaded Capture (models.capture), using its mesh."""
        config = config or FitConfig()
        mesh = mesh_from_capture(capture)
        return Fitter(views_from_capture(capture, config), mesh, config, **kwargs)

    # ------------------------------------------------------------------ control

    def cancel(self) -> None:
        """Stop after the current step; the state so far is kept."""
        self.cancel_event.set()

    def pause(self) -> None:
        """Hold between steps until resume() (paused time is not counted)."""
        self.pause_event.set()

    def resume(self) -> None:
        self.pause_event.clear()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    @property
    def finished(self) -> bool:
        return self.state == "finished"

    @property
    def total_steps(self) -> int:
        """Planned steps: `iterations`, or fewer when the time budget will end
        the fit first (estimated from the speed so far)."""
        total = self.config.iterations
        budget = self.config.time_budget_s
        if budget and self.step_count > 0 and self.elapsed_s > 0:
            total = min(total, max(self.step_count, int(self.step_count * budget / self.elapsed_s)))
        return total

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        """Decode-free preparation (views are already decoded): UVs, AO,
        G-buffers, the sample table, parameters and optimiser. Idempotent.
        A cancel() during its ray-cast bakes (AO and specular visibility,
        the long part on a large mesh) raises renderer.bake_cache.BakeCancelled;
        nothing is set up then, and setup() can run again once
        `cancel_event` is cleared."""
        if self._ready:
            return
        start = time.perf_counter()
        cfg = self.config
        threads = cfg.threads or (1 if self.device.type == "cpu" else None)
        if threads:
            torch.set_num_threads(threads)
        from models.uv_atlas import ensure_uv, seam_edges, uv_coverage_mask

        mesh = ensure_uv(self.source_mesh, resolution=max(cfg.texture_resolution, 256))
        if mesh.ao is None:
            from models.mesh_subdivide import subdivide_for_ao
            from renderer.ao import cached_vertex_ao

            mesh = subdivide_for_ao(mesh, cfg.ao_max_edge, cfg.ao_max_faces)
            mesh = mesh.with_ao(cached_vertex_ao(mesh, samples=cfg.ao_rays, seed=cfg.seed, cancel=self.cancel_event))
        self.mesh = mesh
        self.uv_mask = uv_coverage_mask(mesh, cfg.texture_resolution)
        self.seams = torch.as_tensor(seam_edges(mesh), device=self.device)
        self.hdr = self._loss_is_hdr()
        self._build_samples()
        self.specular_open = self._specular_open_table() if cfg.specular_visibility else None
        picker = torch.Generator(device=self.device)
        picker.manual_seed(cfg.seed + 1)
        count = self.samples.shape[0]
        self.validation_idx = torch.randperm(count, generator=picker, device=self.device)[:VALIDATION_SAMPLES]
        self._init_parameters()
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        self.solid_angle = equirect_solid_angles(cfg.env_height, 2 * cfg.env_height, self.device)
        self.setup_s = time.perf_counter() - start
        self._ready = True

    def _specular_open_table(self) -> Tensor | None:
        """(P, OPEN_LEVELS) float16: each sample's share of the specular lobe
        that the mesh leaves open to the environment, at roughness k / (L-1).

        Geometry is fixed during the fit, so this is worked out once (a step
        then interpolates it at the fitted roughness) rather than reading
        the visibility maps every step, which made steps 2.4x slower. None
        for shapes open almost everywhere (AO above 0.9 at every vertex: a
        convex or nearly convex mesh, whose AO dips only where rays graze its
        own facets) and without Embree (the AO guess is used).
        """
        from renderer.specular_lobe import lobe_visibility

        ao = self.mesh.ao
        if ao is not None and float(np.min(ao[np.unique(self.mesh.faces)], initial=1.0)) > 0.9:
            return None  # (vertices of no face read AO 0: they say nothing)
        tensors = visibility_tensors(self.mesh, self.device, self.cancel_event)
        if tensors is None:
            return None
        maps, faces = tensors
        table = torch.empty((self.samples.shape[0], OPEN_LEVELS), dtype=torch.float16, device=self.device)
        with torch.no_grad(), all_cores():
            for start in range(0, self.samples.shape[0], 1 << 15):
                rows = self.samples[start : start + (1 << 15)]
                vis = SpecularVisibility.at(maps, faces, rows[:, _TRI].reshape(-1).long(), rows[:, _BARY])
                for k in range(OPEN_LEVELS):
                    rough = torch.full_like(rows[:, :1], k / (OPEN_LEVELS - 1))
                    table[start : start + rows.shape[0], k] = lobe_visibility(rows[:, _NRM], rows[:, _VIEW], rough, vis)[:, 0].half()
        return table

    def _specular_open(self, idx: Tensor, roughness: Tensor) -> Tensor | None:
        """(N,1) open share of the lobe of samples idx at roughness (N,1),
        linear in roughness between the table's levels."""
        if self.specular_open is None:
            return None
        x = roughness.clamp(0.0, 1.0) * (OPEN_LEVELS - 1)
        low = x.detach().floor().clamp(max=OPEN_LEVELS - 2).long()
        frac = x - low
        rows = self.specular_open.index_select(0, idx).float()
        return rows.gather(1, low) * (1.0 - frac) + rows.gather(1, low + 1) * frac

    def _loss_is_hdr(self) -> bool:
        space = self.config.loss_space
        if space == "auto":
            return any(v.hdr for v in self.views)
        return space == "log"

    def _build_samples(self) -> None:
        """Rasterize every view once; keep fit-worthy pixels as one packed
        (P, 19) table: position, normal, view dir, uv, ao, target rgb,
        triangle, barycentric weights."""
        from renderer.raster import rasterize

        cfg = self.config
        dev = self.device
        rows, view_ids, index_maps, patch_origins = [], [], [], []
        offset = 0
        for k, view in enumerate(self.views):
            cam = view.camera
            if view.image.shape[:2] != (cam.height, cam.width):
                raise RelitError(None, f"view {view.name or k}: image {view.image.shape[:2]} does not match its camera")
            gb = rasterize(self.mesh, cam, dev)
            valid = gb.coverage.clone()
            if view.mask is not None:
                valid &= torch.as_tensor(view.mask, device=dev) >= cfg.mask_threshold
            if cfg.erode_pixels > 0:
                r = cfg.erode_pixels
                outside = (~gb.coverage).float()[None, None]
                near_edge = F.max_pool2d(F.pad(outside, (r, r, r, r), value=1.0), 2 * r + 1, stride=1)[0, 0] > 0
                valid &= ~near_edge
            idx = torch.nonzero(valid.reshape(-1)).reshape(-1)
            s = gb.gather(idx)
            target = torch.as_tensor(np.ascontiguousarray(view.image[..., :3]), dtype=torch.float32, device=dev)
            target = target.reshape(-1, 3)[idx]
            triangle = s.triangle.to(torch.float32)[:, None]
            rows.append(torch.cat([s.position, s.normal, s.view_dir, s.uv, s.ao, target, triangle, s.barycentric], 1))
            view_ids.append(torch.full((idx.numel(),), k, dtype=torch.int32, device=dev))
            if cfg.loss.ssim > 0:
                index_map = torch.full((cam.height * cam.width,), -1, dtype=torch.int64, device=dev)
                index_map[idx] = torch.arange(offset, offset + idx.numel(), device=dev)
                index_maps.append(index_map.reshape(cam.height, cam.width))
                p = cfg.loss.ssim_patch
                if cam.height >= p and cam.width >= p:
                    full = F.avg_pool2d(valid.float()[None, None], p, stride=1)[0, 0] > 0.999  # top-left origins
                    ys, xs = torch.nonzero(full, as_tuple=True)
                    patch_origins.append(torch.stack([torch.full_like(ys, k), ys, xs], 1))
            offset += idx.numel()
        self.samples = torch.cat(rows).contiguous()  # (P,19)
        self.sample_view = torch.cat(view_ids)  # (P,)
        if self.samples.shape[0] < 16:
            raise RelitError(None, "the mesh covers (almost) no masked pixel of any view: check poses, masks and mesh")
        self.index_maps = index_maps
        self.patch_origins = torch.cat(patch_origins) if patch_origins else None

    def _init_parameters(self) -> None:
        """Fresh parameters and optimiser for the current metallic start."""
        cfg = self.config
        self.refreshed = {}
        self._lobe_refreshed = 0
        self._lobe_step = self.step_count
        dev = self.device
        data = self.samples
        ao = data[:, _AO].clamp_min(0.05)
        shading = data[:, _RGB] / ao
        # Light level: the brightest tenth of the object then reads as albedo ~0.6.
        level = float(torch.quantile(shading.mean(1)[:: max(1, data.shape[0] // 100000)], 0.9)) / 0.6
        level = max(level, 1e-4)
        albedo = ((shading / level - 0.04) / 0.95).clamp(0.02, 0.98)
        r = cfg.texture_resolution
        if cfg.albedo_init == "mean":
            albedo_init = albedo.median(0).values.expand(r, r, 3).contiguous()
        else:
            albedo_init = _splat_to_texture(data[:, _UV], albedo, r)  # (r,r,3)
        self.env_level = level
        self.params: dict[str, Tensor] = {
            "albedo": _logit(albedo_init).permute(2, 0, 1).contiguous(),  # (3,R,R)
            "roughness": torch.full((1, r, r), float(_logit(torch.tensor(cfg.initial_roughness))), device=dev),
            "metallic": torch.full((1, r, r), float(_logit(torch.tensor(cfg.metallic_starts[self.start_index]))), device=dev),
            "environment": torch.full((cfg.env_height, 2 * cfg.env_height, 3), math.log(level), device=dev),
        }
        if cfg.per_image_exposure:
            self.params["exposure"] = torch.zeros(len(self.views), device=dev)
        for p in self.params.values():
            p.requires_grad_(True)
        lrs = cfg.lr
        self.base_lr = {
            "albedo": lrs.albedo,
            "roughness": lrs.roughness,
            "metallic": lrs.metallic,
            "environment": lrs.environment,
            "exposure": lrs.exposure,
        }
        self.optimizer = torch.optim.Adam(
            [{"params": [p], "lr": self.base_lr[name], "name": name} for name, p in self.params.items()],
            betas=(0.9, 0.99),
            eps=1e-8,
        )

    def start_from(self, maps: MaterialMaps, radiance: np.ndarray | None = None) -> None:
        """Begin the current start from these maps (resampled to the fit's
        texture size) and, if given, this environment radiance (H,W,3, any
        size), instead of the usual guesses; then refresh every training
        pixel's sampled-lobe terms under them. For diagnostics: a fit begun
        at the truth shows how far the photos pull the maps away from it
        (benchmarks/drift.py)."""
        from renderer.envmap import resample_equirect

        self.setup()
        r = self.config.texture_resolution

        def logits(x: np.ndarray) -> Tensor:
            t = torch.as_tensor(np.asarray(x, np.float32), device=self.device)
            t = (t[..., None] if t.dim() == 2 else t).permute(2, 0, 1)[None]  # (1,C,H,W)
            return _logit(F.interpolate(t, size=(r, r), mode="area" if t.shape[-1] >= r else "bilinear")[0])

        with self._lock, torch.no_grad():
            self.params["albedo"].copy_(logits(maps.albedo[..., :3]))
            self.params["roughness"].copy_(logits(maps.roughness))
            self.params["metallic"].copy_(logits(maps.metallic))
            if radiance is not None:
                env = resample_equirect(torch.as_tensor(np.asarray(radiance, np.float32)), 2 * self.config.env_height)
                self.params["environment"].copy_(env.to(self.device).clamp_min(1e-6).log().clamp(-LOG_RADIANCE_LIMIT, LOG_RADIANCE_LIMIT))
        self._refresh_lobe_ratio(self.samples.shape[0])

    def texel_residuals(self) -> np.ndarray:
        """(R,R) float32: per texel of the maps, the current rendering's
        linear brightness over the photos', summed over every unsaturated
        training pixel that lands there (NaN where none does). Where it is
        far from 1 the parameters do not explain the photos: from the truth
        (start_from), where Relit's shading differs from the camera's."""
        self.setup()
        r = self.config.texture_resolution
        sums = torch.zeros((r * r, 2), device=self.device)  # rendered, photographed
        with self._lock, torch.no_grad():
            for idx in torch.arange(self.samples.shape[0], device=self.device).split(1 << 16):
                batch = self.samples[idx]
                rgb, _ = self._render(batch, idx)
                keep = (batch[:, _RGB] < 0.999).all(1)
                pair = torch.stack([rgb[keep].mean(1), batch[keep][:, _RGB].mean(1)], 1)
                sums += _texel_sums(batch[keep][:, _UV], pair, r)
        rendered, photo = sums.unbind(1)
        ratio = torch.where(photo > 0, rendered / photo.clamp_min(1e-12), torch.full_like(photo, float("nan")))
        return ratio.reshape(r, r).cpu().numpy().astype(np.float32)

    # ------------------------------------------------------------------ the loop

    def run(self) -> Scene:
        """Fit until the step count or time budget is reached, or cancel();
        returns the current Scene either way. Can be called again after a
        cancel (clear `cancel_event` first) or after load_checkpoint."""
        self.setup()
        cfg = self.config
        self.state = "running"
        every = cfg.progress_every
        while not self._done():
            if self.cancel_event.is_set():
                break
            if self.pause_event.is_set():
                self._wait_while_paused()
                continue
            t0 = time.perf_counter()
            self.step()
            self.elapsed_s += time.perf_counter() - t0
            message = self._next_start() if self._trial_over() and not self._done() else ""
            if message or self.step_count % every == 0:
                self._emit(message)
        self.state = "cancelled" if self.cancel_event.is_set() and not self._done() else "finished"
        if self.state == "finished":
            self._keep_best_start()
        self._emit(message=self.state)
        return self.current_scene()

    def _done(self) -> bool:
        cfg = self.config
        if self.step_count >= cfg.iterations:
            return True
        return bool(cfg.time_budget_s) and self.elapsed_s >= cfg.time_budget_s

    def _wait_while_paused(self) -> None:
        self.state = "paused"
        self._emit(message="paused")
        while self.pause_event.is_set() and not self.cancel_event.is_set():
            self.cancel_event.wait(0.02)
        self.state = "running"

    def progress_fraction(self) -> float:
        """How far the current metallic start is through its schedule, in
        [0, 1], by steps or time budget. A start's schedule spans what is
        left of the fit but the trials of the starts after it
        (FitConfig.start_trial): the share it gets if it is kept. With one
        start, how far the fit is."""
        cfg = self.config
        later = max(len(cfg.metallic_starts) - len(self.start_losses) - 1, 0) * cfg.trial_share
        t = (self.step_count - self.start_step) / max(cfg.iterations * (1.0 - later) - self.start_step, 1.0)
        if cfg.time_budget_s:
            seconds = cfg.time_budget_s * (1.0 - later) - self.start_s
            t = max(t, (self.elapsed_s - self.start_s) / max(seconds, 1e-9))
        return min(1.0, t)

    def _trial_over(self) -> bool:
        """True when the current start has had its trial and the starts
        have not been compared yet."""
        cfg = self.config
        if len(cfg.metallic_starts) < 2 or len(self.start_losses) >= len(cfg.metallic_starts):
            return False
        trial = cfg.trial_share
        if self.step_count - self.start_step >= trial * cfg.iterations - 1e-9:
            return True
        return bool(cfg.time_budget_s) and self.elapsed_s - self.start_s >= trial * cfg.time_budget_s

    def _next_start(self) -> str:
        """Score the start whose trial ended and begin the next one from
        fresh parameters; after the last, go on with the best one. Returns
        what to tell the user."""
        self._score_start()
        starts = self.config.metallic_starts
        if self.start_index + 1 < len(starts):
            with self._lock:
                self.start_index += 1
                self.start_step, self.start_s = self.step_count, self.elapsed_s
                self._init_parameters()
            return f"starting again from metallic {starts[self.start_index]:g} ({self.start_index + 1} of {len(starts)})"
        self._restore_best_start()
        return f"going on with the start from metallic {starts[self.start_index]:g}, the best of {len(starts)}"

    def _score_start(self) -> None:
        loss = self.validation_loss(priors=True)
        self.start_losses.append(loss)
        margin = 1.0 - self.config.start_margin  # a later start must beat the best so far by this
        if self._best_start is None or loss < margin * self.start_losses[self._best_start[0]]:
            with self._lock:
                self._best_start = (self.start_index, {k: v.detach().clone() for k, v in self.params.items()})
                self._best_refreshed = {k: v.clone() for k, v in self.refreshed.items()}
                self._best_state = _StartState(
                    optimizer=copy.deepcopy(self.optimizer.state_dict()),
                    steps=self.step_count - self.start_step,
                    seconds=self.elapsed_s - self.start_s,
                    lobe_refreshed=self._lobe_refreshed,
                    lobe_age=self.step_count - self._lobe_step,
                )

    def _restore_best_start(self) -> None:
        """Make the best start's parameters, optimiser state and place in
        its schedule current (it goes on from where its trial ended), and
        drop the copies."""
        best, params = self._best_start
        with self._lock, torch.no_grad():
            if best != self.start_index:
                for name, value in params.items():
                    self.params[name].copy_(value)
                self.refreshed = self._best_refreshed
                state = self._best_state
                if state is not None:
                    if state.optimizer is not None:
                        self.optimizer.load_state_dict(state.optimizer)
                    else:  # an older checkpoint without it: fresh moments
                        self.optimizer.state.clear()
                    self.start_step = self.step_count - state.steps
                    self.start_s = self.elapsed_s - state.seconds
                    self._lobe_refreshed = state.lobe_refreshed
                    self._lobe_step = self.step_count - state.lobe_age
                self.start_index = best
            self._best_start = (best, {})
            self._best_refreshed = {}
            self._best_state = None

    def _keep_best_start(self) -> None:
        """At the end of a fit whose last start's trial ran to the end (1 /
        starts each): score it and put the best one back."""
        if len(self.config.metallic_starts) < 2 or len(self.start_losses) != self.start_index:
            return
        self._score_start()
        self._restore_best_start()

    @property
    def kept_start(self) -> int | None:
        """Index into FitConfig.metallic_starts of the start the fit kept
        (None until the last start has been scored)."""
        if self._best_start is None or len(self.start_losses) < len(self.config.metallic_starts):
            return None
        return self._best_start[0]

    def validation_loss(self, priors: bool = False) -> float:
        """The photometric loss (no SSIM) of the current parameters on a fixed
        set of pixels: the same pixels every time, so starts compare. With
        `priors`, plus the weighted prior terms on those pixels, their pairs
        drawn alike each time: the objective the fit minimises, which is
        what the metallic starts are compared on (FitConfig.metallic_trials)."""
        self.setup()
        cfg = self.config
        total = 0.0
        looked_up: list[tuple[Tensor, Tensor, Tensor]] = []  # the maps at the pixels, for the priors
        with self._lock, torch.no_grad():
            for idx in self.validation_idx.split(4 * cfg.batch_size):
                batch = self.samples[idx]
                rgb, maps = self._render(batch, idx)
                if priors:
                    looked_up.append(maps)
                pred_t, target_t = self._to_loss_space(rgb, batch[:, _RGB])
                terms = photometric_losses(pred_t, target_t, cfg.loss)
                total += float(sum(terms.values(), torch.zeros((), device=self.device))) * idx.numel()
            total /= max(self.validation_idx.numel(), 1)
            if priors:
                uv = self.samples[self.validation_idx, _UV]
                pairs = torch.Generator(device=self.device)
                pairs.manual_seed(cfg.seed + 2)
                terms = self._priors(uv, *(torch.cat(m) for m in zip(*looked_up)), generator=pairs)
                if "exposure" in self.params:
                    terms["exposure"] = cfg.priors.exposure * exposure_anchor(self.params["exposure"])
                total += sum(float(v) for v in terms.values())
        return total

    def lr_scale(self) -> float:
        """Learning-rate multiplier at the current progress (warm-up, decay)."""
        s = self.config.schedule
        t = self.progress_fraction()
        if s.warmup > 0 and t < s.warmup:
            return max(t / s.warmup, 0.02)
        if s.kind == "constant":
            return 1.0
        u = (t - s.warmup) / max(1.0 - s.warmup, 1e-9)
        u = min(max(u, 0.0), 1.0)
        if s.kind == "exponential":
            return s.final_fraction**u
        return s.final_fraction + (1 - s.final_fraction) * 0.5 * (1 + math.cos(math.pi * u))

    def step(self) -> dict[str, float]:
        """One optimiser step; returns the weighted loss terms."""
        self.setup()
        cfg = self.config
        scale = self.lr_scale()
        frozen = self.progress_fraction() < cfg.light_first
        for group in self.optimizer.param_groups:
            name = group["name"]
            group["lr"] = 0.0 if frozen and name in MAPS else self.base_lr[name] * scale
        due = min(int(self.progress_fraction() * (cfg.lobe_refreshes + 1)), cfg.lobe_refreshes)
        if due > self._lobe_refreshed:  # evenly spread over each metallic start
            shaded = (self.step_count - self._lobe_step) * cfg.batch_size
            self._lobe_refreshed, self._lobe_step = due, self.step_count
            self._refresh_lobe_ratio(shaded // LOBE_REFRESH_SHARE)
        idx = torch.randint(self.samples.shape[0], (cfg.batch_size,), generator=self.generator, device=self.device)
        patch_idx = self._patch_indices()
        if patch_idx is not None:
            idx = torch.cat([idx, patch_idx])
        batch = self.samples.index_select(0, idx)  # ~3x faster than samples[idx] on a CPU
        n_pix = cfg.batch_size

        terms: dict[str, Tensor] = {}
        rgb, (albedo, roughness, metallic) = self._render(batch, idx)
        if "exposure" in self.params:
            terms["exposure"] = cfg.priors.exposure * exposure_anchor(self.params["exposure"])
        target = batch[:, _RGB]
        pred_t, target_t = self._to_loss_space(rgb, target)
        patches: tuple[Tensor, Tensor] | tuple[None, None] = (None, None)
        if patch_idx is not None:  # (B,3,P,P) patches in the loss space
            p = cfg.loss.ssim_patch

            def as_patches(x: Tensor) -> Tensor:
                x = x[n_pix:].reshape(-1, p, p, 3).permute(0, 3, 1, 2)
                return x if self.hdr else x.clamp(0, 1)

            patches = (as_patches(pred_t), as_patches(target_t))
        terms.update(photometric_losses(pred_t[:n_pix], target_t[:n_pix], cfg.loss, None, *patches))
        q = n_pix // 4  # the smoothness pairs use a quarter of the batch
        terms.update(self._priors(batch[:q, _UV], albedo[:q], roughness[:q], metallic[:q], metallic[:n_pix]))
        total = sum(terms.values(), torch.zeros((), device=self.device))
        with self._lock:
            self.optimizer.zero_grad(set_to_none=True)
            if torch.isfinite(total) and total.requires_grad:  # every weight 0: nothing to learn
                total.backward()
            if torch.isfinite(total) and self._gradients_finite():
                self.optimizer.step()
            else:  # a bad batch never poisons the parameters
                self.skipped_steps += 1
            self.step_count += 1
        with torch.no_grad():
            shown = encode_srgb(rgb[:n_pix].clamp(0, 1))
            shown_target = encode_srgb(target[:n_pix].clamp(0, 1))
            self.last_psnr = mse_to_psnr((shown - shown_target).square().mean())
        self.last_losses = {k: float(v.detach()) for k, v in terms.items()}
        self.last_total = float(total.detach())
        return self.last_losses

    def _render(self, batch: Tensor, idx: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        """Linear RGB (N,3) of sample-table rows `batch` (indices `idx`) under
        the current parameters, and the albedo, roughness, metallic used."""
        albedo, roughness, metallic = self._sample_maps(batch[:, _UV])
        env = self._environment_tables()
        env.lobe_samples = self.config.lobe_samples
        surface = SurfaceSample(batch[:, _POS], batch[:, _NRM], batch[:, _VIEW], batch[:, _AO])
        surface.specular_open = self._specular_open(idx, roughness)
        if self.refreshed:
            ratio = self.refreshed["lobe_ratio"].index_select(0, idx).float()
            surface.specular_open = ratio if surface.specular_open is None else surface.specular_open * ratio
            if "bounce_radiance" in self.refreshed:
                surface.bounce_radiance = self.refreshed["bounce_radiance"].index_select(0, idx).float()
                surface.bounce_irradiance = self.refreshed["bounce_irradiance"].index_select(0, idx).float()
        rgb = shade(surface, MaterialSample(albedo, roughness, metallic), env)["shaded"]
        if "exposure" in self.params:
            rgb = rgb * torch.exp2(self.params["exposure"][self.sample_view[idx].long()])[:, None]
        return rgb, (albedo, roughness, metallic)

    def _refresh_lobe_ratio(self, pixels: int = LOBE_REFRESH_PIXELS) -> None:
        """Work out, for `pixels` training pixels (the next ones in turn; at
        most LOBE_REFRESH_PIXELS, and step() asks for fewer after few steps,
        see LOBE_REFRESH_SHARE), how the sampled lobe (FitConfig.lobe_ratio_samples
        lookups on metallic pixels, still frames' 32 on the others, each
        dimmed by the visibility maps) differs from the step's
        single lookup under the current light and maps: (N,3) specular
        ratios that steps then multiply the single lookup by; and, with one
        bounce (FitConfig.interreflection), the light the object's own
        surfaces send these pixels over the lobe and over the hemisphere
        (the latter with the visibility maps' correction of AO under the
        current light), which steps add (all held fixed until the next refresh).
        Each pixel's lobe samples are shifted at random
        (renderer/specular_lobe.shifted_disk): the fixed set's error is
        shared by neighbouring pixels and views, so the maps would take it
        as albedo; shifted, it is noise the texel's many pixels average out.

        Why: the single lookup renders rough metal ~14% too dark against a
        path tracer and glossy self-reflections wrong; fitted against it,
        the maps absorb that error, and relit with the sampled lobe they
        are off by it. Without the bounce, they absorb its light."""
        from renderer.interreflection import bounce_light
        from renderer.shade import shade_environment
        from renderer.specular_lobe import RENDER_SAMPLES, lobe_bounce
        from renderer.visibility import vertex_bounce_rays

        count = self.samples.shape[0]
        todo = min(count, LOBE_REFRESH_PIXELS, pixels)
        rows = (torch.arange(todo, device=self.device) + self._lobe_cursor) % count
        self._lobe_cursor = (self._lobe_cursor + todo) % count
        vis = visibility_tensors(self.mesh, self.device) if self.specular_open is not None else None
        rays = vertex_bounce_rays(self.mesh) if vis is not None and self.config.interreflection else None
        with torch.no_grad(), all_cores():
            env = self._environment_tables()
            bounce = None
            if rays is not None and len(rays) and (len(rays) <= BOUNCE_RAYS_PER_PIXEL * todo or todo == count):
                bounce = bounce_light(rays, self.mesh, vis[0], lambda uv: MaterialSample(*self._sample_maps(uv)), env)
            names = ("lobe_ratio",) + (("bounce_radiance", "bounce_irradiance") if bounce is not None else ())
            for name in names:
                if name not in self.refreshed:
                    fill = torch.ones if name == "lobe_ratio" else torch.zeros
                    self.refreshed[name] = fill((count, 3), dtype=torch.float16, device=self.device)
            for idx in rows.split(1 << 16):
                if self.cancel_event.is_set():  # the rest keep their last values
                    break
                batch = self.samples[idx]
                material = MaterialSample(*self._sample_maps(batch[:, _UV]))
                geometry = (batch[:, _POS], batch[:, _NRM], batch[:, _VIEW], batch[:, _AO])
                env.lobe_samples = self.config.lobe_samples
                single = shade_environment(
                    SurfaceSample(*geometry, specular_open=self._specular_open(idx, material.roughness)), material, env
                )[1]
                visibility = None
                if vis is not None:
                    visibility = SpecularVisibility.at(*vis, batch[:, _TRI].reshape(-1).long(), batch[:, _BARY])
                lobe = torch.empty_like(single)
                shift = torch.rand(idx.shape[0], 2, generator=self.generator, device=self.device)
                metal = material.metallic[:, 0] >= LOBE_RATIO_METALLIC
                for part, lookups in ((metal, self.config.lobe_ratio_samples), (~metal, RENDER_SAMPLES)):
                    rows_in = part.nonzero()[:, 0]
                    if rows_in.numel():
                        env.lobe_samples = lookups
                        surface = SurfaceSample(*(g[rows_in] for g in geometry),
                                                visibility=None if visibility is None else visibility.subset(rows_in),
                                                lobe_shift=shift[rows_in])
                        part_material = MaterialSample(*(m[rows_in] for m in (material.albedo, material.roughness, material.metallic)))
                        lobe[rows_in] = shade_environment(surface, part_material, env)[1]
                ratio = torch.where(single > 1e-6, lobe / single.clamp_min(1e-6), torch.ones_like(single))
                self.refreshed["lobe_ratio"][idx] = ratio.clamp(LOBE_RATIO_RANGE[0], LOBE_RATIO_RANGE[1]).half()
                if bounce is not None:
                    lit = visibility.with_bounce(bounce)
                    radiance = lobe_bounce(geometry[1], geometry[2], material.roughness, lit)  # smooth: 8 directions do
                    self.refreshed["bounce_radiance"][idx] = radiance.half()
                    self.refreshed["bounce_irradiance"][idx] = lit.irradiance().half()

    def _gradients_finite(self) -> bool:
        """False when any gradient holds NaN/Inf: Adam would spread it into
        every later step, so such a step is skipped instead."""
        grads = [p.grad for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        # One sum per gradient: NaN or Inf anywhere makes it non-finite (so
        # would a float32 overflow of the sum, a step worth skipping too),
        # several times cheaper than testing every element.
        return not grads or bool(torch.isfinite(torch.stack([g.sum() for g in grads])).all())

    def _sample_maps(self, uv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Albedo (N,3), roughness (N,1), metallic (N,1) at uv (N,2)."""
        logits = torch.cat([self._logits(name) for name in MAPS])  # (5,R,R): one lookup for the three maps
        values = torch.sigmoid(sample_texture(logits.permute(1, 2, 0), uv))
        return values[:, :3], values[:, 3:4], values[:, 4:5]

    def _environment_tables(self) -> EnvironmentTextures:
        """The current environment prefiltered for shading (differentiable)."""
        return EnvironmentTextures.from_radiance_tensor(
            self._radiance(), levels=ENV_LEVELS, irradiance_width=min(32, 2 * self.config.env_height)
        )

    def _radiance(self) -> Tensor:
        """The environment's linear radiance (He, We, 3)."""
        return self.params["environment"].clamp(-LOG_RADIANCE_LIMIT, LOG_RADIANCE_LIMIT).exp()

    def _logits(self, name: str) -> Tensor:
        """Map `name`'s logits (C, R, R), row 0 at v = 1."""
        return self.params[name]

    def _to_loss_space(self, pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        space = self.config.loss_space
        if space == "linear":
            return pred, target
        hdr = self.hdr
        pred_t = tone_for_loss(pred, hdr)
        target_t = tone_for_loss(target, hdr)
        if not hdr:
            # Saturated photo pixels only say "at least this bright".
            saturated = target >= 0.999
            pred_t = torch.where(saturated, pred_t.clamp_max(1.0), pred_t)
        return pred_t, target_t

    def _priors(
        self,
        uv: Tensor,
        albedo: Tensor,
        roughness: Tensor,
        metallic: Tensor,
        all_metallic: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """The weighted prior terms; smoothness pairs start at `uv` (whose
        maps are `albedo`, `roughness`, `metallic`), drawn with `generator`
        (default: the fit's); sparsity over `all_metallic` (default: `metallic`)."""
        w = self.config.priors
        out: dict[str, Tensor] = {}
        generator = self.generator if generator is None else generator
        all_metallic = metallic if all_metallic is None else all_metallic
        if uv.shape[0] and (w.albedo_smoothness or w.roughness_smoothness or w.metallic_smoothness):
            angle = torch.rand(uv.shape[0], generator=generator, device=self.device) * (2 * math.pi)
            radius = w.smoothness_radius / self.config.texture_resolution
            uv2 = uv + radius * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
            if len(self.seams):  # and pairs across the atlas's seams, one point on each side
                k = max(uv.shape[0] // 8, 1)
                pick = torch.randint(len(self.seams), (k,), generator=generator, device=self.device)
                t = torch.rand(k, 1, 1, generator=generator, device=self.device)
                ends = self.seams[pick]  # (k, side, endpoint, 2)
                at = ends[:, :, 0] + t * (ends[:, :, 1] - ends[:, :, 0])  # (k, side, 2)
                # One lookup for the neighbours and both sides of the seams:
                # the pairs are (uv, side 0) against (uv2, side 1).
                looked_up = self._sample_maps(torch.cat([uv2, at[:, 0], at[:, 1]]))
                near, side0, side1 = zip(*(torch.split(x, [uv.shape[0], k, k]) for x in looked_up))
                albedo, roughness, metallic = (torch.cat(pair) for pair in zip((albedo, roughness, metallic), side0))
                a2, r2, m2 = (torch.cat(pair) for pair in zip(near, side1))
            else:
                a2, r2, m2 = self._sample_maps(uv2)
            if w.albedo_smoothness:
                out["albedo_smoothness"] = w.albedo_smoothness * pair_smoothness(albedo, a2)
            if w.roughness_smoothness:
                out["roughness_smoothness"] = w.roughness_smoothness * pair_smoothness(roughness, r2)
            if w.metallic_smoothness:
                out["metallic_smoothness"] = w.metallic_smoothness * pair_smoothness(metallic, m2)
        log_env = self.params["environment"].permute(2, 0, 1)  # (3,He,We)
        if w.white_balance:
            out["white_balance"] = w.white_balance * white_balance(log_env, self.solid_angle)
        if w.env_saturation:
            out["env_saturation"] = w.env_saturation * env_saturation(log_env, self.solid_angle)
        if w.env_smoothness:
            out["env_smoothness"] = w.env_smoothness * env_total_variation(log_env)
        if w.metallic_sparsity:
            out["metallic_sparsity"] = w.metallic_sparsity * metallic_sparsity(all_metallic)
        return out

    def _patch_indices(self) -> Tensor | None:
        """Sample-table indices (B*P*P,) of random fully valid SSIM patches."""
        cfg = self.config.loss
        if cfg.ssim <= 0 or self.patch_origins is None or not len(self.patch_origins):
            return None
        pick = torch.randint(len(self.patch_origins), (cfg.ssim_patches,), generator=self.generator, device=self.device)
        origins = self.patch_origins[pick]  # (B,3) view, y, x
        p = cfg.ssim_patch
        return torch.cat([self.index_maps[k][y : y + p, x : x + p].reshape(-1) for k, y, x in origins.tolist()])

    # ------------------------------------------------------------------ results

    def current_maps(self) -> tuple[MaterialMaps, np.ndarray]:
        """The current material maps (dilated past UV chart borders) and the
        environment radiance (He, We, 3), as numpy copies."""
        from models.uv_atlas import dilate

        self.setup()
        with self._lock, torch.no_grad():
            albedo = torch.sigmoid(self._logits("albedo")).permute(1, 2, 0).float().cpu().numpy()
            roughness = torch.sigmoid(self._logits("roughness")[0]).float().cpu().numpy()
            metallic = torch.sigmoid(self._logits("metallic")[0]).float().cpu().numpy()
            env = self._radiance().float().cpu().numpy()
        mask = self.uv_mask
        maps = MaterialMaps(
            np.ascontiguousarray(dilate(albedo, mask, 8), np.float32),
            np.ascontiguousarray(dilate(roughness, mask, 8), np.float32),
            np.ascontiguousarray(dilate(metallic, mask, 8), np.float32),
        )
        return maps, env

    def current_scene(self) -> Scene:
        """The fit so far as a Scene: the mesh (UVs, AO), the maps and the
        recovered environment (named "recovered"); fit provenance in metadata."""
        maps, env = self.current_maps()
        environment = Environment(np.ascontiguousarray(env, np.float32), name="recovered")
        return Scene(self.mesh, maps, Lighting(environment), metadata={"fit": self.summary()})

    def summary(self) -> dict:
        """JSON-able provenance: settings, steps, losses, timings (non-finite
        numbers become None)."""
        return json_safe({
            "config": self.config.to_dict(),
            "state": self.state,
            "steps": self.step_count,
            "losses": dict(self.last_losses),
            "total_loss": self.last_total,
            "psnr_batch": self.last_psnr,
            "timings": {
                "setup_s": round(self.setup_s, 3),
                "fit_s": round(self.elapsed_s, 3),
                "seconds_per_step": round(self.elapsed_s / max(self.step_count, 1), 5),
            },
            "skipped_steps": self.skipped_steps,
            "metallic_starts": {
                "starts": list(self.config.metallic_starts),
                "validation_losses": list(self.start_losses),
                "kept": None if self.kept_start is None else self.config.metallic_starts[self.kept_start],
            },
            "views": len(self.views),
            "samples": int(self.samples.shape[0]) if self._ready else 0,
            "device": str(self.device),
            "loss_space": "log" if self._ready and self.hdr else "srgb",
        })

    def progress(self, message: str = "", preview: bool = True) -> FitProgress:
        """A snapshot of the fit now."""
        total = self.total_steps
        rate = self.elapsed_s / max(self.step_count, 1)
        eta = max(total - self.step_count, 0) * rate
        if self.config.time_budget_s:
            eta = min(eta, max(self.config.time_budget_s - self.elapsed_s, 0.0))
        return FitProgress(
            step=self.step_count,
            total_steps=total,
            losses=self.last_losses,
            total=self.last_total,
            psnr=self.last_psnr,
            elapsed_s=self.elapsed_s,
            eta_s=eta,
            state=self.state,
            preview=self._preview() if preview and self._ready else None,
            message=message,
            learning_rate_scale=self.lr_scale() if self._ready else 1.0,
            seconds_per_step=rate if self.step_count else math.nan,
            start=self.start_index,
            starts=len(self.config.metallic_starts),
        )

    def _preview(self) -> FitPreview:
        size = self.config.preview_size
        with self._lock, torch.no_grad():
            def small(t: Tensor) -> np.ndarray:
                return F.interpolate(torch.sigmoid(t)[None], size=(size, size), mode="area")[0].permute(1, 2, 0).cpu().numpy()

            return FitPreview.of(
                small(self._logits("albedo")),
                small(self._logits("roughness"))[..., 0],
                small(self._logits("metallic"))[..., 0],
                self._radiance().cpu().numpy(),
            )

    def _emit(self, message: str = "") -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress(message))

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, path: str | Path) -> None:
        """Write parameters, optimiser state, step, time and RNG to `path`."""
        self.setup()
        with self._lock:
            save_checkpoint(
                path,
                Checkpoint(
                    config=self.config,
                    step=self.step_count,
                    elapsed_s=self.elapsed_s,
                    params={k: v.detach() for k, v in self.params.items()},
                    optimizer=self.optimizer.state_dict(),
                    rng=self.generator.get_state(),
                    extra={
                        "uv": torch.as_tensor(self.mesh.uv),
                        "faces": torch.as_tensor(self.mesh.faces),
                        **self._starts_state(),
                    },
                ),
            )

    def load_checkpoint(self, path: str | Path) -> None:
        """Continue from a checkpoint of a fit of the same mesh and settings
        shapes: restores parameters, optimiser, step count, time and RNG."""
        ckpt = load_checkpoint(path)
        self.setup()
        problems = []
        for name, value in ckpt.params.items():
            if name not in self.params or tuple(self.params[name].shape) != tuple(value.shape):
                problems.append(f"parameter {name} {tuple(value.shape)} does not fit this fit")
        if set(ckpt.params) != set(self.params):
            problems.append(f"parameters {sorted(ckpt.params)} differ from {sorted(self.params)}")
        start = ckpt.extra.get("start")
        starts = len(self.config.metallic_starts)
        if start is not None and not (start.numel() == 2 and 0 <= int(start[0]) < starts):
            problems.append(f"it was made with other metallic starts than this fit's {starts}")
        for name, value in ckpt.extra.items():
            if name.startswith("best/") and (name[5:] not in self.params or value.shape != self.params[name[5:]].shape):
                problems.append(f"its best start's {name[5:]} does not fit this fit")
        for name, value in ckpt.extra.items():
            if name.startswith(("refreshed/", "best_refreshed/")) and tuple(value.shape) != (self.samples.shape[0], 3):
                problems.append(f"its {name} is {tuple(value.shape)}, not ({self.samples.shape[0]}, 3) for this fit's pixels")
        uv = ckpt.extra.get("uv")
        if uv is not None and (uv.shape != self.mesh.uv.shape or not np.allclose(uv.numpy(), self.mesh.uv, atol=1e-6)):
            problems.append("it was made on a different mesh / UV layout")
        if problems:
            raise CheckpointError(path, "; ".join(problems))
        with self._lock, torch.no_grad():
            for name, value in ckpt.params.items():
                self.params[name].copy_(value.to(self.device))
            self.optimizer.load_state_dict(ckpt.optimizer)
            if ckpt.rng is not None:
                self.generator.set_state(ckpt.rng)
            self.step_count = ckpt.step
            self.elapsed_s = ckpt.elapsed_s
            self._restore_starts(ckpt.extra)
        self.state = "running" if not self._done() else "finished"

    def _starts_state(self) -> dict[str, Tensor]:
        """The metallic starts' bookkeeping as tensors, for a checkpoint."""
        state = {
            "start": torch.tensor([self.start_index, self.start_step], dtype=torch.int64),
            "start_s": torch.tensor([self.start_s], dtype=torch.float64),
            "start_losses": torch.tensor(self.start_losses, dtype=torch.float64),
        }
        if self._best_start is not None:
            state["best_start"] = torch.tensor([self._best_start[0]], dtype=torch.int64)
            state.update({f"best/{k}": v for k, v in self._best_start[1].items()})
        if self._best_state is not None:
            state.update(self._best_state.to_tensors())
        state["lobe"] = torch.tensor([self._lobe_cursor, self._lobe_refreshed, self._lobe_step], dtype=torch.int64)
        for prefix, values in (("refreshed/", self.refreshed), ("best_refreshed/", self._best_refreshed)):
            state.update({prefix + name: value.cpu() for name, value in values.items()})
        return state

    def _restore_starts(self, extra: dict[str, Tensor]) -> None:
        """Inverse of `_starts_state` (a checkpoint without it: the first start)."""
        start = extra.get("start")
        self.start_index, self.start_step = (int(start[0]), int(start[1])) if start is not None else (0, 0)
        self.start_s = float(extra["start_s"][0]) if "start_s" in extra else 0.0
        self.start_losses = [float(x) for x in extra.get("start_losses", torch.zeros(0)).tolist()]
        self._best_start = None
        self._best_state = None
        if "best_start" in extra:
            best = {k[len("best/"):]: v.to(self.device) for k, v in extra.items() if k.startswith("best/")}
            self._best_start = (int(extra["best_start"][0]), best)
            self._best_state = _StartState.from_tensors(extra, self.optimizer.state_dict()["param_groups"])
        lobe = extra.get("lobe")
        self._lobe_cursor, self._lobe_refreshed, self._lobe_step = (
            (int(lobe[0]), int(lobe[1]), int(lobe[2])) if lobe is not None else (0, 0, self.start_step)
        )
        self.refreshed, self._best_refreshed = (
            {k[len(prefix):]: v.to(self.device) for k, v in extra.items() if k.startswith(prefix)}
            for prefix in ("refreshed/", "best_refreshed/")
        )


@dataclass
class _StartState:
    """What a metallic start needs besides its parameters to go on where
    its trial ended: Adam's moments, and its place in its schedule and in
    the lobe refreshes (as steps / seconds before the trial's end)."""

    optimizer: dict | None
    steps: int
    seconds: float
    lobe_refreshed: int
    lobe_age: int

    def to_tensors(self) -> dict[str, Tensor]:
        """For a checkpoint's extra tensors."""
        out = {"best_progress": torch.tensor([self.steps, self.seconds, self.lobe_refreshed, self.lobe_age], dtype=torch.float64)}
        for index, moments in (self.optimizer or {}).get("state", {}).items():
            for name, value in moments.items():
                out[f"best_adam/{index}/{name}"] = torch.as_tensor(value)
        return out

    @staticmethod
    def from_tensors(extra: dict[str, Tensor], param_groups: list[dict]) -> "_StartState | None":
        """Inverse of `to_tensors` (None: a checkpoint without it)."""
        progress = extra.get("best_progress")
        if progress is None or progress.numel() != 4:
            return None
        state: dict[int, dict[str, Tensor]] = {}
        for key, value in extra.items():
            if key.startswith("best_adam/"):
                _, index, name = key.split("/", 2)
                state.setdefault(int(index), {})[name] = value
        steps, seconds, refreshed, age = progress.tolist()
        optimizer = {"state": state, "param_groups": copy.deepcopy(param_groups)} if state else None
        return _StartState(optimizer, int(steps), float(seconds), int(refreshed), int(age))


def json_safe(value):
    """A copy of nested dicts/lists with NaN and infinities replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _logit(x: Tensor) -> Tensor:
    """Inverse of the sigmoid the maps go through, kept off its infinite ends."""
    x = x.clamp(1e-3, 1 - 1e-3)
    return torch.log(x / (1 - x))


def _splat_to_texture(uv: Tensor, values: Tensor, resolution: int) -> Tensor:
    """Average `values` (N,C) into the texels their uv (N,2) fall in and fill
    the texels no sample reached from coarser averages (push-pull).
    Returns (R,R,C), row 0 at v = 1."""
    r = resolution
    total = _texel_sums(uv, values, r)
    count = _texel_sums(uv, torch.ones_like(values[:, :1]), r)
    return _push_pull(total.reshape(r, r, -1), count.reshape(r, r, 1))


def _texel_sums(uv: Tensor, values: Tensor, resolution: int) -> Tensor:
    """(R*R, C): the sum of `values` (N,C) in each texel their uv (N,2) fall
    in, row-major with row 0 at v = 1."""
    r = resolution
    col = (uv[:, 0] * r).long().clamp(0, r - 1)
    row = ((1 - uv[:, 1]) * r).long().clamp(0, r - 1)
    return torch.zeros((r * r, values.shape[1]), device=values.device).index_add_(0, row * r + col, values)


def _push_pull(total: Tensor, count: Tensor) -> Tensor:
    """Fill empty texels of total/count (R,R,C),(R,R,1) from coarser levels."""
    r = total.shape[0]
    mean = total / count.clamp_min(1e-8)
    if r <= 1:
        return torch.where(count > 0, mean, torch.full_like(mean, 0.5))
    t2 = F.avg_pool2d(total.permute(2, 0, 1)[None], 2, ceil_mode=True)[0].permute(1, 2, 0) * 4
    c2 = F.avg_pool2d(count.permute(2, 0, 1)[None], 2, ceil_mode=True)[0].permute(1, 2, 0) * 4
    coarse = _push_pull(t2, c2)
    up = F.interpolate(coarse.permute(2, 0, 1)[None], size=(r, r), mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
    return torch.where(count > 0, mean, up)
