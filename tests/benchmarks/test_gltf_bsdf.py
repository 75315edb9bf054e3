"""The benchmark's reference BSDF (benchmarks/gltf_bsdf.py) is Relit's BRDF:
the same value as renderer/brdf.py for any pair of directions, and a white
dielectric in a uniform environment reflects exactly the environment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("mitsuba", reason="Mitsuba 3 is not installed (pip install -e '.[bench]')")

from benchmarks import gltf_bsdf
from benchmarks import mitsuba_scene as ms
from renderer.brdf import brdf_eval


@pytest.fixture(scope="module")
def mi():
    ms.mitsuba("scalar_rgb")
    gltf_bsdf.register()
    import mitsuba

    return mitsuba


def _bitmap(mi, value, channels: int) -> dict:
    return {"type": "bitmap", "bitmap": mi.Bitmap(np.full((2, 2, channels), value, np.float32)), "raw": True}


def _bsdf(mi, albedo, roughness: float, metallic: float):
    return mi.load_dict({
        "type": gltf_bsdf.PLUGIN,
        "base_color": _bitmap(mi, albedo, 3),
        "roughness": _bitmap(mi, roughness, 1),
        "metallic": _bitmap(mi, metallic, 1),
    })


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_values_match_relit_brdf(mi) -> None:
    rng = np.random.default_rng(3)
    ctx = mi.BSDFContext()
    for _ in range(40):
        albedo = rng.uniform(0.05, 0.95, 3).astype(np.float32)
        roughness, metallic = float(rng.uniform(0.05, 1.0)), float(rng.choice([0.0, 1.0, rng.uniform()]))
        bsdf = _bsdf(mi, albedo, roughness, metallic)
        wi = _unit(rng.normal(size=3) * [1, 1, 0.5] + [0, 0, 0.6])
        wo = _unit(rng.normal(size=3) * [1, 1, 0.5] + [0, 0, 0.6])
        if wi[2] <= 0.05 or wo[2] <= 0.05:
            continue
        si = mi.SurfaceInteraction3f()
        si.wi = mi.Vector3f(*wi)
        si.uv = mi.Point2f(0.5, 0.5)
        got = np.array(bsdf.eval(ctx, si, mi.Vector3f(*wo), True))
        t = lambda x: torch.tensor(np.atleast_1d(x), dtype=torch.float32)[None]
        want = brdf_eval(t([0.0, 0.0, 1.0]), t(wi), t(wo), t(albedo), t(roughness), t(metallic))[0].numpy() * wo[2]
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-6)


def test_white_furnace(mi) -> None:
    scene = mi.load_dict({
        "type": "scene",
        "integrator": {"type": "path", "max_depth": 2, "hide_emitters": True},
        "light": {"type": "constant", "radiance": {"type": "rgb", "value": 1.0}},
        "object": {"type": "sphere", "center": [0, 0, 3], "radius": 0.5,
                   "bsdf": {"type": gltf_bsdf.PLUGIN, "base_color": _bitmap(mi, 1.0, 3),
                            "roughness": _bitmap(mi, 0.5, 1), "metallic": _bitmap(mi, 0.0, 1)}},
        "sensor": {"type": "perspective", "fov": 20, "film": {"type": "hdrfilm", "width": 8, "height": 8, "rfilter": {"type": "box"}}},
    })
    image = np.array(mi.render(scene, spp=256))[..., :3]
    centre = image[2:6, 2:6]
    assert abs(float(centre.mean()) - 1.0) < 0.02
