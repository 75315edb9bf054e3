"""Occupancy without masks: a quick density-grid fit (DVGO/Plenoxels-like).

Why a density field first: an SDF surface can only be carved away at its
silhouettes (a ray through a solid stays opaque until the solid is gone),
so a mask-free SDF started from a sphere keeps a painted shell of background.
A density grid starts empty and every sample along a ray gets gradient: free
space clears where the background shells explain the pixel (helped by a
sparsity term), and density grows where the views agree on a colour. Its
thresholded opacity is the occupancy the SDF then starts from, as the visual
hull is for masked captures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.camera import Camera
from models.reconstruction.config import ForegroundConfig
from models.reconstruction.foreground import SupportPlane, find_support_plane
from models.reconstruction.sdf_grid import GridSpec, sample, total_variation
from models.reconstruction.views import RaySet, ray_sphere
from models.reconstruction.volume_render import Background, weights_of

_ALPHA_INIT = 1e-3  # initial opacity of one voxel: start (almost) empty


class DensityFit:
    """Density + colour grids (and `background`) being fitted to `rays`.

    `run(steps)` may be called more than once: between calls the background
    may gain a support plane (`Background.set_plane`, then `clear_beyond`),
    after which rays stop at the plane and the grid beyond it is dropped."""

    def __init__(
        self,
        rays: RaySet,
        spec: GridSpec,
        background: Background,
        config: ForegroundConfig,
        rays_per_batch: int = 4096,
        generator: torch.Generator | None = None,
    ):
        dev = rays.origins.device
        r = spec.resolution
        self.rays, self.spec, self.background, self.config = rays, spec, background, config
        self.rays_per_batch = rays_per_batch
        self.generator = generator or torch.Generator().manual_seed(0)
        # softplus(raw + shift) * voxel = -log(1 - alpha_init) at raw = 0.
        self.shift = float(np.log(np.expm1(-np.log(1 - _ALPHA_INIT) / spec.voxel)))
        self.raw = torch.zeros(1, r, r, r, device=dev, requires_grad=True)
        self.colour = torch.zeros(3, r, r, r, device=dev, requires_grad=True)
        self.steps_done = 0
        self._optimizer()

    def _optimizer(self) -> None:
        lr = self.config.density_lr
        self.opt = torch.optim.Adam(
            [{"params": [self.raw, self.colour], "lr": lr},
             {"params": list(self.background.parameters()), "lr": 0.5 * lr}], betas=(0.9, 0.99))

    def clear_beyond(self, normal: np.ndarray, offset: float, band: float = 0.0) -> None:
        """Empty the grid behind the plane {normal . x + offset = 0} and up to
        `band` in front of it (where the fit painted the wall before the plane
        could show it), forget the colours, and restart the optimiser (so it
        fits the plane's texture too); what the plane cannot explain grows back."""
        with torch.no_grad():
            pos = self.spec.node_positions(self.raw.device)
            n = torch.as_tensor(np.asarray(normal), dtype=pos.dtype, device=pos.device)
            behind = pos @ n + offset < band
            self.raw[0][behind] = -30.0
            # Colours start over too: the grid's wall colours would otherwise
            # let fog in front of the plane out-explain the still grey plane.
            self.colour.zero_()
        self._optimizer()

    def run(self, steps: int, on_step: Callable[[int, dict[str, float]], bool] | None = None) -> bool:
        """`steps` Adam steps; `on_step(step, losses)` returning True stops
        early (then returns True)."""
        rays, spec, config, gen = self.rays, self.spec, self.config, self.generator
        dev = rays.origins.device
        n = config.density_samples
        for _ in range(steps):
            idx = rays.batch(self.rays_per_batch, gen)
            o, d, target = rays.origins[idx], rays.dirs[idx], rays.rgb[idx]
            near, far = ray_sphere(o, d, 1.0)
            far = torch.minimum(far, self.background.plane_distance(o, d))
            hit = far > near
            span = torch.where(hit, far - near, torch.zeros_like(far))
            jitter = torch.rand(len(o), n, generator=gen).to(dev)
            t = near[:, None] + span[:, None] * (torch.arange(n, device=dev) + jitter) / n
            pts = o[:, None] + t[..., None] * d[:, None]
            sigma = F.softplus(sample(self.raw, pts.reshape(-1, 3), spec.half_size).view(-1, n) + self.shift)
            alpha = 1 - torch.exp(-sigma * (span / n)[:, None])
            w = weights_of(alpha)
            rgb = torch.sigmoid(sample(self.colour, pts.reshape(-1, 3), spec.half_size)).view(-1, n, 3)
            opacity = w.sum(-1)
            pred = (w[..., None] * rgb).sum(1) + (1 - opacity)[:, None] * self.background(o, d)
            err = pred - target
            losses = {
                "photometric": ((err * err + 1e-6).sqrt() - 1e-3).mean(),
                "sparsity": config.density_sparsity * opacity.mean(),
                "density_tv": config.density_tv * total_variation(self.raw),
            }
            total = sum(losses.values())
            self.opt.zero_grad(set_to_none=True)
            total.backward()
            self.opt.step()
            step = self.steps_done
            self.steps_done += 1
            if on_step is not None and on_step(step, {k: float(v.detach()) for k, v in losses.items()}):
                return True
        return False

    def alpha(self) -> np.ndarray:
        """Each node's opacity over one voxel (R, R, R) float32 (0 outside the
        unit sphere)."""
        with torch.no_grad():
            sigma = F.softplus(self.raw[0] + self.shift)
            voxel_alpha = 1 - torch.exp(-sigma * self.spec.voxel)
            inside_sphere = self.spec.node_positions(self.raw.device).norm(dim=-1) <= 1.0
            voxel_alpha = torch.where(inside_sphere, voxel_alpha, torch.zeros_like(voxel_alpha))
        return voxel_alpha.cpu().numpy()

    def surface_points(self, count: int = 50_000, samples: int = 128) -> np.ndarray:
        """(M, 3) points where up to `count` random rays that the density makes
        at least half opaque have their largest rendering weight (what the
        photos' pixels show, inside the unit sphere; the peak rather than the
        point of half transmittance, which a density still thin at this stage
        puts behind the surface)."""
        rays, spec = self.rays, self.spec
        dev = rays.origins.device
        gen = torch.Generator().manual_seed(1)
        out = []
        with torch.no_grad():
            for start in range(0, count, 8192):
                idx = rays.batch(min(8192, count - start), gen)
                o, d = rays.origins[idx], rays.dirs[idx]
                near, far = ray_sphere(o, d, 1.0)
                far = torch.minimum(far, self.background.plane_distance(o, d))
                keep = far > near
                o, d, near, far = o[keep], d[keep], near[keep], far[keep]
                t = near[:, None] + (far - near)[:, None] * (torch.arange(samples, device=dev) + 0.5) / samples
                pts = o[:, None] + t[..., None] * d[:, None]
                sigma = F.softplus(sample(self.raw, pts.reshape(-1, 3), spec.half_size).view(-1, samples) + self.shift)
                alpha = 1 - torch.exp(-sigma * ((far - near) / samples)[:, None])
                w = weights_of(alpha)
                ok = w.sum(-1) > 0.5
                peak = w.argmax(-1)
                out.append(pts[ok, peak[ok]].cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 3))


