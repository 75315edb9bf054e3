"""Mesh and glTF material loading, checked against the files' own raw data."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from models.errors import MeshError
from models.imageio import srgb_to_linear
from models.mesh_io import load_gltf_material, load_mesh, read_gltf


def quat_matrix(q: list[float]) -> np.ndarray:
    """glTF quaternion (x, y, z, w) -> 3x3 rotation, written out independently."""
    x, y, z, w = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def test_gltf_node_transform_uv_flip_and_file_normals(shared_data: Path) -> None:
    path = shared_data / "assets" / "WaterBottle" / "WaterBottle.gltf"
    mesh = load_mesh(path)
    doc = read_gltf(path)
    prim = doc.json["meshes"][0]["primitives"][0]
    node = doc.json["nodes"][0]
    rot, scale = quat_matrix(node["rotation"]), np.asarray(node["scale"])
    raw_pos = doc.accessor(prim["attributes"]["POSITION"]).astype(np.float64)
    raw_uv = doc.accessor(prim["attributes"]["TEXCOORD_0"]).astype(np.float64)
    raw_n = doc.accessor(prim["attributes"]["NORMAL"]).astype(np.float64)
    raw_faces = doc.accessor(prim["indices"]).reshape(-1, 3)
    assert mesh.vertices.shape == raw_pos.shape and mesh.faces.shape == raw_faces.shape
    np.testing.assert_allclose(mesh.vertices, (raw_pos * scale) @ rot.T, atol=1e-5)
    np.testing.assert_array_equal(mesh.faces, raw_faces)
    # glTF's v runs down the image; Mesh's runs up
    np.testing.assert_allclose(mesh.uv, np.stack([raw_uv[:, 0], 1 - raw_uv[:, 1]], 1), atol=1e-6)
    n = raw_n @ rot.T
    np.testing.assert_allclose(mesh.normals, n / np.linalg.norm(n, axis=1, keepdims=True), atol=1e-5)
    assert mesh.vertices.dtype == np.float32 and mesh.faces.dtype == np.int32


def test_obj_uvs_keep_v_up_and_normals_are_welded_at_seams(tmp_path: Path) -> None:
    # a unit square split along a UV seam: vertices 2/3 and 5/6 share positions
    (tmp_path / "seam.obj").write_text(
        "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 1 0 0.5\nv 1 1 0.5\n"
        "vt 0 0\nvt 0.5 0\nvt 0.5 1\nvt 0 1\nvt 0.6 0\nvt 0.6 1\nvt 1 0\nvt 1 1\n"
        "f 1/1 2/2 3/3\nf 1/1 3/3 4/4\nf 2/5 5/7 6/8\nf 2/5 6/8 3/6\n"
    )
    mesh = load_mesh(tmp_path / "seam.obj")
    assert mesh.faces.shape == (4, 3)
    # every (position, uv) pair survives; the v=0 row stays at the bottom (y=0)
    pairs = {(tuple(np.round(p.astype(float), 4).tolist()), tuple(np.round(t.astype(float), 4).tolist())) for p, t in zip(mesh.vertices, mesh.uv)}
    assert ((0.0, 0.0, 0.0), (0.0, 0.0)) in pairs and ((0.0, 1.0, 0.0), (0.0, 1.0)) in pairs
    assert ((1.0, 0.0, 0.0), (0.5, 0.0)) in pairs and ((1.0, 0.0, 0.0), (0.6, 0.0)) in pairs
    # the two copies of the seam vertex (1,0,0) get one normal, between the faces'
    seam = np.flatnonzero(np.all(np.isclose(mesh.vertices, [1, 0, 0]), axis=1))
    assert len(seam) == 2
    np.testing.assert_allclose(mesh.normals[seam[0]], mesh.normals[seam[1]], atol=1e-6)
    assert mesh.normals[seam[0]][0] < -0.1 and mesh.normals[seam[0]][2] > 0.1


def test_multi_part_glb_is_merged_with_transforms(tmp_path: Path) -> None:
    scene = trimesh.Scene()
    box = trimesh.creation.box(extents=(1, 1, 1))
    scene.add_geometry(box, node_name="a", transform=trimesh.transformations.translation_matrix((5, 0, 0)))
    scale = np.diag([2.0, 2.0, 2.0, 1.0])
    scene.add_geometry(box, node_name="b", transform=scale @ trimesh.transformations.translation_matrix((0, 0, -3)))
    scene.export(tmp_path / "two.glb")
    mesh = load_mesh(tmp_path / "two.glb")
    assert len(mesh.faces) == 2 * len(box.faces)
    np.testing.assert_allclose(mesh.bounds, [[-1, -1, -7], [5.5, 1, 0.5]], atol=1e-5)
    assert mesh.uv is None
    # outward normals everywhere: each points away from its own box's centre
    centre = np.where(mesh.vertices[:, :1] > 2, [5, 0, 0], [0, 0, -6])
    assert np.all(np.sum(mesh.normals * (mesh.vertices - centre), axis=1) > 0)


def test_ply_round_trip(tmp_path: Path) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=2)
    sphere.export(tmp_path / "s.ply")
    mesh = load_mesh(tmp_path / "s.ply")
    np.testing.assert_allclose(mesh.vertices, sphere.vertices, atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, sphere.faces)
    radial = mesh.vertices / np.linalg.norm(mesh.vertices, axis=1, keepdims=True)
    assert np.all(np.sum(mesh.normals * radial, axis=1) > 0.95)


def test_shared_obj_assets_load(shared_data: Path) -> None:
    for name, faces in (("spot/spot.obj", 5856), ("bob/bob_tri.obj", 10688)):
        mesh = load_mesh(shared_data / "assets" / name)
        assert mesh.faces.shape == (faces, 3)
        assert mesh.uv is not None and mesh.uv.shape == (len(mesh.vertices), 2)
        np.testing.assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.obj", "", "no triangles"),
        ("junk.obj", "hello\nworld\n", "no triangles"),
        ("line.obj", "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n", "degenerate"),
        ("nan.obj", "v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n", "non-finite"),
        ("index.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n", None),
        ("junk.glb", "glTF\x02\x00\x00\x00garbage", None),
        ("junk.ply", "not a ply at all", None),
        ("mesh.xyz", "1 2 3", "unsupported"),
    ],
)
def test_bad_meshes_raise_mesh_error_naming_the_file(tmp_path: Path, name: str, content: str, problem: str | None) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(MeshError, match=problem) as info:
        load_mesh(path)
    assert info.value.path == path and name in str(info.value)


def test_missing_mesh(tmp_path: Path) -> None:
    with pytest.raises(MeshError, match="not found"):
        load_mesh(tmp_path / "gone.glb")


def _independent_texture(path: Path, step: int) -> np.ndarray:
    """Every `step`-th texel, decoded by Pillow alone (float64 maths is slow at 2k)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))[::step, ::step].astype(np.float64) / 255


