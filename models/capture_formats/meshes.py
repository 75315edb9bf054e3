"""An object mesh shipped in a capture folder: finding it, and reading it
(with models.mesh_io) only once it is known to stay inside the folder: glTF
buffers and images and OBJ materials may name other files, and a mesh naming
any file outside the folder is refused.

The mesh is taken to be in the capture's world as it is stored; note that
glTF files are +Y up by specification, so a glTF exported from a +Z-up
capture world (Blender, nerfstudio) arrives rotated.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from urllib.parse import unquote

from models.errors import MeshError
from models.mesh import Mesh

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")


def find_mesh(root: Path, exclude: frozenset[Path] = frozenset()) -> Path | None:
    """The object mesh at the top of `root`, preferring glb, gltf, obj, ply and
    then alphabetical order; None when there is none. Files that resolve
    outside the folder (symlinks) are ignored."""
    real_root = root.resolve()
    excluded = {p.resolve() for p in exclude}
    found = []
    for p in root.iterdir():
        if p.suffix.lower() not in MESH_SUFFIXES or not p.is_file():
            continue
        real = p.resolve()
        if real in excluded or not real.is_relative_to(real_root):
            continue
        found.append(p)
    found.sort(key=lambda p: (MESH_SUFFIXES.index(p.suffix.lower()), p.name))
    return found[0] if found else None


def load_mesh(path: Path, root: Path) -> Mesh:
    """Read the capture's mesh with models.mesh_io, after checking that
    every file it refers to lies inside `root`. Raises MeshError naming it."""
    from models.mesh_io import load_mesh as read_mesh

    check_references(path, root)
    return read_mesh(path)


def check_references(path: Path, root: Path) -> None:
    """Refuse a mesh that names files outside `root`: glTF/GLB buffer and
    image URIs, OBJ material libraries and the textures those name."""
    suffix = path.suffix.lower()
    if suffix in (".gltf", ".glb"):
        for uri in _gltf_uris(path):
            if not uri.startswith("data:"):
                _confined(path, root, path.parent / unquote(uri), uri)
    elif suffix == ".obj":
        for mtl_name in _directives(path, ("mtllib",)):
            mtl = _confined(path, root, path.parent / mtl_name, mtl_name)
            if mtl.is_file():
                for texture in _directives(mtl, _MTL_MAPS):
                    _confined(mtl, root, mtl.parent / texture, texture)


_MTL_MAPS = ("map_ka", "map_kd", "map_ks", "map_ns", "map_d", "map_bump", "bump", "disp", "decal", "norm",
             "map_pr", "map_pm", "map_ke", "refl")


def _confined(owner: Path, root: Path, target: Path, name: str) -> Path:
    try:
        inside = target.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError):
        inside = False
    if not inside:
        raise MeshError(owner, f"refers to {name!r:.80}, outside the capture folder; refused")
    return target


def _directives(path: Path, keywords: tuple[str, ...]) -> list[str]:
    """File names after `keywords` in an OBJ/MTL text file (the last token:
    options such as -s 1 1 1 come first)."""
    names = []
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise MeshError(path, f"cannot read: {exc.strerror or exc}") from None
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) >= 2 and tokens[0].lower() in keywords:
            names += tokens[1:] if tokens[0].lower() == "mtllib" else tokens[-1:]
    return names


def _gltf_uris(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MeshError(path, f"cannot read: {exc.strerror or exc}") from None
    if raw[:4] == b"glTF":
        if len(raw) < 20:
            raise MeshError(path, "truncated GLB header")
        size, kind = struct.unpack_from("<II", raw, 12)
        if kind != 0x4E4F534A:
            raise MeshError(path, "GLB does not start with a JSON chunk")
        raw = raw[20 : 20 + size]
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MeshError(path, f"invalid glTF JSON ({exc})"[:200]) from None
    if not isinstance(doc, dict):
        raise MeshError(path, "not a glTF document")
    uris = []
    for key in ("buffers", "images"):
        items = doc.get(key, [])
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "uri" in item:
                if not isinstance(item["uri"], str):
                    raise MeshError(path, f"{key} uri is not a string")
                uris.append(item["uri"])
    return uris
