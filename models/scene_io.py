"""Saving and loading a Scene as a folder other programs can open.

    scene.glb        glTF 2.0: the mesh (normals, TEXCOORD_0, per-vertex AO as
                     the application attribute `_AO`) and a metallic-roughness
                     material: baseColorTexture (sRGB PNG) and
                     metallicRoughnessTexture (linear PNG, R = 255,
                     G = roughness, B = metallic).
    environment.hdr  the environment radiance, linear Radiance RGBE.
    scene.json       everything else: lights, environment settings, display
                     settings, metadata (fit provenance), and counts that tie
                     the three files together.

The .glb is written by a small writer here rather than trimesh, for exact
control of the layout (alignment, accessor bounds, the `_AO` attribute, the
v flip glTF needs: its v runs down the image, Mesh's runs up).

Saving is atomic per file, and staged: every file is first written and
fsynced beside its target, and only when all three are complete are they
moved into place (scene.json last), so a failed save leaves the previous
scene intact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import struct
from pathlib import Path
from typing import Any, get_args

import numpy as np

from models.errors import ImageError, MeshError, SceneError
from models.files import commit_temp, temp_path_beside
from models.imageio import encode_png, linear_to_srgb, load_image, save_hdr
from models.lighting import Environment, LightKind, Lighting, PunctualLight
from models.material import MaterialMaps
from models.mesh import Mesh, vertex_normals
from models.mesh_io import GLB_BIN, GLB_JSON, GLB_MAGIC, GltfDocument, read_gltf
from models.scene import Background, DisplaySettings, Scene, ViewTransform

FORMAT = "relit-scene"
FORMAT_VERSION = 1
MESH_FILE, ENVIRONMENT_FILE, SCENE_FILE = "scene.glb", "environment.hdr", "scene.json"

_FLOAT, _UINT = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_LINEAR, _LINEAR_MIPMAP_LINEAR, _REPEAT = 9729, 9987, 10497
PNG_LEVEL = 3  # zlib level for textures: 3x faster than 6 at 2k, ~15% larger

# ---------------------------------------------------------------- save


def save_scene(scene: Scene, folder: str | Path) -> None:
    """Write scene.glb, environment.hdr and scene.json into `folder` (created
    if needed). Raises SceneError naming the file that could not be written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SceneError(folder, f"cannot create folder ({exc.strerror or exc})") from exc
    glb = _encode(folder / MESH_FILE, lambda: scene_glb(scene.mesh, scene.material))
    text = _encode(folder / SCENE_FILE, lambda: json.dumps(scene_json(scene), indent=2, allow_nan=False) + "\n")

    writers = [
        (MESH_FILE, lambda p: p.write_bytes(glb)),
        (ENVIRONMENT_FILE, lambda p: save_hdr(p, scene.lighting.environment.radiance)),
        (SCENE_FILE, lambda p: p.write_text(text, encoding="utf-8")),
    ]
    staged: list[tuple[Path, Path]] = []
    try:
        for name, write in writers:
            target = folder / name
            try:
                staged.append((temp_path_beside(target), target))
                write(staged[-1][0])
            except ImageError as exc:
                raise SceneError(target, exc.problem) from exc
            except OSError as exc:
                raise SceneError(target, f"cannot write ({exc.strerror or exc})") from exc
        while staged:
            temp, target = staged[0]
            try:
                commit_temp(temp, target)
            except OSError as exc:
                raise SceneError(target, f"cannot write ({exc.strerror or exc})") from exc
            staged.pop(0)
    finally:
        for temp, _ in staged:
            with contextlib.suppress(OSError):
                temp.unlink()


def _encode(path: Path, make: Any) -> Any:
    """Run an encoder, reporting its failures as SceneError on `path`."""
    try:
        return make()
    except SceneError:
        raise
    except (ImageError, MeshError) as exc:
        raise SceneError(path, exc.problem) from exc
    except (TypeError, ValueError) as exc:
        raise SceneError(path, f"cannot encode ({exc})") from exc


def scene_json(scene: Scene) -> dict[str, Any]:
    """The scene.json document (everything not in the .glb or .hdr)."""
    env = scene.lighting.environment
    mesh = scene.mesh
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "files": {"mesh": MESH_FILE, "environment": ENVIRONMENT_FILE},
        "mesh": {
            "vertices": int(len(mesh.vertices)),
            "faces": int(len(mesh.faces)),
            "uv": mesh.uv is not None,
            "ao": mesh.ao is not None,
        },
        "material": {"resolution": list(scene.material.resolution)},
        "environment": {
            "file": ENVIRONMENT_FILE,
            "name": env.name,
            "rotation_deg": float(env.rotation_deg),
            "exposure_ev": float(env.exposure_ev),
            "strength": float(env.strength),
            "resolution": [int(env.radiance.shape[0]), int(env.radiance.shape[1])],
        },
        "lights": [_jsonable(dataclasses.asdict(light), "lights") for light in scene.lighting.lights],
        "display": _jsonable(dataclasses.asdict(scene.display), "display"),
        "metadata": _jsonable(scene.metadata, "metadata"),
    }


