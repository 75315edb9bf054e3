"""Punctual lights (glTF KHR_lights_punctual) as torch tensors.

GLSL MIRROR: the viewport's light loop must compute the same incidence:
- point: E = color * intensity / d^2 (candela -> lux at distance d; the KHR
  `range` cut-off is not modelled: lights have infinite range);
- directional: E = color * intensity (lux), l = -direction;
- spot: the point term times KHR's smooth cone attenuation
      scale = 1 / max(0.001, cos(inner) - cos(outer)), offset = -cos(outer) * scale,
      att = clamp(dot(direction, -l) * scale + offset, 0, 1)^2.
Outgoing radiance from a light = f(n, v, l) * E * NdotL * visibility.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from models.lighting import PunctualLight

SPOT_MIN_COS_DIFFERENCE = 0.001
"""KHR_lights_punctual's guard on cos(inner) - cos(outer)."""


@dataclass
class LightTensors:
    """One punctual light as tensors, so a fit can optimise its parameters.

    color (3,) linear RGB; intensity () candela (point, spot) or lux
    (directional); position (3,); direction (3,) where the light points
    (need not be unit); inner_cone, outer_cone () radians (spot only).
    """

    kind: str
    color: Tensor
    intensity: Tensor
    position: Tensor
    direction: Tensor
    inner_cone: Tensor
    outer_cone: Tensor

    @staticmethod
    def from_light(
        light: PunctualLight, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> "LightTensors":
        def t(x: object) -> Tensor:
            return torch.as_tensor(x, dtype=dtype, device=device)

        return LightTensors(
            light.kind, t(light.color), t(light.intensity), t(light.position), t(light.direction),
            t(light.inner_cone), t(light.outer_cone),
        )


def spot_attenuation(cos_angle: Tensor, inner_cone: Tensor, outer_cone: Tensor) -> Tensor:
    """KHR smooth cone falloff (N,1) from cos(angle off the spot axis) (N,1)."""
    cos_outer = torch.cos(outer_cone)
    scale = 1.0 / (torch.cos(inner_cone) - cos_outer).clamp_min(SPOT_MIN_COS_DIFFERENCE)
    return (cos_angle * scale - cos_outer * scale).clamp(0.0, 1.0).square()


def light_incidence(light: LightTensors, positions: Tensor) -> tuple[Tensor, Tensor]:
    """Direction to the light l (N,3) (unit) and irradiance E (N,3) on a plane
    facing it, at surface points positions (N,3)."""
    radiant = (light.color * light.intensity).expand(positions.shape[0], 3)
    if light.kind == "directional":
        l = -torch.nn.functional.normalize(light.direction, dim=-1).expand_as(positions)
        return l, radiant
    to_light = light.position - positions
    dist2 = (to_light * to_light).sum(-1, keepdim=True).clamp_min(1e-12)
    l = to_light * torch.rsqrt(dist2)
    irradiance = radiant / dist2
    if light.kind == "spot":
        axis = torch.nn.functional.normalize(light.direction, dim=-1)
        cos_angle = -(l * axis).sum(-1, keepdim=True)
        irradiance = irradiance * spot_attenuation(cos_angle, light.inner_cone, light.outer_cone)
    elif light.kind != "point":
        raise ValueError(f"unknown light kind {light.kind!r} (point, directional, spot)")
    return l, irradiance
