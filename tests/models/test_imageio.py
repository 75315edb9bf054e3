"""Image reading/writing: round trips per format, real HDRIs, and the errors
users get for bad files."""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from models.errors import ImageError
from models.files import atomic_path, atomic_write_bytes
from models.imageio import (
    decode_image,
    encode_png,
    image_size,
    linear_to_srgb,
    load_image,
    save_exr,
    save_hdr,
    save_png,
    srgb_to_linear,
)

RNG = np.random.default_rng(7)

# Peak luminance (Rec. 709) from ../shared/data/README.md.
HDRI_PEAKS = {
    "studio_small_03_1k.hdr": 3352,
    "rooitou_park_1k.hdr": 64890,
    "immenstadter_horn_1k.hdr": 6704,
    "potsdamer_platz_1k.hdr": 10.9,
    "forest_slope_1k.hdr": 59,
    "lebombo_1k.hdr": 23,
    "st_fagans_interior_1k.hdr": 1111,
    "empty_warehouse_01_1k.hdr": 400,
    "venice_sunset_1k.hdr": 2091,
    "kiara_1_dawn_1k.hdr": 46,
    "dikhololo_night_1k.hdr": 73,
    "adams_place_bridge_1k.hdr": 111,
}


def encode_display(image: np.ndarray) -> np.ndarray:
    """What load_image returned, back in display (sRGB) space."""
    out = image.copy()
    c = 3 if image.shape[2] >= 3 else 1
    out[:, :, :c] = linear_to_srgb(image[:, :, :c])
    return out


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".tmp" in p.name]


# ------------------------------------------------------------------ sRGB


def test_srgb_curves_match_the_standard() -> None:
    x = np.array([0.0, 0.04045, 0.5, 1.0], np.float64)
    expected = [0.0, 0.04045 / 12.92, ((0.5 + 0.055) / 1.055) ** 2.4, 1.0]
    np.testing.assert_allclose(srgb_to_linear(x), expected, rtol=1e-12)
    np.testing.assert_allclose(linear_to_srgb(np.array([0.0031308, 0.214041140482232])), [0.0031308 * 12.92, 0.5], rtol=1e-9)
    grid = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(grid)), grid, atol=1e-12)
    # the two pieces meet (no jump at the threshold)
    assert abs(srgb_to_linear(np.float64(0.04045 + 1e-9)) - srgb_to_linear(np.float64(0.04045))) < 1e-8
    assert srgb_to_linear(np.ones(2, np.float32)).dtype == np.float32


# ------------------------------------------------------------------ PNG / LDR


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_round_trip_within_quantisation(tmp_path: Path, bits: int, channels: int) -> None:
    display = RNG.random((23, 31, channels)).astype(np.float32)
    path = tmp_path / f"im{bits}_{channels}.png"
    save_png(path, display, bits=bits)
    back = load_image(path)
    expected = display if channels != 2 else np.concatenate([np.repeat(display[:, :, :1], 3, 2), display[:, :, 1:]], 2)
    assert back.shape == expected.shape and back.dtype == np.float32
    # half a quantisation step, plus float32 slack for the curve round trip
    step = 1 / ((1 << bits) - 1)
    err = np.abs(encode_display(back) - expected).max()
    assert err <= 0.5 * step + 2e-7
    if channels in (2, 4):  # alpha is never linearised
        quantised = np.rint(display[:, :, -1].astype(np.float64) * ((1 << bits) - 1)) * step
        np.testing.assert_allclose(back[:, :, -1], quantised, atol=1e-7)


