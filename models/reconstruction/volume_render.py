"""Differentiable volume rendering of an SDF grid (NeuS, Wang et al. 2021).

Along a ray with samples t_0 < ... < t_{n-1} and signed distances f_i, the
section [t_i, t_{i+1}] has opacity
    alpha_i = max(0, (Phi_s(f_i) - Phi_s(f_{i+1})) / Phi_s(f_i)),  Phi_s = sigmoid(s x)
which is unbiased (the weight peaks at the zero crossing) and exact for an SDF
linear along the section, so a few samples near the surface suffice. Samples:
`coarse` uniform ones without gradient locate the surface, `fine` ones drawn
from their weights bracket it; the fine ones and a stratified few of the
coarse ones (free space) are then rendered with gradient.

Colour is *deferred*: rendering weights average a small per-voxel feature
grid and the SDF normal along the ray, and a tiny decoder turns (features,
normal, view direction) into RGB once per ray, not once per sample. That
keeps a step cheap on a CPU while still letting colour depend on the view
(highlights) so the photometric loss does not bend the geometry to explain them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.reconstruction.config import RenderConfig
from models.reconstruction.sdf_grid import GridSpec, sample, sample_gradient


@dataclass(frozen=True)
class RenderOutput:
    """Per-ray results: rgb (B, 3) premultiplied by opacity (no background);
    opacity (B,); depth (B,) expected distance where opacity > 0; normal (B, 3)
    unit weighted normal."""

    rgb: torch.Tensor
    opacity: torch.Tensor
    depth: torch.Tensor
    normal: torch.Tensor


class ColourModel(nn.Module):
    """A feature grid (C, Rf, Rf, Rf) and a per-ray decoder to linear RGB."""

    def __init__(self, resolution: int, channels: int, width: int, device: torch.device | str = "cpu"):
        super().__init__()
        self.features = nn.Parameter(torch.zeros(channels, resolution, resolution, resolution, device=device))
        self.decoder = nn.Sequential(
            nn.Linear(channels + 10, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 3)
        ).to(device)

    def decode(
        self, features: torch.Tensor, normal: torch.Tensor, view: torch.Tensor, view_dependent: bool = True
    ) -> torch.Tensor:
        """features (B, C), unit normal (B, 3), unit view direction (B, 3) -> RGB
        (B, 3) in [0, 1]; without `view_dependent` the view direction is ignored."""
        cos = (normal * view).sum(-1, keepdim=True)
        reflected = view - 2 * cos * normal
        if not view_dependent:
            cos, reflected, view = torch.zeros_like(cos), torch.zeros_like(reflected), torch.zeros_like(view)
        x = torch.cat([features, normal, reflected, view, cos], -1)
        # The first three feature channels are a base colour; the decoder adds
        # the view-dependent rest.
        return torch.sigmoid(features[:, :3] + self.decoder(x))

    def resized(self, resolution: int) -> ColourModel:
        """A copy whose feature grid is resampled to `resolution` (decoder shared)."""
        from models.reconstruction.sdf_grid import resample

        out = ColourModel.__new__(ColourModel)
        nn.Module.__init__(out)
        out.features = nn.Parameter(resample(self.features.detach(), resolution))
        out.decoder = self.decoder
        return out


def neus_alpha(sdf: torch.Tensor, sharpness: torch.Tensor | float) -> torch.Tensor:
    """(B, N) signed distances at sorted samples -> (B, N-1) section opacities."""
    phi = torch.sigmoid(sdf * sharpness)
    prev, nxt = phi[:, :-1], phi[:, 1:]
    return ((prev - nxt) / (prev + 1e-6)).clamp(0.0, 1.0)


def weights_of(alpha: torch.Tensor) -> torch.Tensor:
    """(B, M) opacities -> (B, M) rendering weights T_i alpha_i."""
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-7], -1), -1)[:, :-1]
    return alpha * trans


def sample_pdf(bins: torch.Tensor, weights: torch.Tensor, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """Stratified inverse-CDF samples (B, n) from piecewise-constant `weights`
    (B, M) over `bins` (B, M+1)."""
    pdf = weights + 1e-4 * weights.sum(-1, keepdim=True) + 1e-8
    pdf = pdf / pdf.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    b = bins.shape[0]
    jitter = torch.rand(b, n, generator=generator, device="cpu").to(bins.device)
    u = (torch.arange(n, device=bins.device) + jitter) / n
    idx = torch.searchsorted(cdf.contiguous(), u.contiguous(), right=True).clamp(1, cdf.shape[-1] - 1)
    c0, c1 = cdf.gather(-1, idx - 1), cdf.gather(-1, idx)
    b0, b1 = bins.gather(-1, idx - 1), bins.gather(-1, idx)
    frac = ((u - c0) / (c1 - c0).clamp_min(1e-8)).clamp(0, 1)
    return b0 + frac * (b1 - b0)


def render(
    sdf: torch.Tensor,
    spec: GridSpec,
    colour: ColourModel,
    origins: torch.Tensor,
    dirs: torch.Tensor,
    near: torch.Tensor,
    far: torch.Tensor,
    sharpness: torch.Tensor,
    config: RenderConfig,
    generator: torch.Generator | None = None,
    view_dependent: bool = True,
) -> RenderOutput:
    """Render B rays (origins, unit dirs (B, 3), interval [near, far] (B,))
    through `sdf` (R, R, R) laid out by `spec`."""
    b = origins.shape[0]
    dev = origins.device
    half = spec.half_size
    vol = sdf.unsqueeze(0)
    n_c = config.coarse_samples
    span = (far - near).clamp_min(1e-6)
    with torch.no_grad():
        jitter = torch.rand(b, n_c, generator=generator, device="cpu").to(dev)
        t_c = near[:, None] + span[:, None] * (torch.arange(n_c, device=dev) + jitter) / n_c
        o_d, d_d = origins.detach(), dirs.detach()
        f_c = sample(vol, (o_d[:, None] + t_c[..., None] * d_d[:, None]).reshape(-1, 3), half).view(b, n_c)
        w_c = weights_of(neus_alpha(f_c, sharpness.detach()))
        t_f = sample_pdf(t_c, w_c, config.fine_samples, generator)
        every = max(1, n_c // max(config.free_samples, 1))
        t_free = t_c[:, every // 2 :: every] if config.free_samples > 0 else t_c[:, :0]
        ends = torch.stack([near, far], -1)
        t_all, _ = torch.sort(torch.cat([ends, t_free, t_f], -1), -1)
    n = t_all.shape[1]
    points = origins[:, None] + t_all[..., None] * dirs[:, None]
    f = sample(vol, points.reshape(-1, 3), half).view(b, n)
    w = weights_of(neus_alpha(f, sharpness))  # (B, n-1)
    t_mid = 0.5 * (t_all[:, 1:] + t_all[:, :-1])
    opacity = w.sum(-1)
    depth = (w * t_mid).sum(-1) / opacity.clamp_min(1e-6)

    # Deferred colour: features and normals only where the weight matters.
    ray_idx, sec_idx = torch.nonzero(w.detach() > config.weight_threshold, as_tuple=True)
    w_sel = w[ray_idx, sec_idx]
    mid = origins[ray_idx] + t_mid[ray_idx, sec_idx, None] * dirs[ray_idx]
    feats = sample(colour.features, mid, half)
    grads = sample_gradient(sdf, mid, half, 0.5 * spec.voxel)
    c = colour.features.shape[0]
    feat_sum = torch.zeros(b, c, device=dev, dtype=feats.dtype).index_add(0, ray_idx, w_sel[:, None] * feats)
    normal_sum = torch.zeros(b, 3, device=dev, dtype=grads.dtype).index_add(0, ray_idx, w_sel[:, None] * grads)
    weight_sum = torch.zeros(b, device=dev, dtype=w.dtype).index_add(0, ray_idx, w_sel)
    feat_mean = feat_sum / weight_sum.clamp_min(1e-6)[:, None]
    normal = F.normalize(normal_sum, dim=-1, eps=1e-8)
    rgb = colour.decode(feat_mean, normal, dirs, view_dependent) * opacity[:, None]
    return RenderOutput(rgb, opacity, depth, normal)


class Background(nn.Module):
    """What lies outside the unit sphere, for captures without masks: K
    concentric equirectangular RGBA shells (a multi-sphere image, as NeRF++'s
    outer volume but on a grid) at radii uniform in inverse distance from
    `inner_radius` to `far_radius`; the last shell is opaque.
    Directions are taken in a frame whose pole is `up`.

    A capture shot against a wall (or on a table) may add a support plane
    (`set_plane`): an opaque textured plane in front of the shells, so the
    wall is explained with the right parallax instead of by the grid. Rays
    that reach it stop there (`plane_distance` clips the grid's interval)."""

    def __init__(
        self,
        shells: int,
        rows: int,
        cols: int,
        far_radius: float,
        up: torch.Tensor,
        device: torch.device | str = "cpu",
        inner_radius: float = 1.5,
    ):
        super().__init__()
        inv = torch.linspace(1.0 / inner_radius, 1.0 / far_radius, shells, device=device)
        self.register_buffer("radii", 1.0 / inv)
        init = torch.zeros(4, shells, rows, cols, device=device)
        init[3] = -2.0  # mostly transparent shells at first
        self.texture = nn.Parameter(init)
        up = F.normalize(up.to(device=device, dtype=torch.float32), dim=0)
        helper = torch.tensor([1.0, 0.0, 0.0], device=device)
        if abs(float(up @ helper)) > 0.9:
            helper = torch.tensor([0.0, 1.0, 0.0], device=device)
        x = F.normalize(torch.linalg.cross(helper, up), dim=0)
        y = torch.linalg.cross(up, x)
        self.register_buffer("basis", torch.stack([x, y, up]))  # rows: x, y, pole
        self.plane_texture: nn.Parameter | None = None
        self.plane: tuple[torch.Tensor, float, torch.Tensor, float] | None = None  # normal, offset, axes, extent

    def set_plane(self, normal: np.ndarray, offset: float, extent: float, resolution: int = 256) -> None:
        """Add the support plane {x : normal . x + offset = 0} (normal towards the
        cameras), textured over the square of half-size `extent` around the
        point nearest the origin, with `resolution`^2 texels (grey at first)."""
        dev = self.radii.device
        n = F.normalize(torch.as_tensor(np.asarray(normal), dtype=torch.float32, device=dev), dim=0)
        helper = self.basis[2] if abs(float(n @ self.basis[2])) < 0.9 else self.basis[0]
        a = F.normalize(torch.linalg.cross(helper, n), dim=0)
        b = torch.linalg.cross(n, a)
        self.plane = (n, float(offset), torch.stack([a, b]), float(extent))
        self.plane_texture = nn.Parameter(torch.zeros(3, resolution, resolution, device=dev))

    def plane_distance(self, origins: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
        """Distance (B,) along each ray to the support plane where the ray
        meets its front side; inf where it does not (or without a plane)."""
        if self.plane is None:
            return torch.full(origins.shape[:1], torch.inf, device=origins.device, dtype=origins.dtype)
        n, offset, _, _ = self.plane
        height = origins @ n + offset  # > 0: in front
        cos = dirs @ n
        t = -height / torch.where(cos < -1e-6, cos, torch.full_like(cos, -1e-6))
        return torch.where((height > 0) & (cos < -1e-6), t, torch.full_like(t, torch.inf))

    def forward(self, origins: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
        """RGB (B, 3) in [0, 1] seen along rays beyond the unit sphere (and,
        with a support plane, beyond the plane where a ray meets it)."""
        shells = self._shells(origins, dirs)
        if self.plane is None or self.plane_texture is None:
            return shells
        _, _, axes, extent = self.plane
        t = self.plane_distance(origins, dirs)
        hit = torch.isfinite(t)
        p = origins + torch.where(hit, t, torch.zeros_like(t))[:, None] * dirs
        uv = (p @ axes.t()) / extent  # [-1, 1] inside the textured square
        hit = hit & (uv.abs() <= 1).all(-1)
        tex = F.grid_sample(self.plane_texture.unsqueeze(0), uv.view(1, -1, 1, 2), mode="bilinear",
                            padding_mode="border", align_corners=True)
        plane_rgb = torch.sigmoid(tex.view(3, -1).t())
        return torch.where(hit[:, None], plane_rgb, shells)

    def _shells(self, origins: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
        """RGB (B, 3) of the shells along rays from inside the unit sphere."""
        k = self.radii.shape[0]
        b = (origins * dirs).sum(-1, keepdim=True)  # (B, 1)
        c = (origins * origins).sum(-1, keepdim=True) - self.radii.square()  # (B, K)
        disc = b * b - c
        t = -b + disc.clamp_min(0).sqrt()  # far intersections (B, K)
        valid = (disc > 0) & (t > 0)
        p = origins[:, None] + t[..., None] * dirs[:, None]  # (B, K, 3)
        local = F.normalize(p, dim=-1) @ self.basis.t()
        u = torch.atan2(local[..., 1], local[..., 0]) / torch.pi  # [-1, 1]
        v = -torch.asin(local[..., 2].clamp(-1, 1)) / (0.5 * torch.pi)  # pole at the top row
        w = (torch.arange(k, device=p.device, dtype=p.dtype) / max(k - 1, 1)) * 2 - 1
        grid = torch.stack([u, v, w.expand_as(u)], -1).view(1, -1, 1, 1, 3)
        tex = F.grid_sample(self.texture.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=True)
        tex = tex.view(4, -1, k).permute(1, 2, 0)  # (B, K, 4)
        rgb = torch.sigmoid(tex[..., :3])
        alpha = torch.sigmoid(tex[..., 3]) * valid
        alpha = torch.cat([alpha[:, :-1], torch.ones_like(alpha[:, -1:])], -1)
        w_bg = weights_of(alpha)
        return (w_bg[..., None] * rgb).sum(1)
