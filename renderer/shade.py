"""The "pixel shader": one shading pass that yields every named buffer.

GLSL MIRROR: the viewport fragment shader must compute exactly this.

Per sample (all inputs flat (N, ...), so the same call shades whole images
and random pixel batches):
    NdotV = max(dot(n, v), NDOTV_MIN)
    F0    = mix(0.04, albedo, metallic)
    (A,B) = texture(dfg, vec2(NdotV, roughness))
    R     = reflect(-v, n) = 2 dot(n, v) n - v   (raw dot, not clamped)
    R_dom = normalize(mix(n, R, s (sqrt(s) + alpha))), s = 1 - alpha, alpha = clamp(r, MIN_ROUGHNESS, 1)^2
            (Lagarde & de Rousiers 2014 "dominant direction": the rough lobe's
            peak leans towards n; against Monte Carlo of the BRDF it cuts the
            split-sum error of rough metals from ~30% to ~4% at r = 1)
  environment (split sum; lookups rotated, d_env = R_y(-rotation) d, times scale):
    specular_env = lobe(n, v, roughness) * (F0 A + B) * spec_occlusion
      lobe: the prefiltered radiance averaged over lobe_samples GGX visible-
      normal samples (renderer/specular_lobe.py: the classic single lookup
      assumes a round lobe and rendered rough metals 14% too dark); the DFG
      factor carries the energy. lobe_samples 0, or no sample above the
      horizon: prefiltered(R_dom, roughness), the classic split sum.
    diffuse_env  = max(irradiance(n) * ao + bounce, 0) * albedo * (1 - metallic) * (1 - (0.04 A + B))
      (bounce: the one-bounce irradiance plus the visibility maps' correction
      of AO under this light, renderer/diffuse_occlusion.py; may be < 0)
  The diffuse weight (1 - E_dielectric) with E_dielectric = 0.04 A + B, the
  directional albedo of glTF's dielectric specular layer, is the energy-
  conserving form of glTF's fresnel_mix: a white (albedo 1) dielectric under
  a uniform environment reflects exactly the environment (white furnace).
  Metals (metallic 1) have no diffuse; in between is glTF's linear mix.
    spec_occlusion = clamp((NdotV + ao)^(exp2(-16 alpha - 1)) - 1 + ao, 0, 1)
  (Lagarde & de Rousiers 2014, alpha = clamp(r, MIN_ROUGHNESS, 1)^2; 1 at ao = 1.)
  With baked specular visibility (renderer/visibility.py: where each vertex
  sees the environment) it replaces that guess: each lobe sample is
  weighted by the visibility in its direction, and the classic single lookup
  is scaled by the lobe's open share (VISIBILITY_SAMPLES directions).
  GLSL (common/visibility.glsl, common/specular_lobe.glsl) mirrors both.
  With one bounce (renderer/interreflection.py) the blocked directions bring
  the object's own light: each lobe sample adds the bounce maps' radiance in
  its direction, the single lookup the bounce averaged over the same
  VISIBILITY_SAMPLES directions, and the diffuse term adds the bounce
  irradiance to irradiance(n) * ao (GLSL: common/visibility.glsl's
  visibility_light_at and bounce_irradiance_at).
  punctual lights (no AO; optional visibility in [0,1] per light from shadow rays):
    diffuse_k, specular_k = brdf_terms(n, v, l_k) * E_k * NdotL_k * visibility_k
  (renderer/brdf.py; its energy-conserving diffuse coupling reads the DFG
  table: the environment's, or the default table when there is none).
shaded = diffuse + specular (linear radiance, the environment's units).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from models.lighting import Environment, PunctualLight
from renderer.brdf import DIELECTRIC_F0, NDOTV_MIN, alpha_from_roughness, brdf_terms, sample_dfg, specular_f0
from renderer.envmap import (
    dfg_table,
    prefilter_environment,
    prefilter_torch,
    rotate_to_environment,
    sample_equirect,
    sample_specular,
)
from renderer.lights import LightTensors, light_incidence
from renderer.specular_lobe import RENDER_SAMPLES, lobe_bounce, lobe_radiance, lobe_visibility
from renderer.visibility import SpecularVisibility

BUFFERS = ("shaded", "diffuse", "specular", "albedo", "roughness", "metallic", "normal", "ao")


@dataclass
class SurfaceSample:
    """Geometry at N shading points: position (N,3) world; normal (N,3) unit;
    view (N,3) unit, pointing from the point to the camera; ao (N,1) baked
    ambient occlusion in [0,1] (1 = open) or None for none; visibility the
    baked specular visibility of these points (renderer/visibility.py) or
    None, when the specular light is dimmed by ao alone; specular_open (N,1)
    the lobe's open share already worked out from those maps (the fitter's
    per-pixel table; (N,3) with its lobe ratio folded in), which the single
    lookup then uses as is; bounce_irradiance (N,3) the irradiance / pi the
    object's own surfaces send (renderer/interreflection.py; the fitter's
    per-pixel copy, else the visibility's, if it has any) and
    bounce_radiance (N,3) their light averaged over the specular lobe,
    which the single lookup with specular_open adds; lobe_shift (N,2) in
    [0,1) moves each point's lobe samples (renderer/specular_lobe.shifted_disk;
    the fitter's lobe ratio), None keeps the fixed set of still frames."""

    position: Tensor
    normal: Tensor
    view: Tensor
    ao: Tensor | None = None
    visibility: SpecularVisibility | None = None
    specular_open: Tensor | None = None
    bounce_irradiance: Tensor | None = None
    bounce_radiance: Tensor | None = None
    lobe_shift: Tensor | None = None