def test_16bit_png_keeps_what_8bit_cannot_and_opens_in_pillow(tmp_path: Path) -> None:
    ramp = (np.arange(64, dtype=np.float64).reshape(8, 8, 1) * 17 + 30000) / 65535
    rgb = np.concatenate([ramp, ramp[::-1], ramp.transpose(1, 0, 2)], axis=2)
    path = tmp_path / "ramp16.png"
    save_png(path, rgb, bits=16)
    back = encode_display(load_image(path))
    np.testing.assert_allclose(back, rgb, atol=0.5 / 65535 + 2e-7)
    assert len(np.unique(np.rint(back[:, :, 0] * 65535))) == 64  # 8 bits would merge these
    with Image.open(path) as im:  # an independent reader: the high bytes
        assert im.size == (8, 8)
        np.testing.assert_array_equal(np.asarray(im), (np.rint(rgb * 65535).astype(np.uint16) >> 8).astype(np.uint8))
    grey = tmp_path / "grey16.png"
    save_png(grey, ramp, bits=16)
    with Image.open(grey) as im:
        np.testing.assert_array_equal(np.asarray(im).astype(np.int64), np.rint(ramp[:, :, 0] * 65535).astype(np.int64))


def test_uint8_input_is_written_exactly(tmp_path: Path) -> None:
    data = RNG.integers(0, 256, (9, 11, 4), dtype=np.uint8)
    save_png(tmp_path / "u8.png", data)
    with Image.open(tmp_path / "u8.png") as im:
        np.testing.assert_array_equal(np.asarray(im), data)


def test_ldr_formats_and_modes(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.bmp")
    Image.fromarray(rgb).save(tmp_path / "a.tif")
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    for name in ("a.bmp", "a.tif"):
        np.testing.assert_allclose(load_image(tmp_path / name), srgb_to_linear(rgb / 255.0), atol=1e-6)
    jpg = load_image(tmp_path / "a.jpg")
    assert jpg.shape == (16, 20, 3) and 0 <= jpg.min() and jpg.max() <= 1
    # palette with a transparent entry -> RGBA
    pal = Image.new("P", (4, 3))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putdata([0, 1] * 6)
    pal.info["transparency"] = 1
    pal.save(tmp_path / "p.png", transparency=1)
    p = load_image(tmp_path / "p.png")
    assert p.shape == (3, 4, 4)
    np.testing.assert_allclose(p[0, 0], [1, 0, 0, 1])
    assert p[0, 1, 3] == 0
    # bilevel -> one channel of 0/1
    Image.fromarray(np.eye(5, dtype=bool)).save(tmp_path / "b.png")
    b = load_image(tmp_path / "b.png")
    assert b.shape == (5, 5, 1) and set(np.unique(b)) == {0.0, 1.0}
    assert image_size(tmp_path / "a.jpg") == (20, 16)


def test_data_textures_and_in_memory_images_skip_or_apply_srgb(tmp_path: Path) -> None:
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    for bits in (8, 16):
        data = encode_png(levels, bits=bits)
        raw = decode_image(data, "roughness.png", srgb=False)
        np.testing.assert_allclose(raw, levels / 255.0, atol=1e-7)  # data as stored
        colour = decode_image(data, "albedo.png")
        np.testing.assert_allclose(colour, srgb_to_linear(levels / 255.0), atol=1e-7)
        (tmp_path / f"t{bits}.png").write_bytes(data)
        np.testing.assert_array_equal(load_image(tmp_path / f"t{bits}.png"), colour)
        np.testing.assert_array_equal(load_image(tmp_path / f"t{bits}.png", srgb=False), raw)
    with pytest.raises(ImageError, match="embedded.png"):
        decode_image(b"\x89PNG\r\n\x1a\n broken", "embedded.png")


def tiff16(a: np.ndarray, endian: str) -> bytes:
    """A minimal uncompressed 16-bit RGB baseline TIFF, written by hand."""
    h, w, _ = a.shape
    data = a.astype(endian + "u2").tobytes()
    entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, 0), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, 0), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 1, len(data)), (284, 3, 1, 1)]
    bps_at = 8 + 2 + 12 * len(entries) + 4
    out = (b"II" if endian == "<" else b"MM") + struct.pack(endian + "HI", 42, 8)
    out += struct.pack(endian + "H", len(entries))
    for tag, kind, count, value in entries:
        value = {258: bps_at, 273: bps_at + 6}.get(tag, value)
        if kind == 3 and count == 1:
            out += struct.pack(endian + "HHIHH", tag, kind, count, value, 0)
        else:
            out += struct.pack(endian + "HHII", tag, kind, count, value)
    return out + struct.pack(endian + "I", 0) + struct.pack(endian + "HHH", 16, 16, 16) + data


