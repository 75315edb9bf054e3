"""Physics of the glTF BRDF: normalisation, reciprocity, energy, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from renderer.brdf import (
    MIN_ROUGHNESS,
    alpha_from_roughness,
    brdf_eval,
    brdf_terms,
    fresnel_schlick,
    ggx_d,
    smith_v_height_correlated,
)

DT = torch.float64


def _unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x, dim=-1)


def _upper_hemisphere(n: int, gen: torch.Generator) -> torch.Tensor:
    d = _unit(torch.randn(n, 3, generator=gen, dtype=DT))
    return torch.where(d[:, 2:3] < 0.05, _unit(d * torch.tensor([1.0, 1.0, -1.0], dtype=DT) + torch.tensor([0, 0, 0.2], dtype=DT)), d)


def _hemisphere_grid(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Midpoint quadrature over the +z hemisphere: directions (M,3), solid angles (M,)."""
    theta = (torch.arange(n, dtype=DT) + 0.5) * (0.5 * math.pi / n)
    phi = (torch.arange(4 * n, dtype=DT) + 0.5) * (2 * math.pi / (4 * n))
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    d = torch.stack([torch.sin(t) * torch.cos(p), torch.sin(t) * torch.sin(p), torch.cos(t)], -1).reshape(-1, 3)
    dw = (torch.sin(t) * (0.5 * math.pi / n) * (2 * math.pi / (4 * n))).reshape(-1)
    return d, dw


@pytest.mark.parametrize("roughness", [0.3, 0.5, 0.8, 1.0])
def test_ggx_d_is_normalised(roughness: float) -> None:
    """The projected microfacet area integrates to one: int D(h) (n.h) dw_h = 1."""
    h, dw = _hemisphere_grid(600)
    alpha = alpha_from_roughness(torch.tensor(roughness, dtype=DT))
    total = (ggx_d(h[:, 2], alpha) * h[:, 2] * dw).sum()
    assert float(total) == pytest.approx(1.0, abs=2e-3)


def test_height_correlated_g2_is_a_probability() -> None:
    """G2 = 4 NdotL NdotV V lies in (0, 1] and is 1 at normal incidence on a smooth surface."""
    nv, nl = torch.meshgrid(torch.linspace(0.01, 1, 50, dtype=DT), torch.linspace(0.01, 1, 50, dtype=DT), indexing="ij")
    for r in (MIN_ROUGHNESS, 0.3, 0.7, 1.0):
        alpha = alpha_from_roughness(torch.tensor(r, dtype=DT))
        g2 = 4 * nl * nv * smith_v_height_correlated(nv, nl, alpha)
        assert float(g2.min()) > 0 and float(g2.max()) <= 1 + 1e-12
    g_normal = 4 * smith_v_height_correlated(torch.tensor(1.0, dtype=DT), torch.tensor(1.0, dtype=DT), torch.tensor(0.0009, dtype=DT))
    assert float(g_normal) == pytest.approx(1.0, abs=1e-6)


def test_fresnel_schlick_limits() -> None:
    f0 = torch.tensor([0.04, 0.5, 1.0], dtype=DT)
    assert torch.allclose(fresnel_schlick(f0, torch.ones(3, dtype=DT)), f0)
    assert torch.allclose(fresnel_schlick(f0, torch.zeros(3, dtype=DT)), torch.ones(3, dtype=DT))


def test_brdf_is_reciprocal() -> None:
    """Helmholtz reciprocity: f(v, l) = f(l, v) for every material."""
    gen = torch.Generator().manual_seed(1)
    n_samples = 2000
    n = torch.tensor([[0.0, 0.0, 1.0]], dtype=DT).expand(n_samples, 3)
    v, l = _upper_hemisphere(n_samples, gen), _upper_hemisphere(n_samples, gen)
    albedo = torch.rand(n_samples, 3, generator=gen, dtype=DT)
    roughness = torch.rand(n_samples, 1, generator=gen, dtype=DT)
    metallic = torch.rand(n_samples, 1, generator=gen, dtype=DT)
    forward = brdf_eval(n, v, l, albedo, roughness, metallic)
    backward = brdf_eval(n, l, v, albedo, roughness, metallic)
    assert torch.allclose(forward, backward, rtol=1e-10, atol=1e-12)
    assert float(forward.min()) >= 0


def test_brdf_is_zero_below_the_horizon() -> None:
    n = torch.tensor([[0.0, 0.0, 1.0]], dtype=DT)
    v = torch.tensor([[0.0, 0.6, 0.8]], dtype=DT)
    l = torch.tensor([[0.0, 0.6, -0.8]], dtype=DT)
    f = brdf_eval(n, v, l, torch.ones(1, 3, dtype=DT), torch.full((1, 1), 0.5, dtype=DT), torch.zeros(1, 1, dtype=DT))
    assert float(f.abs().max()) == 0.0