@dataclass
class MaterialSample:
    """Material at N shading points (already sampled from the maps):
    albedo (N,3) linear base colour; roughness (N,1) perceptual; metallic (N,1)."""

    albedo: Tensor
    roughness: Tensor
    metallic: Tensor


@dataclass
class EnvironmentTextures:
    """The environment as the shader sees it (all tensors on one device).

    specular (L,H,W,3) prefiltered stack; irradiance (h,w,3) radiance-convolved
    / pi; dfg (S,S,2) the split-sum table; rotation_deg about +Y; scale =
    strength * 2^exposure (float or tensor, multiplies both lookups).
    lobe_samples: lookups per pixel across the specular lobe (0: the classic
    split sum's single lookup).
    """

    specular: Tensor
    irradiance: Tensor
    dfg: Tensor
    rotation_deg: float | Tensor = 0.0
    scale: float | Tensor = 1.0
    lobe_samples: int = RENDER_SAMPLES

    @property
    def levels(self) -> int:
        return int(self.specular.shape[0])

    @staticmethod
    def from_environment(
        env: Environment,
        device: str | torch.device = "cpu",
        levels: int = 6,
        width: int = 256,
        irradiance_width: int = 32,
    ) -> "EnvironmentTextures":
        """Prefilter a model Environment (not differentiable)."""
        pre = prefilter_environment(env.radiance, levels, width, irradiance_width, device)
        return EnvironmentTextures(
            torch.as_tensor(pre.specular, device=device),
            torch.as_tensor(pre.irradiance, device=device),
            torch.tensor(dfg_table(), device=device),
            env.rotation_deg,
            env.scale,
        )

    @staticmethod
    def from_radiance_tensor(
        radiance: Tensor,
        rotation_deg: float | Tensor = 0.0,
        scale: float | Tensor = 1.0,
        levels: int = 6,
        width: int | None = None,
        irradiance_width: int = 32,
    ) -> "EnvironmentTextures":
        """Differentiable build from a radiance tensor (H,W,3) (e.g. exp of the
        fitter's log-space texels); the tables follow radiance's device."""
        specular, irradiance = prefilter_torch(radiance, levels, width, irradiance_width)
        dfg = torch.tensor(dfg_table(), dtype=radiance.dtype, device=radiance.device)
        return EnvironmentTextures(specular, irradiance, dfg, rotation_deg, scale)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(-1, keepdim=True)


def specular_occlusion(n_dot_v: Tensor, ao: Tensor, roughness: Tensor) -> Tensor:
    """Lagarde's specular occlusion (N,1) from NdotV, ao and roughness (N,1)."""
    alpha = alpha_from_roughness(roughness)
    return ((n_dot_v + ao).pow(torch.exp2(-16.0 * alpha - 1.0)) - 1.0 + ao).clamp(0.0, 1.0)


def dominant_direction(n: Tensor, reflected: Tensor, roughness: Tensor) -> Tensor:
    """Lagarde's specular dominant direction (N,3): R pulled towards n as the lobe widens."""
    alpha = alpha_from_roughness(roughness)
    smooth = 1.0 - alpha
    # s (sqrt(s) + alpha) written as s^1.5 + s alpha: the same value, but a
    # finite gradient at s = 0 (roughness 1), where s * d(sqrt s) is 0 * inf.
    weight = smooth.clamp_min(0.0).pow(1.5) + smooth * alpha
    return torch.nn.functional.normalize(torch.lerp(n, reflected, weight), dim=-1)


