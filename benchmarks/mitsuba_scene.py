"""Mitsuba 3 scenes from a glTF asset, an HDRI and Relit cameras.

Conventions (each one is checked by tests/benchmarks/test_generate.py):

- Cameras. Relit's c2w has OpenGL axes (x right, y up, looking down -z).
  Mitsuba's perspective sensor looks down its local +z with +y up and its
  local +x pointing to the *left* of the image (that is what its `look_at`
  builds), so its to_world is `c2w @ diag(-1, 1, -1, 1)`. The field of view is
  Relit's `fov_x` on Mitsuba's x axis; film pixel (i, j) spans [i, i+1) x
  [j, j+1) with row 0 at the top, the same +0.5 pixel centres as Relit.
- Environment. Mitsuba's `envmap` maps a local direction d to
  u = atan2(d.x, -d.z) / 2pi, v = acos(d.y) / pi; Relit's convention adds 0.5
  to u. A half turn about +Y turns one into the other, so the emitter's
  to_world is diag(-1, 1, -1) (its own inverse). Mitsuba also puts its first
  and last texel rows *on* the poles (row j at v = j / (H-1)) where Relit
  puts texel centres at v = (j + 0.5) / H; `mitsuba_envmap_rows` resamples
  the rows so that both renderers see the same radiance in every direction.
- Textures. Mitsuba's bitmap texture reads texel (x, y) at
  (u*W - 0.5, v*H - 0.5) with row 0 at the top, exactly glTF's texcoords, so
  the glTF UVs go to Mitsuba unchanged. Relit (and OBJ) keep v = 0 at the
  bottom; writers flip v for them.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.camera import Camera

DEFAULT_VARIANT = "scalar_rgb"

# Relit camera (OpenGL axes) -> Mitsuba camera axes: flip x and z.
GL_TO_MITSUBA_CAMERA = np.diag([-1.0, 1.0, -1.0, 1.0])
# Mitsuba envmap local frame -> world, so that Mitsuba's lat-long lookup equals
# models.lighting.direction_to_equirect: a half turn about +Y.
ENV_TO_WORLD = np.diag([-1.0, 1.0, -1.0, 1.0])

_GLTF_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_GLTF_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def mitsuba(variant: str = DEFAULT_VARIANT):
    """Import Mitsuba and select `variant`; returns the `mitsuba` module.

    scalar_rgb always works; llvm_ad_rgb needs a libLLVM that Dr.Jit accepts
    (>= 15, and on AVX-512 machines one whose x86 backend selects `fminimum`),
    cuda_ad_rgb a CUDA GPU.
    """
    import mitsuba as mi

    if mi.variant() != variant:
        mi.set_variant(variant)
    mi.set_log_level(mi.LogLevel.Warn)
    return mi


def mitsuba_module():
    """The imported `mitsuba` module with whatever variant is set (scalar_rgb
    if none is)."""
    import mitsuba as mi

    if mi.variant() is None:
        return mitsuba(DEFAULT_VARIANT)
    return mi


# ---------------------------------------------------------------- glTF assets


@dataclass(frozen=True)
class GltfAsset:
    """One glTF 2.0 metallic-roughness asset flattened to a single mesh.

    vertices/normals (V,3) float64 in the glTF world frame (node transforms
    applied); uv (V,2) float64 in glTF's convention ((0,0) = top-left of the
    texture image); faces (F,3) int64. Material maps (row 0 = top of the
    image): base_color (H,W,3) float32 *linear* with baseColorFactor applied,
    roughness and metallic (H',W') float32 in [0,1] with their factors applied.
    `ignored` names the material features the renders leave out.
    """

    name: str
    vertices: np.ndarray
    normals: np.ndarray
    uv: np.ndarray
    faces: np.ndarray
    base_color: np.ndarray
    roughness: np.ndarray
    metallic: np.ndarray
    ignored: tuple[str, ...] = ()

    def normalised(self) -> tuple["GltfAsset", np.ndarray, float]:
        """The asset moved and scaled into the unit sphere at the origin.

        Uses Relit's bounding sphere (bounding-box centre, radius to the
        farthest vertex). Returns (asset, offset, scale) with
        new = (old - offset) * scale.
        """
        offset = 0.5 * (self.vertices.min(0) + self.vertices.max(0))
        scale = 1.0 / float(np.linalg.norm(self.vertices - offset, axis=1).max())
        return replace(self, vertices=(self.vertices - offset) * scale), offset, scale


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def _node_matrix(node: dict) -> np.ndarray:
    if "matrix" in node:
        return np.asarray(node["matrix"], np.float64).reshape(4, 4).T  # column-major
    t = np.asarray(node.get("translation", [0, 0, 0]), np.float64)
    x, y, z, w = node.get("rotation", [0, 0, 0, 1])
    r = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    m = np.eye(4)
    m[:3, :3] = r * np.asarray(node.get("scale", [1, 1, 1]), np.float64)
    m[:3, 3] = t
    return m


def _load_uri(folder: Path, uri: str) -> bytes:
    if uri.startswith("data:"):
        return base64.b64decode(uri.split(",", 1)[1])
    return (folder / uri).read_bytes()


def _accessor(gltf: dict, buffers: list[bytes], index: int) -> np.ndarray:
    acc = gltf["accessors"][index]
    dtype = np.dtype(_GLTF_DTYPES[acc["componentType"]])
    n = _GLTF_SIZES[acc["type"]]
    count = acc["count"]
    if "bufferView" not in acc or "sparse" in acc:
        raise NotImplementedError("sparse or view-less glTF accessors are not supported")
    view = gltf["bufferViews"][acc["bufferView"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    stride = view.get("byteStride", n * dtype.itemsize)
    data = np.ndarray((count, n), dtype, buffers[view["buffer"]], start, (stride, dtype.itemsize)).copy()
    if acc.get("normalized", False):
        data = data.astype(np.float64) / np.iinfo(dtype).max
    return data


def _image(folder: Path, gltf: dict, texture_ref: dict | None) -> np.ndarray | None:
    """A texture as float32 (H,W,C) in [0,1], or None."""
    if texture_ref is None:
        return None
    if texture_ref.get("texCoord", 0) != 0 or "KHR_texture_transform" in texture_ref.get("extensions", {}):
        raise NotImplementedError("only TEXCOORD_0 without KHR_texture_transform is supported")
    image = gltf["images"][gltf["textures"][texture_ref["index"]]["source"]]
    if "uri" not in image:
        raise NotImplementedError("images stored in buffer views (.glb) are not supported")
    path = folder / image["uri"]
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.float32) / 255.0


def load_gltf(path: str | Path) -> GltfAsset:
    """Read a .gltf (JSON + external or data-URI buffers) with one material.

    Every triangle primitive of every node in the default scene is flattened
    into one mesh with its node's world transform.
    """
    path = Path(path)
    folder = path.parent
    gltf = json.loads(path.read_text())
    buffers = [_load_uri(folder, b["uri"]) for b in gltf["buffers"]]
    verts, norms, uvs, faces, materials = [], [], [], [], set()
    base = 0

    def visit(node_index: int, parent: np.ndarray) -> None:
        nonlocal base
        node = gltf["nodes"][node_index]
        world = parent @ _node_matrix(node)
        if "mesh" in node:
            normal_matrix = np.linalg.inv(world[:3, :3]).T
            flip = np.linalg.det(world[:3, :3]) < 0
            for prim in gltf["meshes"][node["mesh"]]["primitives"]:
                if prim.get("mode", 4) != 4:
                    raise NotImplementedError("only triangle primitives are supported")
                attrs = prim["attributes"]
                if "TEXCOORD_0" not in attrs or "NORMAL" not in attrs:
                    raise NotImplementedError("primitives need NORMAL and TEXCOORD_0")
                p = _accessor(gltf, buffers, attrs["POSITION"]).astype(np.float64)
                n = _accessor(gltf, buffers, attrs["NORMAL"]).astype(np.float64) @ normal_matrix.T
                idx = (
                    _accessor(gltf, buffers, prim["indices"]).reshape(-1, 3).astype(np.int64)
                    if "indices" in prim
                    else np.arange(len(p)).reshape(-1, 3)
                )
                verts.append(p @ world[:3, :3].T + world[:3, 3])
                norms.append(n / np.linalg.norm(n, axis=1, keepdims=True))
                uvs.append(_accessor(gltf, buffers, attrs["TEXCOORD_0"]).astype(np.float64))
                faces.append((idx[:, ::-1] if flip else idx) + base)
                materials.add(prim.get("material", -1))
                base += len(p)
        for child in node.get("children", []):
            visit(child, world)

    for root in gltf["scenes"][gltf.get("scene", 0)]["nodes"]:
        visit(root, np.eye(4))
    if len(materials) != 1 or -1 in materials:
        raise NotImplementedError(f"{path.name}: expected exactly one material, found {sorted(materials)}")
    mat = gltf["materials"][materials.pop()]
    pbr = mat.get("pbrMetallicRoughness", {})

    factor = np.asarray(pbr.get("baseColorFactor", [1, 1, 1, 1]), np.float32)
    tex = _image(folder, gltf, pbr.get("baseColorTexture"))
    base_color = (srgb_to_linear(tex) if tex is not None else np.ones((4, 4, 3), np.float32)) * factor[:3]
    mr = _image(folder, gltf, pbr.get("metallicRoughnessTexture"))
    if mr is None:
        mr = np.ones((4, 4, 3), np.float32)
    roughness = mr[..., 1] * np.float32(pbr.get("roughnessFactor", 1.0))
    metallic = mr[..., 2] * np.float32(pbr.get("metallicFactor", 1.0))

    ignored = [k for k in ("normalTexture", "occlusionTexture", "emissiveTexture") if k in mat]
    if any(mat.get("emissiveFactor", [0, 0, 0])) and "emissiveTexture" not in mat:
        ignored.append("emissiveFactor")
    if mat.get("alphaMode", "OPAQUE") != "OPAQUE":
        ignored.append(f"alphaMode={mat['alphaMode']}")
    ignored += [f"extension {e}" for e in mat.get("extensions", {})]

    uv = np.concatenate(uvs)
    # Move UVs that lie in one texture tile (WaterBottle's v is in [-1, 0]) into
    # [0, 1]: the same texels under REPEAT, and friendlier to every consumer.
    for axis in range(2):
        lo, hi = math.floor(uv[:, axis].min()), math.floor(uv[:, axis].max() - 1e-9)
        if lo == hi:
            uv[:, axis] -= lo
    return GltfAsset(
        name=path.stem,
        vertices=np.concatenate(verts),
        normals=np.concatenate(norms),
        uv=uv,
        faces=np.concatenate(faces),
        base_color=np.ascontiguousarray(base_color, np.float32),
        roughness=np.ascontiguousarray(np.clip(roughness, 0, 1), np.float32),
        metallic=np.ascontiguousarray(np.clip(metallic, 0, 1), np.float32),
        ignored=tuple(ignored),
    )


def sample_texture(image: np.ndarray, uv: np.ndarray, v_up: bool = True) -> np.ndarray:
    """Bilinear lookup with REPEAT wrapping, as Mitsuba's bitmap texture does.

    image (H,W[,C]) with row 0 at the top; uv (...,2). With `v_up` (Relit and
    OBJ) v = 0 is the bottom row; otherwise (glTF, Mitsuba) the top row.
    """
    h, w = image.shape[:2]
    u = uv[..., 0]
    v = 1.0 - uv[..., 1] if v_up else uv[..., 1]
    x, y = u * w - 0.5, v * h - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    img = image.reshape(h, w, -1)

    def at(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return img[np.mod(yy, h), np.mod(xx, w)]

    out = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * (
        (1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)
    )
    return out.reshape(uv.shape[:-1] + image.shape[2:])


# ---------------------------------------------------------------- conventions


def mitsuba_camera_to_world(camera: Camera) -> np.ndarray:
    """Mitsuba sensor to_world for a Relit camera (see the module docstring)."""
    return np.asarray(camera.c2w, np.float64) @ GL_TO_MITSUBA_CAMERA


def sensor_dict(camera: Camera, *, pixel_centres: bool = False, spp: int = 1, rgba: bool = True) -> dict[str, Any]:
    """A Mitsuba `perspective` sensor that sees exactly what `camera` sees.

    `pixel_centres` puts the single sample of every pixel at its centre (a
    non-jittered stratified sampler, spp 1): AOVs then hold the surface under
    Camera.pixel_rays(), not a blend across edges.
    """
    mi = mitsuba_module()
    if not camera.distortion.is_identity:
        raise ValueError("Mitsuba's perspective sensor has no lens distortion")
    if abs(camera.fx - camera.fy) > 1e-6 * camera.fx:
        raise ValueError("Mitsuba's perspective sensor needs square pixels (fx == fy)")
    if abs(camera.cx - camera.width / 2) > 1e-6 or abs(camera.cy - camera.height / 2) > 1e-6:
        raise ValueError("only centred principal points are supported")
    sampler = (
        {"type": "stratified", "sample_count": 1, "jitter": False}
        if pixel_centres
        else {"type": "independent", "sample_count": spp}
    )
    return {
        "type": "perspective",
        "fov": math.degrees(camera.fov_x),
        "fov_axis": "x",
        "near_clip": 1e-5,  # rays start this far out: AOV depth ~ distance from the eye
        "far_clip": 1e4,
        "to_world": mi.ScalarTransform4f(mitsuba_camera_to_world(camera).tolist()),
        "sampler": sampler,
        "film": {
            "type": "hdrfilm",
            "width": camera.width,
            "height": camera.height,
            "pixel_format": "rgba" if rgba else "rgb",
            "rfilter": {"type": "box"},
        },
    }


def mitsuba_envmap_rows(radiance: np.ndarray) -> np.ndarray:
    """Resample an equirect map's rows from Relit's texel centres
    (v = (j + 0.5) / H) to Mitsuba's (v = j / (H - 1)), bilinear in v."""
    h = radiance.shape[0]
    y = np.clip(np.arange(h) * h / (h - 1) - 0.5, 0.0, h - 1)
    y0 = np.floor(y).astype(np.int64)
    y1 = np.minimum(y0 + 1, h - 1)
    w = (y - y0)[:, None, None].astype(np.float32)
    return np.ascontiguousarray((1 - w) * radiance[y0] + w * radiance[y1], np.float32)


