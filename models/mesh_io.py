"""Loading meshes (OBJ, PLY, glTF/GLB) and glTF materials.

Geometry goes through trimesh, which applies the scene graph's transforms and
already uses Relit's UV convention (v = 0 at the bottom: it flips glTF's v on
import). Every part of a multi-part file is merged into one Mesh; they then
share one UV space, so multi-material assets need a single texture atlas.

`read_gltf` is a small reader of the glTF container itself (JSON + buffers,
.gltf or .glb); `load_gltf_material` and models/scene_io.py use it to reach
accessors and embedded textures exactly, without trimesh's processing.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from models.errors import ImageError, MeshError
from models.imageio import decode_image
from models.material import MaterialMaps
from models.mesh import Mesh, vertex_normals

MESH_SUFFIXES = frozenset({".obj", ".ply", ".glb", ".gltf"})

# ---------------------------------------------------------------- meshes


def load_mesh(path: str | Path) -> Mesh:
    """Read a mesh file as one Mesh (all parts merged, transforms applied).

    Normals come from the file when it has them, else are computed area-weighted
    and welded across UV seams (so seams do not show in shading). Raises
    MeshError naming the file when it is missing, unreadable, empty or
    degenerate.
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise MeshError(path, "file not found" if not path.exists() else "not a file")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise MeshError(path, f"unsupported mesh format '{path.suffix}' (use {', '.join(sorted(MESH_SUFFIXES))})")
    try:
        scene = trimesh.load(path, process=False, force="scene")
        instances = [
            (scene.graph[node][0], scene.geometry[name])
            for node in scene.graph.nodes_geometry
            for name in [scene.graph[node][1]]
            if isinstance(scene.geometry.get(name), trimesh.Trimesh)
        ]
    except Exception as exc:  # trimesh raises many types for bad files
        raise MeshError(path, f"corrupt or unreadable mesh ({type(exc).__name__}: {exc})") from exc
    instances = [(m, g) for m, g in instances if len(g.faces) and len(g.vertices)]
    if not instances:
        raise MeshError(path, "contains no triangles")

    vertices, faces, normals, uvs = [], [], [], []
    offset = 0
    for matrix, part in instances:
        linear, shift = np.asarray(matrix, np.float64)[:3, :3], np.asarray(matrix, np.float64)[:3, 3]
        f = np.asarray(part.faces, np.int64)
        if np.linalg.det(linear) < 0:  # a mirroring transform turns triangles inside out
            f = f[:, ::-1]
        vertices.append(np.asarray(part.vertices, np.float64) @ linear.T + shift)
        faces.append(f + offset)
        # trimesh caches the normals it read from the file (and would invent
        # its own if asked for them otherwise); normals transform by the
        # inverse transpose.
        file_normals = None
        if "vertex_normals" in part._cache and abs(np.linalg.det(linear)) > 1e-30:
            file_normals = np.asarray(part.vertex_normals, np.float64) @ np.linalg.inv(linear)
        normals.append(file_normals)
        uv = getattr(part.visual, "uv", None)
        uvs.append(None if uv is None or len(uv) != len(part.vertices) else np.asarray(uv, np.float64))
        offset += len(part.vertices)
    return _validated(
        path,
        np.concatenate(vertices),
        np.concatenate(faces),
        None if any(n is None for n in normals) else np.concatenate(normals),
        None if any(u is None for u in uvs) else np.concatenate(uvs),
    )


def _validated(
    path: Path, v: np.ndarray, f: np.ndarray, n: np.ndarray | None, uv: np.ndarray | None
) -> Mesh:
    if f.ndim != 2 or f.shape[1] != 3:
        raise MeshError(path, f"faces are not triangles (shape {f.shape})")
    bad = int(v.size - np.count_nonzero(np.isfinite(v)))
    if bad:
        raise MeshError(path, f"{bad} non-finite vertex coordinates")
    if f.min() < 0 or f.max() >= len(v):
        raise MeshError(path, f"face indices out of range (0..{len(v) - 1})")
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    if not len(f):
        raise MeshError(path, "every triangle is degenerate (repeated vertex indices)")
    tri = v[f]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    extent = float(np.ptp(v[np.unique(f)], axis=0).max())
    if extent <= 0 or area.sum() <= 1e-12 * extent * extent:
        raise MeshError(path, "degenerate mesh (zero surface area)")
    if uv is not None and not np.isfinite(uv).all():
        uv = None
    vertices = np.ascontiguousarray(v, np.float32)
    faces = np.ascontiguousarray(f, np.int32)
    welded = welded_normals(vertices, faces)
    if n is None:
        normals = welded
    else:
        length = np.linalg.norm(n, axis=1, keepdims=True)
        ok = np.isfinite(length[:, 0]) & (length[:, 0] > 1e-12)
        normals = np.where(ok[:, None], n / np.where(ok[:, None], length, 1.0), welded).astype(np.float32)
    return Mesh(vertices, faces, normals, None if uv is None else np.ascontiguousarray(uv, np.float32))