def shade_environment(
    surface: SurfaceSample, material: MaterialSample, env: EnvironmentTextures
) -> tuple[Tensor, Tensor]:
    """Split-sum environment light: (diffuse, specular) radiance (N,3) each."""
    n, v = surface.normal, surface.view
    roughness = material.roughness
    n_dot_v_raw = _dot(n, v)
    n_dot_v = n_dot_v_raw.clamp_min(NDOTV_MIN)
    scale_a, bias_b = sample_dfg(env.dfg, n_dot_v, roughness)
    f0 = specular_f0(material.albedo, material.metallic)
    reflected = dominant_direction(n, 2.0 * n_dot_v_raw * n - v, roughness)

    prefiltered = sample_specular(env.specular, rotate_to_environment(reflected, env.rotation_deg), roughness)
    occlusion = None
    if env.lobe_samples > 0:  # the sampled lobe (weighted by the visibility maps, if any)
        prefiltered = lobe_radiance(
            n, v, roughness, env.specular, env.rotation_deg, prefiltered, env.lobe_samples, surface.visibility,
            surface.lobe_shift,
        )
    elif surface.specular_open is not None:  # the fitter's tables
        prefiltered = prefiltered * surface.specular_open
        if surface.bounce_radiance is not None:
            prefiltered = prefiltered + surface.bounce_radiance
    elif surface.visibility is not None:
        prefiltered = prefiltered * lobe_visibility(n, v, roughness, surface.visibility)
        bounced = lobe_bounce(n, v, roughness, surface.visibility)
        if bounced is not None:
            prefiltered = prefiltered + bounced
    if surface.visibility is None and (env.lobe_samples > 0 or surface.specular_open is None) and surface.ao is not None:
        occlusion = specular_occlusion(n_dot_v, surface.ao, roughness)
    specular = prefiltered * env.scale * (f0 * scale_a + bias_b)
    if occlusion is not None:
        specular = specular * occlusion

    irradiance = sample_equirect(env.irradiance, rotate_to_environment(n, env.rotation_deg))
    if surface.ao is not None:
        irradiance = irradiance * surface.ao
    bounced = surface.bounce_irradiance
    if bounced is None and surface.visibility is not None:
        bounced = surface.visibility.irradiance()
    if bounced is not None:  # the object's own light and AO's correction (renderer/interreflection.py)
        irradiance = (irradiance + bounced).clamp_min(0.0)
    dielectric_albedo = DIELECTRIC_F0 * scale_a + bias_b
    diffuse = irradiance * env.scale * material.albedo * (1.0 - material.metallic) * (1.0 - dielectric_albedo)
    return diffuse, specular


def shade_lights(
    surface: SurfaceSample,
    material: MaterialSample,
    lights: Sequence[PunctualLight | LightTensors],
    visibility: Tensor | None = None,
    dfg: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Punctual lights: (diffuse, specular) radiance (N,3) each.

    visibility (N, K) in [0,1] for the K lights (shadow rays), or None;
    dfg the (S,S,2) split-sum table (None: renderer.envmap.dfg_table()).
    """
    n, v = surface.normal, surface.view
    diffuse = torch.zeros_like(material.albedo)
    specular = torch.zeros_like(material.albedo)
    for k, light in enumerate(lights):
        if isinstance(light, PunctualLight):
            light = LightTensors.from_light(light, surface.position.device, surface.position.dtype)
        l, irradiance = light_incidence(light, surface.position)
        f_diffuse, f_specular = brdf_terms(n, v, l, material.albedo, material.roughness, material.metallic, dfg)
        incident = irradiance * _dot(n, l).clamp(0.0, 1.0)
        if visibility is not None:
            incident = incident * visibility[:, k : k + 1]
        diffuse = diffuse + f_diffuse * incident
        specular = specular + f_specular * incident
    return diffuse, specular


def shade(
    surface: SurfaceSample,
    material: MaterialSample,
    env: EnvironmentTextures | None,
    lights: Sequence[PunctualLight | LightTensors] = (),
    visibility: Tensor | None = None,
) -> dict[str, Tensor]:
    """Shade N samples; returns the named buffers in BUFFERS.

    "shaded" (N,3) linear radiance = "diffuse" + "specular" (N,3);
    "albedo" (N,3), "roughness" (N,1), "metallic" (N,1), "normal" (N,3),
    "ao" (N,1) are the inputs passed through for debug views.
    """
    diffuse = torch.zeros_like(material.albedo)
    specular = torch.zeros_like(material.albedo)
    if env is not None:
        d, s = shade_environment(surface, material, env)
        diffuse, specular = diffuse + d, specular + s
    if lights:
        d, s = shade_lights(surface, material, lights, visibility, env.dfg if env is not None else None)
        diffuse, specular = diffuse + d, specular + s
    ao = surface.ao if surface.ao is not None else torch.ones_like(material.roughness)
    return {
        "shaded": diffuse + specular,
        "diffuse": diffuse,
        "specular": specular,
        "albedo": material.albedo,
        "roughness": material.roughness,
        "metallic": material.metallic,
        "normal": surface.normal,
        "ao": ao,
    }