def _directional_albedo(
    n_dot_v: torch.Tensor, roughness: torch.Tensor, metallic: float, samples: int = 8192
) -> tuple[torch.Tensor, torch.Tensor]:
    """int f cos dl for albedo 1 at K (NdotV, roughness) pairs (K,), each (K,):
    the diffuse part by cosine sampling and the specular part by GGX
    half-vector sampling (each estimator matched to its lobe)."""
    gen = torch.Generator().manual_seed(7)
    k = n_dot_v.shape[0]
    rows = k * samples
    n = torch.tensor([[0.0, 0.0, 1.0]], dtype=DT).expand(rows, 3)
    mu = n_dot_v.to(DT).repeat_interleave(samples)[:, None]
    v = torch.cat([torch.sqrt(1 - mu**2), torch.zeros_like(mu), mu], -1)
    ones = torch.ones(rows, 3, dtype=DT)
    r = roughness.to(DT).repeat_interleave(samples)[:, None]
    m = torch.full((rows, 1), metallic, dtype=DT)
    xi1, xi2 = torch.rand(rows, generator=gen, dtype=DT), torch.rand(rows, generator=gen, dtype=DT)
    phi = 2 * math.pi * xi1
    # Diffuse: cosine-weighted l, pdf = cos / pi.
    sin_t = torch.sqrt(xi2)
    l_cos = torch.stack([sin_t * torch.cos(phi), sin_t * torch.sin(phi), torch.sqrt(1 - xi2)], -1)
    f_d, _ = brdf_terms(n, v, l_cos, ones, r, m)
    diffuse = (f_d[:, 0] * math.pi).reshape(k, samples).mean(1)
    # Specular: GGX-distributed h, pdf(l) = D (n.h) / (4 v.h).
    alpha = alpha_from_roughness(r[:, 0])
    cos_h = torch.sqrt((1 - xi2) / (1 + (alpha**2 - 1) * xi2))
    sin_h = torch.sqrt(1 - cos_h**2)
    h = torch.stack([sin_h * torch.cos(phi), sin_h * torch.sin(phi), cos_h], -1)
    v_dot_h = (v * h).sum(-1)
    l_spec = 2 * v_dot_h[:, None] * h - v
    _, f_s = brdf_terms(n, v, l_spec, ones, r, m)
    pdf = ggx_d(cos_h, alpha, sin_h**2) * cos_h / (4 * v_dot_h.clamp_min(1e-12))
    weight = torch.where(l_spec[:, 2] > 0, f_s[:, 0] * l_spec[:, 2] / pdf, torch.zeros_like(pdf))
    return diffuse, weight.reshape(k, samples).mean(1)


GRID_ROUGHNESS = (MIN_ROUGHNESS, 0.1, 0.3, 0.6, 1.0)
GRID_NDOTV = (0.05, 0.3, 0.7, 1.0)


@pytest.mark.parametrize("metallic", [0.0, 1.0])
def test_directional_albedo_never_exceeds_one(metallic: float) -> None:
    """Energy conservation: a white surface reflects at most what it receives."""
    r, mu = torch.meshgrid(torch.tensor(GRID_ROUGHNESS), torch.tensor(GRID_NDOTV), indexing="ij")
    diffuse, specular = _directional_albedo(mu.reshape(-1), r.reshape(-1), metallic)
    total = diffuse + specular
    assert float(total.max()) <= 1.005, total.reshape(r.shape)
    assert float(total.min()) > 0.3
    if metallic == 0.0:
        # The energy-conserving diffuse coupling: a white dielectric is a white
        # furnace for every view and roughness (the glTF Appendix B coupling
        # reaches 1.7 at grazing angles on smooth surfaces).
        assert torch.allclose(total, torch.ones_like(total), atol=0.01), total.reshape(r.shape)
    else:
        # A smooth mirror (metal) reflects (almost) everything; rough metals lose
        # the multiple-scattering energy single-scattering GGX does not model.
        assert torch.allclose(total.reshape(r.shape)[0], torch.ones(len(GRID_NDOTV), dtype=DT), atol=5e-3)
        assert float(total.reshape(r.shape)[-1, -1]) < 0.5


def test_brdf_gradcheck() -> None:
    """Finite differences agree with autograd for every input of the BRDF."""
    gen = torch.Generator().manual_seed(3)
    k = 6
    n = _unit(torch.tensor([[0.1, 0.2, 1.0]], dtype=DT).expand(k, 3) + 0.1 * torch.randn(k, 3, generator=gen, dtype=DT))
    v = _unit(torch.tensor([[0.3, 0.0, 1.0]], dtype=DT).expand(k, 3) + 0.1 * torch.randn(k, 3, generator=gen, dtype=DT))
    l = _unit(torch.tensor([[-0.2, 0.4, 1.0]], dtype=DT).expand(k, 3) + 0.1 * torch.randn(k, 3, generator=gen, dtype=DT))
    albedo = torch.rand(k, 3, generator=gen, dtype=DT)
    roughness = 0.2 + 0.7 * torch.rand(k, 1, generator=gen, dtype=DT)
    metallic = torch.rand(k, 1, generator=gen, dtype=DT)
    inputs = tuple(x.clone().requires_grad_(True) for x in (n, v, l, albedo, roughness, metallic))
    assert torch.autograd.gradcheck(brdf_eval, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_roughness_clamp_keeps_highlights_finite() -> None:
    n = torch.tensor([[0.0, 0.0, 1.0]])
    f = brdf_eval(n, n, n, torch.ones(1, 3), torch.zeros(1, 1), torch.ones(1, 1))
    assert torch.isfinite(f).all()
    expected = 1.0 / (math.pi * MIN_ROUGHNESS**4)  # D peak * V(1,1) * 4 = D peak; f = D V = D/4
    assert float(f[0, 0]) == pytest.approx(expected / 4, rel=1e-4)
    assert np.isfinite(expected)