@pytest.mark.parametrize(
    ("asset", "base", "mr"),
    [
        ("WaterBottle/WaterBottle.gltf", "WaterBottle_baseColor.png", "WaterBottle_occlusionRoughnessMetallic.png"),
        ("Avocado/Avocado.gltf", "Avocado_baseColor.png", "Avocado_roughnessMetallic.png"),
    ],
)
def test_gltf_material_matches_its_textures(shared_data: Path, asset: str, base: str, mr: str) -> None:
    path = shared_data / "assets" / asset
    maps = load_gltf_material(path)
    assert maps is not None
    with Image.open(path.parent / base) as im:
        assert maps.albedo.shape == (im.height, im.width, 3)
    step = 5
    albedo = _independent_texture(path.parent / base, step)
    packed = _independent_texture(path.parent / mr, step)
    np.testing.assert_allclose(maps.albedo[::step, ::step], srgb_to_linear(albedo), atol=1e-5)
    np.testing.assert_allclose(maps.roughness[::step, ::step], packed[:, :, 1], atol=1e-6)  # G, linear
    np.testing.assert_allclose(maps.metallic[::step, ::step], packed[:, :, 2], atol=1e-6)  # B, linear


def _glb(doc: dict, binary: bytes = b"") -> bytes:
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    if binary:
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks


def test_gltf_material_factors_and_absence(tmp_path: Path) -> None:
    doc = {
        "asset": {"version": "2.0"},
        "materials": [{"pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.4, 0.2, 1], "roughnessFactor": 0.3, "metallicFactor": 0.9}}],
    }
    (tmp_path / "factors.glb").write_bytes(_glb(doc))
    maps = load_gltf_material(tmp_path / "factors.glb", resolution=8)
    assert maps is not None and maps.resolution == (8, 8)
    np.testing.assert_allclose(maps.albedo[3, 4], [0.8, 0.4, 0.2], rtol=1e-6)
    assert np.all(maps.roughness == np.float32(0.3)) and np.all(maps.metallic == np.float32(0.9))
    (tmp_path / "plain.glb").write_bytes(_glb({"asset": {"version": "2.0"}}))
    assert load_gltf_material(tmp_path / "plain.glb") is None
    whole = _glb(doc)
    (tmp_path / "cut.glb").write_bytes(whole[: len(whole) - 10])
    with pytest.raises(MeshError, match="truncated"):
        load_gltf_material(tmp_path / "cut.glb")
    (tmp_path / "v1.gltf").write_text(json.dumps({"asset": {"version": "1.0"}}))
    with pytest.raises(MeshError, match="2.0"):
        read_gltf(tmp_path / "v1.gltf")