def _jsonable(value: Any, where: str) -> Any:
    """Plain JSON types from numpy values, tuples and paths. Non-finite floats
    become null (JSON has no NaN); anything else unknown is an error."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), where)
    if isinstance(value, np.generic):
        return _jsonable(value.item(), where)
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{where} holds a {type(value).__name__}, which JSON cannot store")


def scene_glb(mesh: Mesh, material: MaterialMaps) -> bytes:
    """A binary glTF 2.0 file: one mesh, one metallic-roughness material."""
    builder = _GlbBuilder()
    v = np.ascontiguousarray(mesh.vertices, np.float32)
    attributes = {
        "POSITION": builder.accessor(v, "VEC3", _ARRAY_BUFFER, bounds=True),
        "NORMAL": builder.accessor(np.ascontiguousarray(mesh.normals, np.float32), "VEC3", _ARRAY_BUFFER),
    }
    if mesh.uv is not None:
        uv = np.asarray(mesh.uv, np.float32)
        flipped = np.stack([uv[:, 0], np.float32(1) - uv[:, 1]], axis=1)
        attributes["TEXCOORD_0"] = builder.accessor(flipped, "VEC2", _ARRAY_BUFFER)
    if mesh.ao is not None:
        attributes["_AO"] = builder.accessor(np.asarray(mesh.ao, np.float32), "SCALAR", _ARRAY_BUFFER)
    indices = builder.accessor(np.asarray(mesh.faces, np.uint32).reshape(-1), "SCALAR", _ELEMENT_ARRAY_BUFFER)

    albedo_srgb = linear_to_srgb(np.clip(np.asarray(material.albedo, np.float32), 0, 1))
    h, w = material.resolution
    mr = np.stack(
        [np.ones((h, w), np.float32), np.asarray(material.roughness, np.float32), np.asarray(material.metallic, np.float32)],
        axis=-1,
    )
    base_tex = builder.texture(encode_png(albedo_srgb, name="baseColor.png", compress_level=PNG_LEVEL), "baseColor")
    mr_tex = builder.texture(encode_png(mr, name="metallicRoughness.png", compress_level=PNG_LEVEL), "metallicRoughness")
    pbr: dict[str, Any] = {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 1.0, "roughnessFactor": 1.0}
    extras: dict[str, Any] = {}
    if mesh.uv is not None:
        pbr["baseColorTexture"] = {"index": base_tex}
        pbr["metallicRoughnessTexture"] = {"index": mr_tex}
    else:  # no UVs to map them by: keep the maps, referenced for Relit only
        extras = {"relit": {"baseColorTexture": base_tex, "metallicRoughnessTexture": mr_tex}}
    material_json: dict[str, Any] = {"name": "relit", "pbrMetallicRoughness": pbr}
    if extras:
        material_json["extras"] = extras
    doc = {
        "asset": {"version": "2.0", "generator": "Relit"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "relit"}],
        "meshes": [{"name": "relit", "primitives": [{"attributes": attributes, "indices": indices, "material": 0, "mode": 4}]}],
        "materials": [material_json],
        "samplers": [{"magFilter": _LINEAR, "minFilter": _LINEAR_MIPMAP_LINEAR, "wrapS": _REPEAT, "wrapT": _REPEAT}],
    }
    return builder.glb(doc)


class _GlbBuilder:
    """Collects binary data into one buffer, 4-byte aligned, and emits a GLB."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []
        self.images: list[dict[str, Any]] = []
        self.textures: list[dict[str, Any]] = []

    def view(self, blob: bytes, target: int | None = None) -> int:
        self.data += b"\0" * (-len(self.data) % 4)
        view: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(blob)}
        if target is not None:
            view["target"] = target
        self.data += blob
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int, bounds: bool = False) -> int:
        component = _UINT if array.dtype == np.uint32 else _FLOAT
        acc: dict[str, Any] = {
            "bufferView": self.view(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes(), target),
            "componentType": component,
            "count": int(len(array)),
            "type": kind,
        }
        if bounds and len(array):
            acc["min"] = [float(x) for x in array.min(axis=0)]
            acc["max"] = [float(x) for x in array.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def texture(self, png: bytes, name: str) -> int:
        self.images.append({"bufferView": self.view(png), "mimeType": "image/png", "name": name})
        self.textures.append({"sampler": 0, "source": len(self.images) - 1})
        return len(self.textures) - 1

    def glb(self, doc: dict[str, Any]) -> bytes:
        self.data += b"\0" * (-len(self.data) % 4)
        doc = dict(doc, accessors=self.accessors, bufferViews=self.views, images=self.images, textures=self.textures)
        doc["buffers"] = [{"byteLength": len(self.data)}]
        text = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")
        text += b" " * (-len(text) % 4)  # the JSON chunk is padded with spaces
        body = struct.pack("<II", len(text), GLB_JSON) + text + struct.pack("<II", len(self.data), GLB_BIN) + bytes(self.data)
        return struct.pack("<III", GLB_MAGIC, 2, 12 + len(body)) + body


# ---------------------------------------------------------------- load


def load_scene(folder: str | Path) -> Scene:
    """Read a folder written by save_scene. Raises SceneError naming the file
    and the problem (missing, unreadable, wrong version, inconsistent)."""
    folder = Path(folder)
    json_path = folder / SCENE_FILE
    doc = _read_json(json_path)
    files = _section(json_path, doc, "files")
    mesh_path = folder / str(files.get("mesh", MESH_FILE))
    env_section = _section(json_path, doc, "environment")
    env_path = folder / str(env_section.get("file", ENVIRONMENT_FILE))

    mesh, material = _read_glb(mesh_path)
    expected = _section(json_path, doc, "mesh")
    for key, actual in (("vertices", len(mesh.vertices)), ("faces", len(mesh.faces))):
        if key in expected and expected[key] != actual:
            raise SceneError(mesh_path, f"has {actual} {key} but {SCENE_FILE} records {expected[key]} (files from different saves?)")
    res = _section(json_path, doc, "material").get("resolution")
    if res is not None and list(res) != list(material.resolution):
        raise SceneError(mesh_path, f"texture size {material.resolution} does not match {SCENE_FILE} ({res})")

    try:
        radiance = load_image(env_path)
    except ImageError as exc:
        raise SceneError(env_path, exc.problem) from exc
    if radiance.shape[2] != 3:
        raise SceneError(env_path, f"environment must be RGB, has {radiance.shape[2]} channels")
    environment = Environment(
        radiance,
        rotation_deg=_number(json_path, env_section, "rotation_deg", 0.0),
        exposure_ev=_number(json_path, env_section, "exposure_ev", 0.0),
        strength=_number(json_path, env_section, "strength", 1.0),
        name=str(env_section.get("name", "environment")),
    )
    lights_doc = doc.get("lights", [])
    if not isinstance(lights_doc, list):
        raise SceneError(json_path, "'lights' must be a list")
    lights = tuple(_light(json_path, i, item) for i, item in enumerate(lights_doc))
    display = _display(json_path, _section(json_path, doc, "display"))
    metadata = doc.get("metadata", {})
    if not isinstance(metadata, dict):
        raise SceneError(json_path, "'metadata' must be an object")
    return Scene(mesh, material, Lighting(environment, lights), display, metadata)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SceneError(path, "file not found (not a saved Relit scene?)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneError(path, f"cannot read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise SceneError(path, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SceneError(path, f"not a Relit scene file (no \"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SceneError(path, f"missing or bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise SceneError(path, f"written by a newer Relit (format version {version}; this one reads up to {FORMAT_VERSION})")
    if version < 1:
        raise SceneError(path, f"unknown format version {version}")
    return doc


def _section(path: Path, doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise SceneError(path, f"'{key}' must be an object")
    return value


def _number(path: Path, doc: dict[str, Any], key: str, default: float) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SceneError(path, f"'{key}' must be a finite number, not {value!r}")
    return float(value)


def _triple(path: Path, doc: dict[str, Any], key: str, default: tuple[float, float, float]) -> tuple[float, float, float]:
    value = doc.get(key, default)
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise SceneError(path, f"'{key}' must be three numbers, not {value!r}")
    return tuple(_number(path, {key: x}, key, 0.0) for x in value)  # type: ignore[return-value]


def _light(path: Path, index: int, item: Any) -> PunctualLight:
    if not isinstance(item, dict):
        raise SceneError(path, f"lights[{index}] must be an object")
    default = PunctualLight()
    kind = item.get("kind", default.kind)
    if kind not in get_args(LightKind):
        raise SceneError(path, f"lights[{index}]: unknown kind {kind!r} (use {', '.join(get_args(LightKind))})")
    return PunctualLight(
        kind=kind,
        color=_triple(path, item, "color", default.color),
        intensity=_number(path, item, "intensity", default.intensity),
        position=_triple(path, item, "position", default.position),
        direction=_triple(path, item, "direction", default.direction),
        inner_cone=_number(path, item, "inner_cone", default.inner_cone),
        outer_cone=_number(path, item, "outer_cone", default.outer_cone),
        name=str(item.get("name", default.name)),
    )


def _display(path: Path, doc: dict[str, Any]) -> DisplaySettings:
    default = DisplaySettings()
    view = doc.get("view_transform", default.view_transform)
    if view not in get_args(ViewTransform):
        raise SceneError(path, f"unknown view transform {view!r} (use {', '.join(get_args(ViewTransform))})")
    background = doc.get("background", default.background)
    if background not in get_args(Background):
        raise SceneError(path, f"unknown background {background!r} (use {', '.join(get_args(Background))})")
    return DisplaySettings(
        exposure_ev=_number(path, doc, "exposure_ev", default.exposure_ev),
        view_transform=view,
        background=background,
        background_blur=_number(path, doc, "background_blur", default.background_blur),
        background_color=_triple(path, doc, "background_color", default.background_color),
    )


def _read_glb(path: Path) -> tuple[Mesh, MaterialMaps]:
    """The first primitive of the first mesh, and its material's maps."""
    try:
        doc = read_gltf(path)
        return _glb_mesh(doc), _glb_material(doc)
    except MeshError as exc:
        raise SceneError(path, exc.problem) from exc


def _glb_mesh(doc: GltfDocument) -> Mesh:
    path = doc.path
    try:
        prim = doc.json["meshes"][0]["primitives"][0]
        attrs = prim["attributes"]
        position_index = attrs["POSITION"]
    except (KeyError, IndexError, TypeError) as exc:
        raise MeshError(path, "no mesh primitive with POSITION") from exc
    if prim.get("mode", 4) != 4:
        raise MeshError(path, f"primitive mode {prim['mode']} is not triangles")
    v = doc.accessor(position_index).astype(np.float32)
    count = len(v)
    if "indices" in prim:
        faces = doc.accessor(prim["indices"]).reshape(-1)
    else:
        faces = np.arange(count)
    if len(faces) % 3 or (len(faces) and (faces.min() < 0 or faces.max() >= count)):
        raise MeshError(path, "indices are not triangles within the vertex range")
    faces = np.ascontiguousarray(faces.reshape(-1, 3), np.int32)

    def attribute(name: str, width: int) -> np.ndarray | None:
        if name not in attrs:
            return None
        a = doc.accessor(attrs[name]).astype(np.float32)
        if a.shape != (count, width):
            raise MeshError(path, f"attribute {name} has shape {a.shape}, expected ({count}, {width})")
        return a

    normals = attribute("NORMAL", 3)
    uv = attribute("TEXCOORD_0", 2)
    ao = attribute("_AO", 1)
    if uv is not None:
        uv = np.stack([uv[:, 0], np.float32(1) - uv[:, 1]], axis=1)
    mesh = Mesh(
        np.ascontiguousarray(v),
        faces,
        vertex_normals(v, faces) if normals is None else np.ascontiguousarray(normals),
        None if uv is None else np.ascontiguousarray(uv, np.float32),
    )
    return mesh if ao is None else mesh.with_ao(ao[:, 0])


def _glb_material(doc: GltfDocument) -> MaterialMaps:
    path = doc.path
    materials = doc.json.get("materials") or [{}]
    mat = materials[0]
    pbr = mat.get("pbrMetallicRoughness", {})
    relit = mat.get("extras", {}).get("relit", {}) if isinstance(mat.get("extras"), dict) else {}
    base_info = pbr.get("baseColorTexture") or ({"index": relit["baseColorTexture"]} if "baseColorTexture" in relit else None)
    mr_info = pbr.get("metallicRoughnessTexture") or (
        {"index": relit["metallicRoughnessTexture"]} if "metallicRoughnessTexture" in relit else None
    )
    base = doc.texture_image(base_info, srgb=True)
    mr = doc.texture_image(mr_info, srgb=False)
    if base is None or mr is None:
        raise MeshError(path, "material lacks a baseColor or metallicRoughness texture")
    if base.shape[:2] != mr.shape[:2]:
        raise MeshError(path, f"texture size mismatch: baseColor {base.shape[1]}x{base.shape[0]}, metallicRoughness {mr.shape[1]}x{mr.shape[0]}")
    if base.shape[2] < 3 or mr.shape[2] < 3:
        raise MeshError(path, "baseColor and metallicRoughness textures must be RGB")
    factor = np.asarray(pbr.get("baseColorFactor", [1, 1, 1, 1]), np.float32)[:3]
    return MaterialMaps(
        np.ascontiguousarray(base[:, :, :3] * factor, np.float32),
        np.ascontiguousarray(mr[:, :, 1] * float(pbr.get("roughnessFactor", 1.0)), np.float32),
        np.ascontiguousarray(mr[:, :, 2] * float(pbr.get("metallicFactor", 1.0)), np.float32),
    )
