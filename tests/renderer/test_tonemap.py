"""Display curves: known values, monotonicity, range, and the loss tone space."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.imageio import linear_to_srgb, srgb_to_linear
from renderer.tonemap import (
    VIEW_TRANSFORMS,
    aces_fitted,
    agx,
    apply_exposure,
    decode_srgb,
    display,
    encode_srgb,
    tone_for_loss,
)

DT = torch.float64


def _grey(values: torch.Tensor) -> torch.Tensor:
    return values[:, None].expand(-1, 3)


def test_srgb_known_values_and_inverse() -> None:
    assert float(encode_srgb(torch.tensor(0.5, dtype=DT))) == pytest.approx(0.7354, abs=1e-4)
    assert float(encode_srgb(torch.tensor(0.18, dtype=DT))) == pytest.approx(0.4614, abs=1e-4)
    assert float(encode_srgb(torch.tensor(1.0, dtype=DT))) == pytest.approx(1.0, abs=1e-12)
    assert float(encode_srgb(torch.tensor(0.002, dtype=DT))) == pytest.approx(0.02584, abs=1e-9)  # linear toe
    x = torch.linspace(0, 1, 1001, dtype=DT)
    assert torch.allclose(decode_srgb(encode_srgb(x)), x, atol=1e-12)
    # The same curves as the image loader's (one sRGB in the project).
    assert np.allclose(encode_srgb(x).numpy(), linear_to_srgb(x.numpy()), atol=1e-12)
    assert np.allclose(decode_srgb(x).numpy(), srgb_to_linear(x.numpy()), atol=1e-12)


def test_exposure_is_in_stops() -> None:
    x = torch.tensor([0.1, 0.2, 0.3])
    assert torch.allclose(apply_exposure(x, 1.0), 2 * x)
    assert torch.allclose(apply_exposure(x, -2.0), x / 4)


@pytest.mark.parametrize("transform", VIEW_TRANSFORMS)
def test_view_transforms_are_monotone_bounded_and_neutral(transform: str) -> None:
    ramp = torch.logspace(-5, 4, 2000, dtype=DT)
    out = display(_grey(ramp), 0.0, transform)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert (out[1:, 0] - out[:-1, 0] >= -1e-12).all()  # never decreasing
    mid = (ramp > 0.01) & (ramp < 0.9)  # ACES crushes below ~0.002; standard clips at 1
    assert (out[1:, 0][mid[1:]] > out[:-1, 0][mid[1:]]).all()  # strictly increasing where it matters
    assert torch.allclose(out[:, 0], out[:, 1], atol=2e-3) and torch.allclose(out[:, 0], out[:, 2], atol=2e-3)  # greys stay grey
    assert float(display(torch.zeros(1, 3, dtype=DT), 0.0, transform).max()) < 0.01  # black is black
    assert float(display(torch.full((1, 3), 1e4, dtype=DT), 0.0, transform).min()) > 0.95  # highlights reach white


def test_view_transform_known_values() -> None:
    grey = torch.full((1, 3), 0.18, dtype=DT)
    assert float(display(grey, 0.0, "standard")[0, 0]) == pytest.approx(0.4614, abs=1e-4)
    assert float(display(grey, 1.0, "standard")[0, 0]) == pytest.approx(float(encode_srgb(torch.tensor(0.36))), abs=1e-4)
    # Hill's fit at 0.18 / 0.6 = 0.3: RRT/ODT fit (0.3 (0.3 + 0.0245786) - 0.000090537)
    # / (0.3 (0.983729 0.3 + 0.432951) + 0.238081) = 0.21311 (grey passes the matrices).
    assert float(aces_fitted(grey)[0, 0]) == pytest.approx(0.21311, abs=2e-4)
    assert float(display(grey, 0.0, "aces")[0, 0]) == pytest.approx(0.5, abs=0.01)
    # Minimal AgX: log2(0.18) -> (log2 + 12.47393) / 16.5 = 0.60607 -> polynomial 0.4966.
    assert float(agx(grey)[0, 0]) == pytest.approx(0.4966, abs=2e-3)
    # Standard clips: anything at or above 1 is white.
    assert float(display(torch.full((1, 3), 3.0), 0.0, "standard")[0, 0]) == pytest.approx(1.0)


def test_unknown_transform_is_refused() -> None:
    with pytest.raises(ValueError, match="filmic"):
        display(torch.zeros(1, 3), 0.0, "filmic")  # type: ignore[arg-type]


def test_tone_for_loss_spaces_and_gradients() -> None:
    x = torch.tensor([0.0, 1e-4, 0.05, 0.5, 1.0, 4.0], dtype=DT, requires_grad=True)
    ldr = tone_for_loss(x, hdr_input=False)
    hdr = tone_for_loss(x, hdr_input=True)
    assert torch.allclose(ldr[:5], encode_srgb(x[:5]))
    assert torch.allclose(hdr, torch.log1p(x))
    (ldr.sum() + hdr.sum()).backward()
    assert torch.isfinite(x.grad).all()
    assert (x.grad > 0).all()  # over-bright predictions (4.0) still get pulled down
    assert torch.autograd.gradcheck(lambda t: tone_for_loss(t, False), (torch.tensor([0.01, 0.3, 2.0], dtype=DT, requires_grad=True),))