def envmap_dict(radiance: np.ndarray, scale: float = 1.0) -> dict[str, Any]:
    """An `envmap` emitter showing `radiance` (H,W,3, linear, Relit's
    equirect convention) in the directions Relit assigns to its texels."""
    mi = mitsuba_module()
    return {
        "type": "envmap",
        "bitmap": mi.Bitmap(mitsuba_envmap_rows(np.asarray(radiance, np.float32))),
        "scale": float(scale),
        "to_world": mi.ScalarTransform4f(ENV_TO_WORLD.tolist()),
    }


def load_hdri(path: str | Path) -> np.ndarray:
    """A Radiance .hdr or .exr as float32 (H,W,3) linear radiance."""
    mi = mitsuba_module()
    bmp = mi.Bitmap(str(path)).convert(mi.Bitmap.PixelFormat.RGB, mi.Struct.Type.Float32, srgb_gamma=False)
    return np.ascontiguousarray(np.array(bmp), np.float32)


# ---------------------------------------------------------------- scene parts


def bitmap_texture(image: np.ndarray) -> dict[str, Any]:
    mi = mitsuba_module()
    return {
        "type": "bitmap",
        "bitmap": mi.Bitmap(np.ascontiguousarray(image, np.float32)),
        "raw": True,  # already linear: no sRGB decoding
        "filter_type": "bilinear",
        "wrap_mode": "repeat",
    }


