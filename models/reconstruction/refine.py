"""The optimisation state of a reconstruction and one Adam step of it.

`Refiner` owns the SDF grid, the colour model, the sharpness s, and (when
used) the background shells and pose corrections. Each stage resamples the
grids to its resolution and starts a fresh optimiser; each step renders a
random batch of rays and minimises

    photometric + mask + eikonal + smoothness + feature TV (+ background TV)

(see LossConfig). With masks, the photometric term compares premultiplied
colour (object on black); without, the background is composited behind.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from models.reconstruction.config import ReconstructionConfig, StageConfig
from models.reconstruction.poses import PoseRefinement
from models.reconstruction.sdf_grid import GridSpec, interior_nodes, node_stencil, resample, total_variation
from models.reconstruction.views import RaySet, ray_sphere
from models.reconstruction.volume_render import Background, ColourModel, render


def charbonnier(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return ((x * x + eps * eps).sqrt() - eps).mean()


class Refiner:
    """SDF + colour (+ background, poses) being fitted to a RaySet."""

    def __init__(
        self,
        rays: RaySet,
        sdf: torch.Tensor,
        spec: GridSpec,
        config: ReconstructionConfig,
        background: Background | None = None,
        poses: PoseRefinement | None = None,
    ):
        self.rays = rays
        self.config = config
        self.device = sdf.device
        self.spec = spec
        self.sdf = torch.nn.Parameter(sdf.detach().clone())
        rc = config.render
        self.colour = ColourModel(self._feature_res(spec.resolution, 0), rc.feature_channels, rc.decoder_width, self.device)
        self.log_s = torch.nn.Parameter(torch.tensor(math.log(rc.initial_sharpness), device=self.device))
        self.background = background
        self.poses = poses
        self.generator = torch.Generator().manual_seed(config.seed)
        self.stage: StageConfig | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.base_lrs: list[float] = []
        self._band: torch.Tensor | None = None
        self._interior = self._band
        self._band_age, self._band_res = 0, 0
        self._overall = 0.0

    @staticmethod
    def _feature_res(resolution: int, requested: int) -> int:
        return requested if requested > 0 else min(resolution, 64)

    @property
    def sharpness_floor(self) -> float:
        rc = self.config.render
        t = min(max(self._overall, 0.0), 1.0)
        return (rc.min_sharpness_voxels + (rc.final_min_sharpness_voxels - rc.min_sharpness_voxels) * t) / self.spec.voxel

    @property
    def sharpness(self) -> torch.Tensor:
        return self.log_s.exp().clamp_min(self.sharpness_floor)

    def start_stage(self, stage: StageConfig) -> None:
        """Resample the grids to `stage`'s resolutions and reset the optimiser."""
        if stage.resolution != self.spec.resolution:
            self.sdf = torch.nn.Parameter(resample(self.sdf.detach()[None], stage.resolution)[0])
            self.spec = GridSpec(stage.resolution, self.spec.half_size)
        res_f = self._feature_res(stage.resolution, stage.feature_resolution)
        if res_f != self.colour.features.shape[-1]:
            self.colour = self.colour.resized(res_f)
        with torch.no_grad():
            self.log_s.clamp_(min=math.log(self.sharpness_floor))
        self.stage = stage
        oc = self.config.optim
        groups = [
            {"params": [self.sdf], "lr": oc.sdf_lr * 64.0 / stage.resolution},
            {"params": [self.colour.features], "lr": oc.feature_lr},
            {"params": list(self.colour.decoder.parameters()), "lr": 0.1 * oc.feature_lr},
            {"params": [self.log_s], "lr": oc.sharpness_lr},
        ]
        if self.background is not None:
            groups.append({"params": list(self.background.parameters()), "lr": oc.background_lr})
        if self.poses is not None:
            pc = self.config.poses
            groups.append({"params": [self.poses.rotation], "lr": pc.rotation_lr})
            groups.append({"params": [self.poses.translation], "lr": pc.translation_lr})
        self.optimizer = torch.optim.Adam(groups, betas=(0.9, 0.99), eps=1e-15)
        self.base_lrs = [g["lr"] for g in groups]

    def step(self, fraction: float, overall: float) -> dict[str, float]:
        """One Adam step; `fraction` in [0, 1] is how far into the stage (learning
        rate schedule), `overall` how far into the whole refinement
        (regulariser schedule). Returns the weighted loss terms."""
        assert self.optimizer is not None, "start_stage first"
        self._overall = overall
        with torch.no_grad():  # keep log s at the floor, so it can rise from there
            self.log_s.clamp_(min=math.log(self.sharpness_floor))
        cosine = 0.5 * (1 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))
        scale = self.config.optim.decay + (1 - self.config.optim.decay) * cosine
        for g, lr in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = lr * scale
        losses = self.losses(overall)
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    def _regulariser_nodes(self) -> torch.Tensor:
        """(K,) flat interior node indices: half near the surface (refreshed
        every 20 steps), half anywhere."""
        k = self.config.loss.regulariser_nodes
        r = self.spec.resolution
        if self._band is None or self._band_age >= 20 or self._band_res != r:
            interior = interior_nodes(r, self.device)
            near = self.sdf.detach().reshape(-1)[interior].abs() < 3 * self.spec.voxel
            self._interior, self._band = interior, interior[near]
            self._band_age, self._band_res = 0, r
        self._band_age += 1
        pick = lambda pool, n: pool[torch.randint(0, len(pool), (n,), generator=self.generator).to(self.device)]
        parts = [pick(self._interior, k - k // 2)]
        if len(self._band) > 0:
            parts.append(pick(self._band, k // 2))
        return torch.cat(parts)

    def losses(self, overall: float) -> dict[str, torch.Tensor]:
        cfg, lc = self.config, self.config.loss
        rays = self.rays
        idx = rays.batch(self.stage.rays_per_batch or cfg.render.rays_per_batch, self.generator)
        o, d, target, mask = rays.origins[idx], rays.dirs[idx], rays.rgb[idx], rays.mask[idx]
        if self.poses is not None:
            o, d = self.poses.apply(rays.view[idx], o, d)
        near, far = ray_sphere(o.detach(), d.detach(), 1.0)
        if self.background is not None:  # rays stop at a support plane
            far = torch.minimum(far, self.background.plane_distance(o.detach(), d.detach()))
        hit = far > near
        spec = self.spec
        out = render(self.sdf, spec, self.colour, o[hit], d[hit], near[hit], far[hit], self.sharpness, cfg.render,
                     self.generator, view_dependent=overall >= cfg.render.view_dependent_from)
        rgb = torch.zeros_like(target).index_put((hit.nonzero()[:, 0],), out.rgb)
        opacity = torch.zeros_like(mask).index_put((hit.nonzero()[:, 0],), out.opacity)
        terms: dict[str, torch.Tensor] = {}
        if rays.has_masks:
            terms["photometric"] = lc.photometric * charbonnier(rgb - target * mask[:, None])
            if lc.mask > 0:
                p = opacity.clamp(1e-4, 1 - 1e-4)
                terms["mask"] = lc.mask * F.binary_cross_entropy(p, mask.clamp(0, 1))
        else:
            assert self.background is not None
            bg = self.background(o, d)
            pred = rgb + (1 - opacity)[:, None] * bg
            terms["photometric"] = lc.photometric * charbonnier(pred - target)
            if lc.opacity_sparsity > 0:
                terms["opacity_sparsity"] = lc.opacity_sparsity * opacity.mean()
            if lc.background_tv > 0:
                terms["background_tv"] = lc.background_tv * total_variation(self.background.texture)
        if lc.eikonal > 0 or lc.smoothness > 0:
            nodes = self._regulariser_nodes()
            grad, lap = node_stencil(self.sdf, nodes, spec.voxel)
            if lc.eikonal > 0:
                norm = (grad.square().sum(-1) + 1e-12).sqrt()
                terms["eikonal"] = lc.eikonal * (norm - 1).square().mean()
            if lc.smoothness > 0:
                weight = lc.smoothness * (1.0 - (1.0 - lc.smoothness_end) * min(max(overall, 0.0), 1.0))
                near_surface = (self.sdf.detach().reshape(-1)[nodes].abs() < 3 * spec.voxel).float()
                smooth = (lap.square() * near_surface).sum() / near_surface.sum().clamp_min(1)
                terms["smoothness"] = weight * smooth * spec.voxel**2
        if lc.feature_tv > 0:
            terms["feature_tv"] = lc.feature_tv * total_variation(self.colour.features)
        return terms