def welded_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals shared by all vertices at one position, so
    vertices split at UV seams get the same normal."""
    _, key, inverse = np.unique(vertices, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    merged = vertex_normals(vertices[key], inverse[faces].astype(np.int32))
    return np.ascontiguousarray(merged[inverse], np.float32)


# ---------------------------------------------------------------- glTF container

_COMPONENT = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
GLB_MAGIC, GLB_JSON, GLB_BIN = 0x46546C67, 0x4E4F534A, 0x004E4942


@dataclass(frozen=True)
class GltfDocument:
    """A parsed glTF: its JSON and its buffers' bytes; `path` names it in errors."""

    path: Path
    json: dict[str, Any]
    buffers: tuple[bytes, ...]

    def _get(self, kind: str, index: int) -> dict[str, Any]:
        items = self.json.get(kind, [])
        if not isinstance(index, int) or not 0 <= index < len(items):
            raise MeshError(self.path, f"{kind}[{index}] does not exist")
        return items[index]

    def buffer_view(self, index: int) -> tuple[bytes, int | None]:
        """The bytes of a bufferView and its byteStride."""
        view = self._get("bufferViews", index)
        buf = view.get("buffer", 0)
        if not 0 <= buf < len(self.buffers):
            raise MeshError(self.path, f"bufferView {index} refers to missing buffer {buf}")
        start, length = view.get("byteOffset", 0), view["byteLength"]
        data = self.buffers[buf]
        if start + length > len(data):
            raise MeshError(self.path, f"bufferView {index} runs past the end of its buffer")
        return data[start : start + length], view.get("byteStride")

    def accessor(self, index: int) -> np.ndarray:
        """An accessor's elements as (count, width) (normalised integers -> float)."""
        acc = self._get("accessors", index)
        try:
            dtype = np.dtype(_COMPONENT[acc["componentType"]]).newbyteorder("<")
            width, count = _WIDTH[acc["type"]], int(acc["count"])
        except KeyError as exc:
            raise MeshError(self.path, f"accessor {index} has a bad type ({exc})") from exc
        if "bufferView" not in acc:
            out = np.zeros((count, width), dtype)
        else:
            data, stride = self.buffer_view(acc["bufferView"])
            elem = dtype.itemsize * width
            stride = stride or elem
            start = acc.get("byteOffset", 0)
            if count and start + stride * (count - 1) + elem > len(data):
                raise MeshError(self.path, f"accessor {index} runs past the end of its bufferView")
            if stride == elem:
                out = np.frombuffer(data, dtype, count * width, start)
            else:  # interleaved: gather each element's bytes, then view them
                rows = np.lib.stride_tricks.as_strided(
                    np.frombuffer(data, np.uint8)[start:], shape=(count, elem), strides=(stride, 1)
                )
                out = np.ascontiguousarray(rows).view(dtype)
            out = out.reshape(count, width)
        if "sparse" in acc:
            raise MeshError(self.path, f"accessor {index} is sparse (not supported)")
        if acc.get("normalized") and dtype.kind in "iu":
            return np.maximum(out.astype(np.float32) / np.iinfo(dtype).max, -1.0)
        return out

    def image_bytes(self, index: int) -> tuple[bytes, str]:
        """The encoded bytes of image `index` and a name for errors."""
        image = self._get("images", index)
        name = f"{self.path.name}#images[{index}]"
        if "bufferView" in image:
            return self.buffer_view(image["bufferView"])[0], name
        uri = image.get("uri")
        if not uri:
            raise MeshError(self.path, f"image {index} has neither uri nor bufferView")
        return _read_uri(self.path, uri), uri if not uri.startswith("data:") else name

    def texture_image(self, texture_info: dict[str, Any] | None, *, srgb: bool) -> np.ndarray | None:
        """Decode the image behind a material's textureInfo (None if absent)."""
        if not texture_info or "index" not in texture_info:
            return None
        source = self._get("textures", texture_info["index"]).get("source")
        if source is None:
            return None
        data, name = self.image_bytes(source)
        try:
            return decode_image(data, name, srgb=srgb)
        except ImageError as exc:
            raise MeshError(self.path, f"texture {name}: {exc.problem}") from exc