def principled_dict(asset: GltfAsset) -> dict[str, Any]:
    """Mitsuba's `principled` BSDF with the asset's maps: specular 0.5
    (F0 = 0.04 for dielectrics) and every other lobe off."""
    return {
        "type": "principled",
        "base_color": bitmap_texture(asset.base_color),
        "roughness": bitmap_texture(asset.roughness),
        "metallic": bitmap_texture(asset.metallic),
        "specular": 0.5,
        "spec_tint": 0.0,
        "anisotropic": 0.0,
        "sheen": 0.0,
        "clearcoat": 0.0,
        "spec_trans": 0.0,
    }


def gltf_dict(asset: GltfAsset) -> dict[str, Any]:
    """Relit's own glTF metallic-roughness BSDF (benchmarks/gltf_bsdf.py)
    with the asset's maps: the model the assets are authored for."""
    from benchmarks import gltf_bsdf

    gltf_bsdf.register()
    return {
        "type": gltf_bsdf.PLUGIN,
        "base_color": bitmap_texture(asset.base_color),
        "roughness": bitmap_texture(asset.roughness),
        "metallic": bitmap_texture(asset.metallic),
    }


BSDFS = {"gltf": gltf_dict, "principled": principled_dict}
"""Reference BSDFs by name (generate --bsdf)."""


