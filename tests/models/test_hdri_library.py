"""The HDRI library: bundled presets, user folders, loading with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.errors import RelitError
from models.hdri_library import (
    BUNDLED_DIR,
    HdriError,
    bundled_presets,
    library,
    load_environment,
    load_radiance,
    scan_folder,
    thumbnail,
)
from models.imageio import save_exr, save_hdr, save_png
from models.lighting import Environment


def sky(h: int = 8) -> np.ndarray:
    rows = np.linspace(2.0, 0.1, h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(rows * np.array([0.6, 0.8, 1.0], np.float32), (h, 2 * h, 3)).copy()


def test_bundled_presets_are_listed_and_load() -> None:
    presets = bundled_presets()
    if not BUNDLED_DIR.is_dir() or not presets:
        pytest.skip("resources/hdri has no presets yet")
    assert all(p.source == "bundled" and p.path.suffix.lower() in (".hdr", ".exr") for p in presets)
    env = load_environment(presets[0].path)
    h, w, c = env.radiance.shape
    assert w == 2 * h and c == 3 and env.name == presets[0].path.stem
    assert np.isfinite(env.radiance).all() and env.radiance.min() >= 0 and env.radiance.max() > 0


def test_user_folder_entries_and_settings_carried_over(tmp_path: Path) -> None:
    save_hdr(tmp_path / "b_sky.hdr", sky())
    save_exr(tmp_path / "A_sky.exr", sky(), half=False)
    (tmp_path / "notes.txt").write_text("not an image")
    entries = scan_folder(tmp_path)
    assert [e.name for e in entries] == ["A_sky", "b_sky"] and all(e.source == "user" for e in entries)
    everything, errors = library([tmp_path, tmp_path / "missing"])
    assert [e.name for e in everything[-2:]] == ["A_sky", "b_sky"]
    assert len(errors) == 1 and "folder not found" in str(errors[0])
    current = Environment.uniform(1.0)
    current = Environment(current.radiance, rotation_deg=40.0, exposure_ev=-1.0, strength=2.0)
    env = load_environment(tmp_path / "A_sky.exr", like=current)
    np.testing.assert_allclose(env.radiance, sky(), rtol=1e-6)
    assert (env.rotation_deg, env.exposure_ev, env.strength, env.name) == (40.0, -1.0, 2.0, "A_sky")


@pytest.mark.parametrize(
    "name, make, problem",
    [
        ("missing.hdr", None, "file not found"),
        ("photo.png", lambda p: save_png(p, np.zeros((4, 8, 3))), "not an HDR environment"),
        ("square.hdr", lambda p: save_hdr(p, np.ones((8, 8, 3), np.float32)), "width must be twice the height"),
        ("black.hdr", lambda p: save_hdr(p, np.zeros((8, 16, 3), np.float32)), "completely black"),
        ("broken.exr", lambda p: p.write_bytes(b"garbage"), "OpenEXR"),
        ("broken.hdr", lambda p: p.write_bytes(b"#?RADIANCE\nnonsense"), ""),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path: Path, name: str, make, problem: str) -> None:
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(HdriError) as info:
        load_radiance(path)
    assert isinstance(info.value, RelitError)
    assert info.value.path == path and problem in info.value.problem


def test_scan_errors(tmp_path: Path) -> None:
    with pytest.raises(HdriError, match="folder not found"):
        scan_folder(tmp_path / "nope")
    (tmp_path / "file.hdr").write_bytes(b"x")
    with pytest.raises(HdriError, match="not a folder"):
        scan_folder(tmp_path / "file.hdr")


def test_thumbnail_is_small_srgb_and_keeps_the_gradient() -> None:
    radiance = sky(64)
    radiance[10, 20] = 5000.0  # a sun stays finite in the preview
    thumb = thumbnail(radiance, 32)
    assert thumb.shape == (16, 32, 3) and thumb.dtype == np.uint8
    assert thumb[0].mean() > thumb[-1].mean()