@dataclass(frozen=True)
class ForegroundFit:
    """What the density fit says of a mask-free capture: `occupied` (R, R, R)
    bool, the object's solid occupancy; `plane`, the wall or table behind it
    (or None), which `background` now shows; `cancelled`, stopped early."""

    occupied: np.ndarray
    plane: SupportPlane | None
    cancelled: bool = False


def fit_foreground(
    rays: RaySet,
    spec: GridSpec,
    background: Background,
    config: ForegroundConfig,
    rays_per_batch: int = 4096,
    generator: torch.Generator | None = None,
    on_step: Callable[[int, dict[str, float]], bool] | None = None,
    cameras: list[Camera] | None = None,
) -> ForegroundFit:
    """Fit the density (`DensityFit`) and threshold it at
    `config.occupancy_alpha` into a solid (`solid`).

    With normalised `cameras` and `config.support_plane`, after
    `config.plane_after` of the steps the fit's surface points are searched
    for a support plane (`find_support_plane`); when there is one, the
    background gains it as a textured plane, the grid behind it is emptied,
    the rest of the steps fit the object alone, and the occupied piece kept
    is the one nearest the rig's focus (the origin) in front of the plane."""
    fit = DensityFit(rays, spec, background, config, rays_per_batch, generator)
    search = config.support_plane and cameras is not None
    first = round(config.density_steps * config.plane_after) if search else config.density_steps
    cancelled = fit.run(first, on_step)
    plane = None
    if search and not cancelled:
        plane = find_support_plane(fit.surface_points(), cameras, config.plane_tolerance_voxels * spec.voxel, config)
        if plane is not None:
            background.set_plane(plane.normal, plane.offset, plane.extent, config.plane_resolution)
            fit.clear_beyond(plane.normal, plane.offset, config.plane_clear_voxels * spec.voxel)
    if not cancelled:
        cancelled = fit.run(config.density_steps - first, on_step)
    occupied = fit.alpha() > config.occupancy_alpha
    if plane is None:
        return ForegroundFit(solid(occupied), None, cancelled)
    from scipy.ndimage import binary_fill_holes

    nodes = spec.node_positions().numpy().reshape(-1, 3)
    front = plane.height(nodes).reshape(occupied.shape) > 0
    focus = np.zeros(3)  # the rig's focus, moved in front of the plane when behind it
    focus = focus + max(0.0, spec.voxel - float(plane.height(focus[None])[0])) * plane.normal
    kept = solid(occupied & front, spec, focus)
    # The object's side against the plane is never seen: the plane closes it.
    kept = binary_fill_holes(kept | ~front) & front
    return ForegroundFit(kept, plane, cancelled)


def solid(occupied: np.ndarray, spec: GridSpec | None = None, focus: np.ndarray | None = None) -> np.ndarray:
    """The main connected piece of `occupied`, its one-voxel gaps closed and
    enclosed cavities filled (the density fit leaves a surface shell with an
    empty inside, which no view sees).

    The main piece is the largest one, or with `spec` and `focus` (the rig's
    focus, normalised frame) the one nearest `focus` among the pieces at
    least a tenth the size of the largest: what the cameras look at, not the
    biggest thing near it."""
    from scipy.ndimage import binary_dilation, binary_erosion, binary_fill_holes, label

    if not occupied.any():
        return occupied
    occupied = binary_erosion(binary_fill_holes(binary_dilation(occupied)), border_value=0)
    labels, count = label(occupied)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        best = int(sizes.argmax())
        if spec is not None and focus is not None:
            pos = spec.node_positions().numpy().reshape(-1, 3)
            dist = np.linalg.norm(pos - np.asarray(focus, np.float32), axis=-1)
            nearest = np.full(count + 1, np.inf)
            np.minimum.at(nearest, labels.ravel(), dist)
            nearest[0] = np.inf
            nearest[sizes < 0.1 * sizes.max()] = np.inf
            best = int(nearest.argmin())
        occupied = labels == best
    return binary_fill_holes(occupied)