def mesh_shape(asset: GltfAsset, bsdf: dict[str, Any] | None = None):
    """The asset as an in-memory `mi.Mesh` with smooth normals and glTF UVs."""
    mi = mitsuba_module()
    props = mi.Properties()
    props["bsdf"] = mi.load_dict(bsdf if bsdf is not None else principled_dict(asset))
    mesh = mi.Mesh(
        asset.name,
        vertex_count=len(asset.vertices),
        face_count=len(asset.faces),
        props=props,
        has_vertex_normals=True,
        has_vertex_texcoords=True,
    )
    params = mi.traverse(mesh)
    params["vertex_positions"] = np.ravel(asset.vertices).astype(np.float32)
    params["vertex_normals"] = np.ravel(asset.normals).astype(np.float32)
    params["vertex_texcoords"] = np.ravel(asset.uv).astype(np.float32)
    params["faces"] = np.ravel(asset.faces).astype(np.uint32)
    params.update()
    return mesh


def path_integrator(max_depth: int = 8) -> dict[str, Any]:
    """Path tracer that hides the directly seen environment: RGB is the
    object premultiplied by coverage, alpha the coverage."""
    return {"type": "path", "max_depth": max_depth, "hide_emitters": True}


# AOV name -> Mitsuba AOV type. position/normal are world space; depth is
# the distance along the camera ray (not the view-space z).
AOVS = {"uv": "uv", "normal": "sh_normal", "depth": "depth", "position": "position"}


