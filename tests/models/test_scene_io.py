"""Scene save/load: exact round trips, a valid .glb other programs read, atomic
saves, and clear errors for damaged scene folders."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh

from models.errors import SceneError
from models.imageio import linear_to_srgb, load_image, save_hdr
from models.lighting import Environment, Lighting, PunctualLight
from models.material import MaterialMaps
from models.mesh import Mesh
from models.mesh_io import load_gltf_material, load_mesh
from models.scene import DisplaySettings, Scene
from models.scene_io import load_scene, save_scene


def make_scene(uv: bool = True, seed: int = 0) -> Scene:
    rng = np.random.default_rng(seed)
    sphere = trimesh.creation.icosphere(subdivisions=2)
    mesh = Mesh.from_arrays(sphere.vertices, sphere.faces, rng.random((len(sphere.vertices), 2)) * 1.2 - 0.1 if uv else None)
    mesh = mesh.with_ao(rng.random(len(mesh.vertices)))
    material = MaterialMaps(
        rng.random((24, 40, 3)).astype(np.float32),
        rng.random((24, 40)).astype(np.float32),
        rng.random((24, 40)).astype(np.float32),
    )
    environment = Environment(
        (rng.random((16, 32, 3)) ** 3 * 40).astype(np.float32), rotation_deg=33.5, exposure_ev=-1.25, strength=0.8, name="studio.hdr"
    )
    lights = (
        PunctualLight("point", (1.0, 0.9, 0.8), 12.5, (0.1, 2.0, -0.3), name="key"),
        PunctualLight("spot", (0.2, 0.4, 1.0), 99.0, (1.0, 1.0, 1.0), (-0.577, -0.577, -0.577), 0.1, 0.6, "rim"),
        PunctualLight("directional", intensity=3.0, direction=(0.0, -1.0, 0.5), name="sun"),
    )
    display = DisplaySettings(0.75, "agx", "color", 0.3, (0.1, 0.2, 0.3))
    metadata = {
        "fit": {"steps": 2, "lr": 0.01, "device": "cpu"},
        "losses": np.array([0.5, 0.25, 0.125]),
        "psnr": np.float32(31.5),
        "versions": {"relit": "0.1", "torch": "2.13"},
    }
    return Scene(mesh, material, Lighting(environment, lights), display, metadata)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_round_trip_keeps_mesh_textures_lights_and_settings(tmp_path: Path) -> None:
    scene = make_scene()
    save_scene(scene, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["environment.hdr", "scene.glb", "scene.json"]
    back = load_scene(tmp_path / "out")

    np.testing.assert_array_equal(back.mesh.vertices, scene.mesh.vertices)
    np.testing.assert_array_equal(back.mesh.faces, scene.mesh.faces)
    np.testing.assert_array_equal(back.mesh.normals, scene.mesh.normals)
    np.testing.assert_allclose(back.mesh.uv, scene.mesh.uv, atol=1e-6)
    np.testing.assert_array_equal(back.mesh.ao, scene.mesh.ao)

    half_step = 0.5 / 255 + 1e-6  # 8-bit textures: nearest level
    assert back.material.resolution == scene.material.resolution
    assert np.abs(linear_to_srgb(back.material.albedo) - linear_to_srgb(scene.material.albedo)).max() <= half_step
    assert np.abs(back.material.roughness - scene.material.roughness).max() <= half_step
    assert np.abs(back.material.metallic - scene.material.metallic).max() <= half_step

    env, env0 = back.lighting.environment, scene.lighting.environment
    assert (env.rotation_deg, env.exposure_ev, env.strength, env.name) == (33.5, -1.25, 0.8, "studio.hdr")
    peak = env0.radiance.max(axis=2, keepdims=True)
    assert np.all(np.abs(env.radiance - env0.radiance) <= peak / 256)  # RGBE precision
    assert back.lighting.lights == scene.lighting.lights
    assert back.display == scene.display
    assert back.metadata == {
        "fit": {"steps": 2, "lr": 0.01, "device": "cpu"},
        "losses": [0.5, 0.25, 0.125],
        "psnr": 31.5,
        "versions": {"relit": "0.1", "torch": "2.13"},
    }


def test_glb_opens_in_trimesh_with_the_same_textures(tmp_path: Path) -> None:
    scene = make_scene()
    save_scene(scene, tmp_path)
    loaded = trimesh.load(tmp_path / "scene.glb", process=False)
    (geometry,) = loaded.geometry.values()
    material = geometry.visual.material
    albedo_png = np.asarray(material.baseColorTexture)
    mr_png = np.asarray(material.metallicRoughnessTexture)
    np.testing.assert_array_equal(albedo_png, np.rint(linear_to_srgb(scene.material.albedo) * 255).astype(np.uint8))
    assert np.all(mr_png[:, :, 0] == 255)
    np.testing.assert_array_equal(mr_png[:, :, 1], np.rint(scene.material.roughness * 255).astype(np.uint8))
    np.testing.assert_array_equal(mr_png[:, :, 2], np.rint(scene.material.metallic * 255).astype(np.uint8))
    np.testing.assert_allclose(geometry.vertices, scene.mesh.vertices, atol=1e-7)
    np.testing.assert_allclose(geometry.visual.uv, scene.mesh.uv, atol=1e-6)  # trimesh flips v back
    np.testing.assert_allclose(np.ravel(geometry.vertex_attributes["_AO"]), scene.mesh.ao)
    # our own generic readers agree too
    maps = load_gltf_material(tmp_path / "scene.glb")
    np.testing.assert_allclose(maps.roughness, np.rint(scene.material.roughness * 255) / 255, atol=1e-6)
    np.testing.assert_allclose(load_mesh(tmp_path / "scene.glb").uv, scene.mesh.uv, atol=1e-6)


def test_glb_layout_follows_the_gltf_spec(tmp_path: Path) -> None:
    scene = make_scene()
    save_scene(scene, tmp_path)
    data = (tmp_path / "scene.glb").read_bytes()
    magic, version, length = struct.unpack_from("<III", data)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    json_len, json_kind = struct.unpack_from("<II", data, 12)
    assert json_kind == 0x4E4F534A and json_len % 4 == 0
    text = data[20 : 20 + json_len]
    assert text.rstrip(b" ") == text.rstrip()  # padded with spaces only
    doc = json.loads(text)
    bin_len, bin_kind = struct.unpack_from("<II", data, 20 + json_len)
    assert bin_kind == 0x004E4942 and bin_len % 4 == 0 and 28 + json_len + bin_len == len(data)
    assert doc["asset"]["version"] == "2.0" and doc["buffers"] == [{"byteLength": bin_len}]
    sizes = {5126: 4, 5125: 4}
    widths = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}
    for view in doc["bufferViews"]:
        assert view["byteOffset"] % 4 == 0 and view["byteOffset"] + view["byteLength"] <= bin_len
    for acc in doc["accessors"]:
        view = doc["bufferViews"][acc["bufferView"]]
        assert acc["count"] * sizes[acc["componentType"]] * widths[acc["type"]] <= view["byteLength"]
    prim = doc["meshes"][0]["primitives"][0]
    assert set(prim["attributes"]) == {"POSITION", "NORMAL", "TEXCOORD_0", "_AO"}
    pos = doc["accessors"][prim["attributes"]["POSITION"]]
    np.testing.assert_array_equal(pos["min"], scene.mesh.vertices.min(0))
    np.testing.assert_array_equal(pos["max"], scene.mesh.vertices.max(0))
    indices = doc["accessors"][prim["indices"]]
    assert indices["componentType"] == 5125 and doc["bufferViews"][indices["bufferView"]]["target"] == 34963
    tex = doc["accessors"][prim["attributes"]["TEXCOORD_0"]]
    start = 28 + json_len + doc["bufferViews"][tex["bufferView"]]["byteOffset"]
    raw_uv = np.frombuffer(data, "<f4", tex["count"] * 2, start).reshape(-1, 2)
    np.testing.assert_allclose(raw_uv, np.stack([scene.mesh.uv[:, 0], 1 - scene.mesh.uv[:, 1]], 1), atol=1e-7)
    pbr = doc["materials"][0]["pbrMetallicRoughness"]
    for key in ("baseColorTexture", "metallicRoughnessTexture"):
        image = doc["images"][doc["textures"][pbr[key]["index"]]["source"]]
        assert image["mimeType"] == "image/png"


def test_scene_without_uvs_round_trips_its_maps(tmp_path: Path) -> None:
    scene = make_scene(uv=False)
    save_scene(scene, tmp_path)
    back = load_scene(tmp_path)
    assert back.mesh.uv is None
    assert np.abs(back.material.roughness - scene.material.roughness).max() <= 0.5 / 255 + 1e-6
    assert len(trimesh.load(tmp_path / "scene.glb").geometry) == 1


def test_real_asset_and_hdri_round_trip(shared_data: Path, tmp_path: Path) -> None:
    asset = shared_data / "assets" / "Avocado" / "Avocado.gltf"
    mesh, full = load_mesh(asset), load_gltf_material(asset)
    # every other texel of the 2k maps: real content, a quarter of the encoding time
    material = MaterialMaps(full.albedo[::2, ::2], full.roughness[::2, ::2], full.metallic[::2, ::2])
    hdri = load_image(shared_data / "hdri" / "kiara_1_dawn_1k.hdr")
    scene = Scene(mesh, material, Lighting(Environment(hdri, name="kiara_1_dawn_1k.hdr")))
    save_scene(scene, tmp_path)
    back = load_scene(tmp_path)
    np.testing.assert_array_equal(back.mesh.vertices, mesh.vertices)
    np.testing.assert_allclose(back.mesh.uv, mesh.uv, atol=1e-6)
    # the textures came from 8-bit PNGs, so they survive exactly (to float error)
    np.testing.assert_allclose(back.material.albedo, material.albedo, atol=1e-5)
    np.testing.assert_allclose(back.material.roughness, material.roughness, atol=1e-6)
    np.testing.assert_array_equal(back.lighting.environment.radiance, hdri)


# ------------------------------------------------------------------ atomic saves


def test_failed_save_leaves_previous_scene_intact(tmp_path: Path) -> None:
    save_scene(make_scene(seed=1), tmp_path)
    before = snapshot(tmp_path)
    bad_env = make_scene(seed=2)
    radiance = bad_env.lighting.environment.radiance.copy()
    radiance[3, 4, 1] = np.nan
    bad = Scene(bad_env.mesh, bad_env.material, Lighting(bad_env.lighting.environment.with_radiance(radiance)))
    with pytest.raises(SceneError, match="non-finite") as info:
        save_scene(bad, tmp_path)
    assert info.value.path == tmp_path / "environment.hdr"
    assert snapshot(tmp_path) == before  # not even scene.glb, written earlier, changed

    not_json = Scene(bad_env.mesh, bad_env.material, metadata={"model": object()})
    with pytest.raises(SceneError, match="metadata") as info:
        save_scene(not_json, tmp_path)
    assert info.value.path == tmp_path / "scene.json"
    assert snapshot(tmp_path) == before

    save_scene(make_scene(seed=2), tmp_path)  # a good save does replace everything
    after = snapshot(tmp_path)
    assert set(after) == set(before) and all(after[k] != before[k] for k in ("scene.glb", "environment.hdr"))


def test_nan_metadata_becomes_null(tmp_path: Path) -> None:
    scene = make_scene()
    save_scene(Scene(scene.mesh, scene.material, metadata={"loss": [1.0, math.nan], "dir": tmp_path}), tmp_path)
    assert load_scene(tmp_path).metadata == {"loss": [1.0, None], "dir": str(tmp_path)}


# ------------------------------------------------------------------ load errors


def _saved(tmp_path: Path) -> Path:
    folder = tmp_path / "scene"
    save_scene(make_scene(), folder)
    return folder


def _edit_json(folder: Path, change) -> None:
    doc = json.loads((folder / "scene.json").read_text())
    change(doc)
    (folder / "scene.json").write_text(json.dumps(doc))


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(SceneError, match="not found") as info:
        load_scene(tmp_path / "nowhere")
    assert info.value.path == tmp_path / "nowhere" / "scene.json"
    for name in ("scene.glb", "environment.hdr"):
        folder = _saved(tmp_path)
        (folder / name).unlink()
        with pytest.raises(SceneError, match="not found") as info:
            load_scene(folder)
        assert info.value.path == folder / name


def test_bad_json_and_versions(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    (folder / "scene.json").write_text('{"format": "relit-scene", "version": 1,')
    with pytest.raises(SceneError, match="invalid JSON at line 1") as info:
        load_scene(folder)
    assert info.value.path == folder / "scene.json"
    (folder / "scene.json").write_text(json.dumps({"format": "relit-scene", "version": 99}))
    with pytest.raises(SceneError, match="newer Relit"):
        load_scene(folder)
    (folder / "scene.json").write_text(json.dumps({"something": "else"}))
    with pytest.raises(SceneError, match="not a Relit scene"):
        load_scene(folder)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["lights"][0].update(kind="area"), "unknown kind 'area'"),
        (lambda d: d["lights"][1].update(intensity="bright"), "intensity"),
        (lambda d: d["display"].update(view_transform="filmic"), "view transform"),
        (lambda d: d["environment"].update(rotation_deg=None), "rotation_deg"),
        (lambda d: d["material"].update(resolution=[512, 512]), "texture size"),
        (lambda d: d["mesh"].update(vertices=3), "different saves"),
    ],
)
def test_inconsistent_scene_json(tmp_path: Path, change, problem: str) -> None:
    folder = _saved(tmp_path)
    _edit_json(folder, change)
    with pytest.raises(SceneError, match=problem):
        load_scene(folder)


def test_damaged_glb_and_hdr(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    glb = (folder / "scene.glb").read_bytes()
    (folder / "scene.glb").write_bytes(glb[: len(glb) // 2])
    with pytest.raises(SceneError, match="truncated") as info:
        load_scene(folder)
    assert info.value.path == folder / "scene.glb"
    folder = _saved(tmp_path / "b")
    (folder / "environment.hdr").write_bytes(b"#?RADIANCE\n\n-Y 4 +X 4\n")
    with pytest.raises(SceneError, match="truncated") as info:
        load_scene(folder)
    assert info.value.path == folder / "environment.hdr"


def test_texture_size_mismatch_inside_glb(tmp_path: Path) -> None:
    # a glb written by another program, with maps of different sizes
    box = trimesh.creation.box()
    box.visual = trimesh.visual.TextureVisuals(
        uv=np.zeros((len(box.vertices), 2)),
        material=trimesh.visual.material.PBRMaterial(
            baseColorTexture=trimesh.visual.material.Image.fromarray(np.zeros((8, 8, 3), np.uint8)),
            metallicRoughnessTexture=trimesh.visual.material.Image.fromarray(np.zeros((4, 4, 3), np.uint8)),
        ),
    )
    folder = _saved(tmp_path)
    box.export(folder / "scene.glb")
    _edit_json(folder, lambda d: d.pop("mesh"))
    with pytest.raises(SceneError, match="texture size mismatch") as info:
        load_scene(folder)
    assert info.value.path == folder / "scene.glb"


def test_environment_written_is_a_plain_radiance_file(tmp_path: Path) -> None:
    scene = make_scene()
    save_scene(scene, tmp_path)
    head = (tmp_path / "environment.hdr").read_bytes()[:80]
    assert head.startswith(b"#?RADIANCE\n") and b"-Y 16 +X 32\n" in head
    save_hdr(tmp_path / "again.hdr", load_image(tmp_path / "environment.hdr"))
    assert (tmp_path / "again.hdr").read_bytes() == (tmp_path / "environment.hdr").read_bytes()