def _read_uri(path: Path, uri: str) -> bytes:
    if uri.startswith("data:"):
        head, _, payload = uri.partition(",")
        if not head.endswith(";base64"):
            raise MeshError(path, "data URI is not base64")
        return base64.b64decode(payload)
    file = path.parent / unquote(uri)
    try:
        return file.read_bytes()
    except OSError as exc:
        raise MeshError(path, f"cannot read referenced file {uri} ({exc.strerror or exc})") from exc


def read_gltf(path: str | Path) -> GltfDocument:
    """Parse a .gltf (JSON with external or data-URI buffers) or a .glb."""
    path = Path(path)
    if not path.is_file():
        raise MeshError(path, "file not found")
    raw = path.read_bytes()
    binary: bytes | None = None
    if raw[:4] == b"glTF":
        if len(raw) < 20:
            raise MeshError(path, "truncated GLB header")
        _, version, length = struct.unpack_from("<III", raw, 0)
        if version != 2:
            raise MeshError(path, f"GLB version {version} (only 2 is supported)")
        if length > len(raw):
            raise MeshError(path, f"truncated GLB ({len(raw)} of {length} bytes)")
        chunks, pos = {}, 12
        while pos + 8 <= length:
            size, kind = struct.unpack_from("<II", raw, pos)
            if pos + 8 + size > length:
                raise MeshError(path, "truncated GLB chunk")
            chunks.setdefault(kind, raw[pos + 8 : pos + 8 + size])
            pos += 8 + size
        if GLB_JSON not in chunks:
            raise MeshError(path, "GLB has no JSON chunk")
        text, binary = chunks[GLB_JSON], chunks.get(GLB_BIN)
    else:
        text = raw
    try:
        doc = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MeshError(path, f"invalid glTF JSON ({exc})") from exc
    if not isinstance(doc, dict) or str(doc.get("asset", {}).get("version", "")).split(".")[0] != "2":
        raise MeshError(path, "not a glTF 2.0 document")
    buffers = []
    for i, buf in enumerate(doc.get("buffers", [])):
        if "uri" in buf:
            data = _read_uri(path, buf["uri"])
        elif i == 0 and binary is not None:
            data = binary
        else:
            raise MeshError(path, f"buffer {i} has no data")
        if len(data) < buf.get("byteLength", 0):
            raise MeshError(path, f"buffer {i} is truncated ({len(data)} of {buf['byteLength']} bytes)")
        buffers.append(data)
    return GltfDocument(path, doc, tuple(buffers))


# ---------------------------------------------------------------- glTF materials


def load_gltf_material(path: str | Path, resolution: int = 64) -> MaterialMaps | None:
    """The first material of a glTF/GLB as MaterialMaps, or None if it has none.

    baseColor is decoded sRGB -> linear and multiplied by baseColorFactor;
    roughness = G * roughnessFactor and metallic = B * metallicFactor of the
    (linear) metallicRoughness texture. Maps are brought to the base colour
    texture's size; with no texture at all, constant maps of `resolution`.
    """
    doc = read_gltf(path)
    materials = doc.json.get("materials") or []
    if not materials:
        return None
    pbr = materials[0].get("pbrMetallicRoughness", {})
    factor = np.asarray(pbr.get("baseColorFactor", [1.0, 1.0, 1.0, 1.0]), np.float32)[:3]
    rough_f = float(pbr.get("roughnessFactor", 1.0))
    metal_f = float(pbr.get("metallicFactor", 1.0))
    base = doc.texture_image(pbr.get("baseColorTexture"), srgb=True)
    mr = doc.texture_image(pbr.get("metallicRoughnessTexture"), srgb=False)
    if base is not None:
        size = base.shape[:2]
    elif mr is not None:
        size = mr.shape[:2]
    else:
        size = (resolution, resolution)
    if base is None:
        albedo = np.broadcast_to(factor, (*size, 3))
    else:
        rgb = base[:, :, :3] if base.shape[2] >= 3 else np.repeat(base[:, :, :1], 3, axis=2)
        albedo = rgb * factor
    if mr is None:
        rough, metal = np.full(size, rough_f), np.full(size, metal_f)
    else:
        g, b = (mr[:, :, 1], mr[:, :, 2]) if mr.shape[2] >= 3 else (mr[:, :, 0], mr[:, :, 0])
        rough, metal = resize_plane(g, size) * rough_f, resize_plane(b, size) * metal_f
    return MaterialMaps(
        np.ascontiguousarray(np.clip(albedo, 0, 1), np.float32),
        np.ascontiguousarray(np.clip(rough, 0, 1), np.float32),
        np.ascontiguousarray(np.clip(metal, 0, 1), np.float32),
    )


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float (H,W) map to (height, width) = size."""
    if plane.shape == tuple(size):
        return plane
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(plane, np.float32), mode="F")
    return np.asarray(image.resize((size[1], size[0]), Image.Resampling.BILINEAR), np.float32)