@pytest.mark.parametrize("endian", ["<", ">"])
def test_16bit_tiff_keeps_all_bits(tmp_path: Path, endian: str) -> None:
    levels = RNG.integers(0, 65536, (5, 7, 3)).astype(np.uint16)
    (tmp_path / "t.tif").write_bytes(tiff16(levels, endian))
    np.testing.assert_array_equal(np.rint(load_image(tmp_path / "t.tif", srgb=False) * 65535), levels)


# ------------------------------------------------------------------ EXR


def test_exr_round_trip_half_float_and_alpha(tmp_path: Path) -> None:
    linear = (RNG.random((17, 13, 4)) * 50).astype(np.float32)
    save_exr(tmp_path / "h.exr", linear, half=True)
    np.testing.assert_allclose(load_image(tmp_path / "h.exr"), linear, rtol=2**-11, atol=1e-7)
    save_exr(tmp_path / "f.exr", linear[:, :, :3], half=False)
    np.testing.assert_array_equal(load_image(tmp_path / "f.exr"), linear[:, :, :3])
    # read back with OpenEXR directly: channel names and pixel types
    f = OpenEXR.File(str(tmp_path / "h.exr"), separate_channels=True)
    chans = f.parts[0].channels
    assert sorted(chans) == ["A", "B", "G", "R"]
    assert chans["R"].pixels.dtype == np.float16
    assert image_size(tmp_path / "h.exr") == (13, 17)


def test_exr_half_falls_back_to_float_for_suns(tmp_path: Path) -> None:
    sun = np.full((4, 4, 3), 0.5, np.float32)
    sun[1, 2] = 2.0e5  # beyond half range: would become inf
    save_exr(tmp_path / "sun.exr", sun, half=True)
    np.testing.assert_array_equal(load_image(tmp_path / "sun.exr"), sun)


def _write_raw_exr(path: Path, rgb: np.ndarray) -> None:
    channels = {n: np.ascontiguousarray(rgb[:, :, i]) for i, n in enumerate("RGB")}
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, channels).write(str(path))


def test_exr_with_nan_or_negative_values_is_refused(tmp_path: Path) -> None:
    bad = np.ones((5, 6, 3), np.float32)
    bad[0, 0, 1] = np.nan
    bad[2, 3, 0] = np.inf
    _write_raw_exr(tmp_path / "nan.exr", bad)
    with pytest.raises(ImageError, match="2 non-finite") as info:
        load_image(tmp_path / "nan.exr")
    assert info.value.path == tmp_path / "nan.exr"
    neg = np.ones((5, 6, 3), np.float32)
    neg[1, 1, 2] = -0.25
    _write_raw_exr(tmp_path / "neg.exr", neg)
    with pytest.raises(ImageError, match="1 negative"):
        load_image(tmp_path / "neg.exr")


# ------------------------------------------------------------------ Radiance HDR


def reference_rgbe_decode(data: bytes) -> np.ndarray:
    """An independent, byte-at-a-time reader of new-RLE/flat RGBE (-Y +X only),
    written from the format description, to check our reader and writer."""
    header_end = data.index(b"\n\n") + 2
    res_end = data.index(b"\n", header_end)
    _, h, _, w = data[header_end:res_end].split()
    h, w = int(h), int(w)
    pos = res_end + 1
    out = np.zeros((h, w, 3), np.float64)
    for y in range(h):
        if data[pos] == 2 and data[pos + 1] == 2:
            pos += 4
            planes = []
            for _ in range(4):
                plane: list[int] = []
                while len(plane) < w:
                    count = data[pos]
                    if count > 128:
                        plane += [data[pos + 1]] * (count - 128)
                        pos += 2
                    else:
                        plane += list(data[pos + 1 : pos + 1 + count])
                        pos += 1 + count
                planes.append(plane)
            pixels = list(zip(*planes))
        else:
            pixels = [tuple(data[pos + 4 * x : pos + 4 * x + 4]) for x in range(w)]
            pos += 4 * w
        for x, (r, g, b, e) in enumerate(pixels):
            if e:
                f = math.ldexp(1.0, e - 136)
                out[y, x] = (r * f, g * f, b * f)
    assert pos == len(data)
    return out