def aov_integrator() -> dict[str, Any]:
    return {"type": "aov", "aovs": ",".join(f"{k}:{v}" for k, v in AOVS.items())}


def load_scene(integrator: dict, shape=None, radiance: np.ndarray | None = None):
    """A loaded Mitsuba scene with an optional shape and environment."""
    mi = mitsuba_module()
    scene: dict[str, Any] = {"type": "scene", "integrator": integrator}
    if shape is not None:
        scene["object"] = shape
    if radiance is not None:
        scene["environment"] = envmap_dict(radiance)
    return mi.load_dict(scene)


# Samples one JIT (llvm/cuda) render pass may hold at once; more spp are
# rendered in passes and averaged, so memory stays bounded.
MAX_SAMPLES_PER_PASS = 1 << 23


def render(scene, camera: Camera, *, spp: int = 1, seed: int = 0, pixel_centres: bool = False) -> dict[str, np.ndarray]:
    """Render one view; returns the film's channels by name, each (H,W)
    float32 (R G B A for the path tracer; the AOV integrator adds
    'uv.U', 'uv.V', 'normal.X', ..., 'depth.T', 'position.X', ...)."""
    mi = mitsuba_module()
    if pixel_centres:
        spp = 1
    per_pass = spp
    if mi.variant().startswith(("llvm", "cuda")):
        per_pass = max(1, min(spp, MAX_SAMPLES_PER_PASS // (camera.width * camera.height)))
    sensor = mi.load_dict(sensor_dict(camera, pixel_centres=pixel_centres, spp=per_pass))
    total: np.ndarray | None = None
    names: list[str] = []
    done = 0
    for k in range(math.ceil(spp / per_pass)):
        n = min(per_pass, spp - done)
        mi.render(scene, sensor=sensor, spp=n, seed=seed * 1024 + k)
        bmp = sensor.film().bitmap()
        data = np.array(bmp, np.float32).reshape(camera.height, camera.width, -1)
        names = [f.name for f in bmp.struct_()]
        total = data * n if total is None else total + data * n
        done += n
    data = total / spp
    return {name: data[..., i] for i, name in enumerate(names)}


def usable_variant(preferred: tuple[str, ...] = ("cuda_ad_rgb", "llvm_ad_rgb"), timeout: float = 180.0) -> str:
    """The first of `preferred` that renders a small test scene here, else
    scalar_rgb. Each is tried in a child process: a libLLVM that Dr.Jit
    cannot drive aborts the process instead of raising."""
    import subprocess
    import sys

    probe = (
        "import mitsuba as mi, numpy as np, sys; mi.set_variant(sys.argv[1]); "
        "s = mi.load_dict({'type': 'scene', 'i': {'type': 'path'}, 'e': {'type': 'constant'}, "
        "'o': {'type': 'sphere', 'center': [0, 0, 3]}, 'c': {'type': 'perspective', "
        "'film': {'type': 'hdrfilm', 'width': 8, 'height': 8}}}); "
        "v = float(np.array(mi.render(s, spp=4)).mean()); sys.exit(0 if 0.05 < v < 2 else 1)"
    )
    for variant in preferred:
        try:
            r = subprocess.run([sys.executable, "-c", probe, variant], capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        if r.returncode == 0:
            return variant
    return "scalar_rgb"
