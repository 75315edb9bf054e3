"""renderer/specular_lobe.py on its own: the sample set, the frame, chunking.
(Its accuracy against Monte Carlo is in test_shade.py; GLSL parity in
test_gl_parity.py.)"""

from __future__ import annotations

import torch

import renderer.specular_lobe as lobe
from renderer.envmap import prefilter_torch


def _inputs(count: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    n = torch.nn.functional.normalize(torch.randn(count, 3, generator=gen), dim=-1)
    v = torch.nn.functional.normalize(n + torch.randn(count, 3, generator=gen), dim=-1)
    roughness = torch.rand(count, 1, generator=gen)
    stack, _ = prefilter_torch(torch.rand(16, 32, 3, generator=gen) * 3.0, 6)
    return n, v, roughness, stack


def test_sample_set_is_stratified_in_radius_and_van_der_corput_in_angle() -> None:
    samples = lobe.sample_set(8)
    assert [s[0] for s in samples] == [(k + 0.5) / 8 for k in range(8)]
    assert [s[1] for s in samples] == [0.0, 0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875]


def test_tangent_frame_is_orthonormal_and_follows_the_view() -> None:
    n, v, _, _ = _inputs(500)
    v[:5] = n[:5]  # views along the normal take the fallback frame
    t, b = lobe.tangent_frame(n, v)
    for x, y in ((t, b), (t, n), (b, n)):
        assert torch.allclose((x * y).sum(-1), torch.zeros(500), atol=1e-5)
    for x in (t, b):
        assert torch.allclose(x.norm(dim=-1), torch.ones(500), atol=1e-5)
    assert torch.allclose(torch.linalg.cross(t, b), n, atol=1e-5)  # right-handed
    assert bool(((v * b).sum(-1).abs() < 1e-5).all())  # v lies in the (t, n) plane
    assert bool(((v * t).sum(-1)[5:] > 0).all())


def test_chunked_frames_equal_one_pass(monkeypatch) -> None:
    n, v, roughness, stack = _inputs(3000)
    fallback = torch.zeros_like(n)
    whole = lobe.lobe_radiance(n, v, roughness, stack, 30.0, fallback)
    monkeypatch.setattr(lobe, "CHUNK_LOOKUPS", lobe.RENDER_SAMPLES * 700)
    assert torch.equal(lobe.lobe_radiance(n, v, roughness, stack, 30.0, fallback), whole)


def test_unshifted_set_is_the_fixed_one() -> None:
    disk = lobe.shifted_disk(32, torch.zeros(3, 2))
    fixed = torch.tensor(lobe.disk_points(32))
    assert torch.allclose(disk, fixed.expand(3, -1, -1), atol=1e-6)


def test_shifted_sets_stay_stratified_and_average_to_the_dense_lobe() -> None:
    """The fit's lobe ratio shifts each pixel's set at random: the set must
    keep one point per radial stratum, and its estimate of a lobe integral
    must average to the dense one where the fixed set is off."""
    n, v, roughness, _ = _inputs(200)
    gen = torch.Generator().manual_seed(1)
    disk = lobe.shifted_disk(8, torch.rand(200, 2, generator=gen))
    strata = (disk.square().sum(-1) * 8).floor().sort(-1).values
    assert torch.equal(strata, torch.arange(8.0).expand(200, -1))

    def integral(count: int, disk: torch.Tensor | None = None) -> torch.Tensor:
        """E[w f(l)] over the visible normals (the unnormalised estimator, unbiased)."""
        l, w, _ = lobe.lobe_samples(n, v, roughness, count, disk)
        return (w * torch.exp(l[..., 0] + 0.5 * l[..., 1])).mean(1)

    dense = integral(4096)
    fixed = integral(4)
    shifted = torch.stack([integral(4, lobe.shifted_disk(4, torch.rand(200, 2, generator=gen))) for _ in range(256)]).mean(0)
    fixed_error, shifted_error = (fixed - dense).abs().mean(), (shifted - dense).abs().mean()
    assert shifted_error < 0.25 * fixed_error, (float(shifted_error), float(fixed_error))
