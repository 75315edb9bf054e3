"""benchmarks/lobe_error.py's Monte Carlo reference: it must integrate the
BRDF exactly where the answer is known, or its verdicts on Relit's
environment term mean nothing."""

from __future__ import annotations

import torch

from benchmarks.lobe_error import monte_carlo
from models.lighting import Environment
from renderer.shade import EnvironmentTextures, MaterialSample, SurfaceSample, shade_environment


def _pixels(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    n = torch.nn.functional.normalize(torch.randn(count, 3, generator=gen, dtype=torch.float64), dim=-1)
    v = torch.nn.functional.normalize(n + 0.7 * torch.randn(count, 3, generator=gen, dtype=torch.float64), dim=-1)
    v = torch.where((n * v).sum(-1, keepdim=True) < 0.2, n, v)
    return n, v


def test_white_furnace_of_the_reference() -> None:
    """A white dielectric of any roughness in a uniform light reflects exactly
    that light (the BRDF conserves energy); a metal reflects F0 A + B of it."""
    n, v = _pixels(24, 0)
    radiance = torch.full((8, 16, 3), 1.5, dtype=torch.float64)
    rough = torch.linspace(0.1, 1.0, 24, dtype=torch.float64)[:, None]
    white = torch.ones(24, 3, dtype=torch.float64)
    spec, diff = monte_carlo(n, v, white, rough, torch.zeros(24, 1, dtype=torch.float64), radiance, 2048)
    assert torch.allclose(spec + diff, torch.full_like(spec, 1.5), rtol=0.02), (spec + diff)[:, 0]
    assert float(diff.min()) > 0.5  # both lobes take part


def test_reference_agrees_with_the_split_sum_where_it_is_exact() -> None:
    """On a smooth light the split sum with many lookups is close to exact;
    the reference must agree with it there (within 3%), metal and dielectric."""
    n, v = _pixels(40, 1)
    height = 16
    rows = torch.linspace(0.0, 1.0, height, dtype=torch.float64)[:, None, None]
    cols = torch.linspace(0.0, 1.0, 2 * height, dtype=torch.float64)[None, :, None]
    radiance = (0.5 + rows * torch.tensor([1.0, 0.6, 0.3], dtype=torch.float64) + 0.3 * torch.cos(6.283 * cols)).expand(height, 2 * height, 3).contiguous()
    env = EnvironmentTextures.from_environment(Environment(radiance.float().numpy()), width=2 * height)
    env = EnvironmentTextures(env.specular.double(), env.irradiance.double(), env.dfg.double(), lobe_samples=128)
    for metallic in (0.0, 1.0):
        material = MaterialSample(torch.full((40, 3), 0.7, dtype=torch.float64), torch.full((40, 1), 0.6, dtype=torch.float64),
                                  torch.full((40, 1), metallic, dtype=torch.float64))
        spec, diff = monte_carlo(n, v, material.albedo, material.roughness, material.metallic, env.specular[0], 4096)
        ours = sum(shade_environment(SurfaceSample(torch.zeros_like(n), n, v), material, env))
        assert float(((ours - spec - diff).abs() / (spec + diff)).max()) < 0.03, metallic
