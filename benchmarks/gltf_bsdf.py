"""Relit's shading model as a Mitsuba 3 BSDF plugin (`relit_gltf`).

Why: the benchmark's reference should measure the *inverse* problem (how well
the fit separates material from light, under real light transport), not
the gap between two different BRDF families. Mitsuba's `principled` is the
Disney BRDF (retro-reflective diffuse, its own Fresnel and sheen terms), and
it renders glTF assets 6-14% brighter than glTF's own model would; the
oracle row (ground-truth maps through Relit) stayed at 21-23 dB for that
reason alone. glTF assets are authored for glTF's metallic-roughness model,
so this plugin evaluates exactly the BRDF that renderer/brdf.py documents
(GGX, height-correlated Smith, Schlick with F0 = mix(0.04, albedo, metallic),
the albedo-scaled dielectric diffuse with the same DFG table) inside
Mitsuba's path tracer, which still supplies what Relit approximates:
inter-reflections, exact shadows and exact integration of the environment
(no split sum, no baked AO).

Sampling: one-sample MIS-free mixture of a cosine-weighted diffuse lobe
and GGX visible-normal sampling, with the pdf of the mixture returned so
Mitsuba's next-event estimation can weight by multiple importance sampling.
Needs a JIT variant (llvm_ad_rgb / cuda_ad_rgb): the Python methods are
traced once into the kernel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from renderer.brdf import DIELECTRIC_F0, MIN_ROUGHNESS, NDOTV_MIN

PLUGIN = "relit_gltf"


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """Relit's DFG table (S,S,2) and the dielectric albedo average per
    roughness row (S,): the very arrays renderer/brdf.py and the shaders use."""
    from renderer.envmap import dfg_dielectric_average, dfg_table

    return np.asarray(dfg_table(), np.float32), np.asarray(dfg_dielectric_average(), np.float32)


def register() -> None:
    """Register the `relit_gltf` BSDF with the current Mitsuba variant
    (idempotent per variant)."""
    import drjit as dr
    import mitsuba as mi

    if getattr(register, "_done_for", None) == mi.variant():
        return

    dfg_np, average_np = _tables()
    size = dfg_np.shape[0]
    scalar = mi.variant().startswith("scalar")  # Python floats: index numpy tables directly

    def table(values: np.ndarray):
        return np.ascontiguousarray(values.ravel(), np.float32) if scalar else mi.Float(values.ravel())

    def lerp_lookup(table, row_count: int, col_count: int, channels: int, channel: int, u, r):
        """Bilinear lookup in a (rows=roughness, cols=u, channels) table with
        texel centres at (i + 0.5) / S and clamp to edge (grid_sample's
        align_corners=False, border)."""
        x = dr.clip(u * col_count - 0.5, 0.0, col_count - 1.0)
        y = dr.clip(r * row_count - 0.5, 0.0, row_count - 1.0)
        x0 = mi.UInt32(dr.floor(x))
        y0 = mi.UInt32(dr.floor(y))
        x1 = dr.minimum(x0 + 1, col_count - 1)
        y1 = dr.minimum(y0 + 1, row_count - 1)
        fx = x - mi.Float(x0)
        fy = y - mi.Float(y0)

        def at(yy, xx):
            index = (yy * col_count + xx) * channels + channel
            if scalar:
                return float(table[int(index)])
            return dr.gather(mi.Float, table, index)

        top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx
        bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx
        return top * (1.0 - fy) + bottom * fy

    class RelitGltfBSDF(mi.BSDF):
        def __init__(self, props: Any) -> None:
            mi.BSDF.__init__(self, props)
            self.base_color = props["base_color"]
            self.roughness = props["roughness"]
            self.metallic = props["metallic"]
            self.dfg = table(dfg_np)
            self.average = table(average_np)
            diffuse = mi.BSDFFlags.DiffuseReflection | mi.BSDFFlags.FrontSide
            glossy = mi.BSDFFlags.GlossyReflection | mi.BSDFFlags.FrontSide
            self.m_components = [diffuse, glossy]
            self.m_flags = diffuse | glossy

        # -- the shading model -------------------------------------------------

        def _params(self, si, active):
            albedo = self.base_color.eval(si, active)
            rough = dr.clip(self.roughness.eval_1(si, active), MIN_ROUGHNESS, 1.0)
            metal = dr.clip(self.metallic.eval_1(si, active), 0.0, 1.0)
            return albedo, rough, metal

        def _dielectric_albedo(self, mu, rough):
            a = lerp_lookup(self.dfg, size, size, 2, 0, mu, rough)
            b = lerp_lookup(self.dfg, size, size, 2, 1, mu, rough)
            return DIELECTRIC_F0 * a + b

        def _average(self, rough):
            x = dr.clip(rough * size - 0.5, 0.0, size - 1.0)
            x0 = mi.UInt32(dr.floor(x))
            x1 = dr.minimum(x0 + 1, size - 1)
            f = x - mi.Float(x0)
            if scalar:
                return float(self.average[int(x0)]) * (1.0 - f) + float(self.average[int(x1)]) * f
            return dr.gather(mi.Float, self.average, x0) * (1.0 - f) + dr.gather(mi.Float, self.average, x1) * f

        def _eval(self, si, wo, active, albedo, rough, metal):
            """f * cos(theta_o) and the pdf of `_sample` for direction wo."""
            n_dot_v = dr.maximum(mi.Frame3f.cos_theta(si.wi), NDOTV_MIN)
            n_dot_l_raw = mi.Frame3f.cos_theta(wo)
            n_dot_l = dr.clip(n_dot_l_raw, 0.0, 1.0)
            h = dr.normalize(si.wi + wo)
            n_dot_h = dr.clip(h.z, 0.0, 1.0)
            v_dot_h = dr.clip(dr.dot(si.wi, h), 0.0, 1.0)
            alpha = rough * rough
            a2 = alpha * alpha

            e_v = self._dielectric_albedo(n_dot_v, rough)
            e_l = self._dielectric_albedo(n_dot_l, rough)
            coupling = (1.0 - e_v) * (1.0 - e_l) / (1.0 - self._average(rough))
            diffuse = (1.0 - metal) * albedo * dr.inv_pi * coupling

            f0 = DIELECTRIC_F0 + (albedo - DIELECTRIC_F0) * metal
            fresnel = f0 + (1.0 - f0) * dr.power(1.0 - v_dot_h, 5.0)
            sin2 = h.x * h.x + h.y * h.y
            t = sin2 + n_dot_h * n_dot_h * a2
            d = a2 / (math.pi * t * t)
            gv = n_dot_l * dr.sqrt(n_dot_v * n_dot_v * (1.0 - a2) + a2)
            gl = n_dot_v * dr.sqrt(n_dot_l * n_dot_l * (1.0 - a2) + a2)
            vis = 0.5 / dr.maximum(gv + gl, 1e-12)
            specular = fresnel * d * vis

            lit = active & (n_dot_l_raw > 0.0) & (mi.Frame3f.cos_theta(si.wi) > 0.0)
            value = dr.select(lit, (diffuse + specular) * n_dot_l, 0.0)
            return value, dr.select(lit, self._pdf(si, wo, alpha, albedo, metal), 0.0)

        def _spec_probability(self, si, albedo, metal):
            f0 = DIELECTRIC_F0 + (albedo - DIELECTRIC_F0) * metal
            cos_i = dr.clip(mi.Frame3f.cos_theta(si.wi), 0.0, 1.0)
            fresnel = mi.luminance(f0 + (1.0 - f0) * dr.power(1.0 - cos_i, 5.0))
            diffuse = mi.luminance(albedo) * (1.0 - metal)
            return dr.clip(fresnel / dr.maximum(fresnel + diffuse, 1e-6), 0.1, 0.9)

        def _pdf(self, si, wo, alpha, albedo, metal):
            p_spec = self._spec_probability(si, albedo, metal)
            distr = mi.MicrofacetDistribution(mi.MicrofacetType.GGX, alpha, True)
            h = dr.normalize(si.wi + wo)
            jacobian = 1.0 / dr.maximum(4.0 * dr.dot(wo, h), 1e-12)
            pdf_spec = distr.pdf(si.wi, h) * jacobian
            pdf_diffuse = mi.warp.square_to_cosine_hemisphere_pdf(wo)
            return p_spec * pdf_spec + (1.0 - p_spec) * pdf_diffuse

        # -- Mitsuba's interface --------------------------------------------

        def sample(self, ctx, si, sample1, sample2, active):
            albedo, rough, metal = self._params(si, active)
            alpha = rough * rough
            p_spec = self._spec_probability(si, albedo, metal)
            pick_spec = sample1 < p_spec
            distr = mi.MicrofacetDistribution(mi.MicrofacetType.GGX, alpha, True)
            m, _ = distr.sample(si.wi, sample2)
            wo_spec = mi.reflect(si.wi, m)
            wo_diffuse = mi.warp.square_to_cosine_hemisphere(sample2)
            bs = mi.BSDFSample3f()
            bs.wo = dr.select(pick_spec, wo_spec, wo_diffuse)
            bs.eta = 1.0
            bs.sampled_component = dr.select(pick_spec, mi.UInt32(1), mi.UInt32(0))
            bs.sampled_type = dr.select(
                pick_spec, mi.UInt32(+mi.BSDFFlags.GlossyReflection), mi.UInt32(+mi.BSDFFlags.DiffuseReflection)
            )
            value, pdf = self._eval(si, bs.wo, active, albedo, rough, metal)
            bs.pdf = pdf
            ok = active & (pdf > 0.0)
            return bs, dr.select(ok, value / dr.maximum(pdf, 1e-12), 0.0)

        def eval(self, ctx, si, wo, active):
            albedo, rough, metal = self._params(si, active)
            return self._eval(si, wo, active, albedo, rough, metal)[0]

        def pdf(self, ctx, si, wo, active):
            albedo, rough, metal = self._params(si, active)
            return self._eval(si, wo, active, albedo, rough, metal)[1]

        def eval_pdf(self, ctx, si, wo, active):
            albedo, rough, metal = self._params(si, active)
            return self._eval(si, wo, active, albedo, rough, metal)

        def to_string(self):
            return "RelitGltfBSDF[]"

    mi.register_bsdf(PLUGIN, lambda props: RelitGltfBSDF(props))
    register._done_for = mi.variant()