def test_hdr_round_trip_rle_matches_reference_reader(tmp_path: Path) -> None:
    linear = (RNG.random((12, 40, 3)) ** 4 * 300).astype(np.float32)
    linear[3, 5:30] = (1.5, 0.25, 0.0)  # a long run, so RLE runs are exercised
    linear[7] = 0.0
    path = tmp_path / "env.hdr"
    save_hdr(path, linear)
    data = path.read_bytes()
    assert data.startswith(b"#?RADIANCE\n") and b"FORMAT=32-bit_rle_rgbe\n\n-Y 12 +X 40\n" in data
    assert data[data.index(b"+X 40\n") + 6 :][:4] == bytes((2, 2, 0, 40))  # RLE scanline marker
    ours = load_image(path)
    np.testing.assert_array_equal(ours, reference_rgbe_decode(data).astype(np.float32))
    # RGBE keeps 8 mantissa bits of the brightest channel (rounded: <= 1/256)
    peak = linear.max(axis=2, keepdims=True)
    assert np.all(np.abs(ours - linear) <= peak / 256 + 1e-30)
    np.testing.assert_array_equal(ours[3, 10], np.float32([1.5, 0.25, 0.0]))
    assert not ours[7].any()


def test_hdr_flat_and_flipped_files_read_like_rle(tmp_path: Path) -> None:
    linear = (RNG.random((6, 10, 3)) * 4).astype(np.float32)
    save_hdr(tmp_path / "rle.hdr", linear)
    rle = load_image(tmp_path / "rle.hdr")
    data = (tmp_path / "rle.hdr").read_bytes()
    rows = reference_rgbe_decode(data)
    # re-encode the same RGBE bytes flat, and flipped (+Y: bottom row first)
    e = np.zeros((6, 10, 4), np.uint8)
    for y in range(6):
        for x in range(10):
            r, g, b = rows[y, x]
            m = max(r, g, b)
            if m > 0:
                ex = math.frexp(m)[1]
                e[y, x] = (*(round(c / math.ldexp(1.0, ex - 8)) for c in (r, g, b)), ex + 128)
    head = b"#?RGBE\nFORMAT=32-bit_rle_rgbe\n\n"
    (tmp_path / "flat.hdr").write_bytes(head + b"-Y 6 +X 10\n" + e.tobytes())
    (tmp_path / "up.hdr").write_bytes(head + b"+Y 6 +X 10\n" + e[::-1].tobytes())
    (tmp_path / "mirror.hdr").write_bytes(head + b"-Y 6 -X 10\n" + e[:, ::-1].tobytes())
    np.testing.assert_array_equal(load_image(tmp_path / "flat.hdr"), rle)
    np.testing.assert_array_equal(load_image(tmp_path / "up.hdr"), rle)
    np.testing.assert_array_equal(load_image(tmp_path / "mirror.hdr"), rle)
    assert image_size(tmp_path / "up.hdr") == (10, 6)


def test_shared_hdris_load_with_the_documented_peaks(shared_data: Path) -> None:
    for name, peak in HDRI_PEAKS.items():
        path = shared_data / "hdri" / name
        image = load_image(path)
        assert image.shape == (512, 1024, 3), name
        assert image_size(path) == (1024, 512)
        luminance = image @ np.float32([0.2126, 0.7152, 0.0722])
        assert luminance.max() == pytest.approx(peak, rel=0.01, abs=0.5), name  # README rounds
        assert image.min() >= 0


def test_real_hdri_survives_save_and_reload_exactly(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "hdri" / "studio_small_03_1k.hdr"
    image = load_image(src)
    save_hdr(tmp_path / "copy.hdr", image)
    np.testing.assert_array_equal(load_image(tmp_path / "copy.hdr"), image)
    # RLE keeps the file about as small as the original, far below flat RGBE
    assert (tmp_path / "copy.hdr").stat().st_size < 0.9 * image.shape[0] * image.shape[1] * 4


# ------------------------------------------------------------------ errors


def test_missing_and_unsupported_files_name_the_file(tmp_path: Path) -> None:
    for name in ("nope.png", "nope.hdr", "nope.exr"):
        with pytest.raises(ImageError, match="not found") as info:
            load_image(tmp_path / name)
        assert name in str(info.value)
        with pytest.raises(ImageError, match="not found"):
            image_size(tmp_path / name)
    (tmp_path / "a.gif").write_bytes(b"GIF89a")
    with pytest.raises(ImageError, match="unsupported") as info:
        load_image(tmp_path / "a.gif")
    assert "a.gif" in str(info.value)


def test_corrupt_and_truncated_files_raise_image_error(tmp_path: Path) -> None:
    good = RNG.random((64, 64, 3)).astype(np.float32)
    save_png(tmp_path / "good.png", good)
    Image.fromarray((good * 255).astype(np.uint8)).save(tmp_path / "good.jpg")
    save_hdr(tmp_path / "good.hdr", good * 10)
    save_exr(tmp_path / "good.exr", good)
    for name in ("good.png", "good.jpg", "good.hdr", "good.exr"):
        data = (tmp_path / name).read_bytes()
        cut = tmp_path / f"cut_{name}"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageError) as info:
            load_image(cut)
        assert cut.name in str(info.value)
        junk = tmp_path / f"junk_{name}"
        junk.write_bytes(b"this is not an image at all" * 10)
        with pytest.raises(ImageError):
            load_image(junk)
        with pytest.raises(ImageError):
            image_size(junk)
    bad_rle = bytearray((tmp_path / "good.hdr").read_bytes())
    bad_rle[bad_rle.index(b"+X 64\n") + 6 + 2] = 0x01  # scanline length no longer 64
    (tmp_path / "bad_rle.hdr").write_bytes(bytes(bad_rle))
    with pytest.raises(ImageError, match="scanline"):
        load_image(tmp_path / "bad_rle.hdr")
    (tmp_path / "xyze.hdr").write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_xyze\n\n-Y 1 +X 1\n\x80\x80\x80\x81")
    with pytest.raises(ImageError, match="xyze"):
        load_image(tmp_path / "xyze.hdr")


def test_writers_refuse_non_finite_and_keep_the_old_file(tmp_path: Path) -> None:
    old = np.full((4, 4, 3), 0.25, np.float32)
    bad = old.copy()
    bad[1, 1, 1] = np.nan
    for name, save in (("a.png", save_png), ("a.exr", save_exr), ("a.hdr", save_hdr)):
        path = tmp_path / name
        save(path, old)
        before = path.read_bytes()
        with pytest.raises(ImageError, match="1 non-finite") as info:
            save(path, bad)
        assert info.value.path == path
        assert path.read_bytes() == before
    with pytest.raises(ImageError, match="negative"):
        save_hdr(tmp_path / "n.hdr", -old)
    with pytest.raises(ImageError, match="shape"):
        save_hdr(tmp_path / "s.hdr", old[:, :, :2])
    assert no_temp_files(tmp_path)


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    atomic_write_bytes(target, b"first")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temp:
            assert temp.parent == tmp_path and temp != target
            temp.write_bytes(b"half-writ")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"first"
    with atomic_path(target) as temp:
        temp.write_bytes(b"second")
        assert target.read_bytes() == b"first"  # not visible until the block ends
    assert target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["data.bin"]


def test_atomic_files_get_ordinary_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    atomic_write_bytes(tmp_path / "new.bin", b"x")
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o666 & ~mask
    os.chmod(tmp_path / "new.bin", 0o640)
    atomic_write_bytes(tmp_path / "new.bin", b"y")  # replacing keeps the old mode
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o640
