"""Reading and writing images as float32 arrays, with errors users can act on.

Conventions: arrays are (H, W, C) float32 with C in {1, 3, 4} and row 0 at the
top. LDR files (PNG, JPEG, BMP, TIFF) are sRGB-encoded, so `load_image`
returns their colour channels *linearised* (alpha unchanged); HDR files
(.hdr, .exr) are linear and returned as stored. Writers are atomic (see
models/files.py): a failed save never leaves half a file behind.

Pillow decodes 16-bit RGB(A) PNGs and TIFFs to 8 bits, so these are read
with a second decode of the low bytes (uncompressed TIFF and PNG only; other
16-bit TIFF compressions fall back to 8 bits), and 16-bit PNGs are written
with a tiny encoder of our own.
EXIF orientation is deliberately ignored: camera intrinsics in capture files
refer to the pixels as stored.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from models.errors import ImageError
from models.files import atomic_path

LDR_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
HDR_SUFFIXES = frozenset({".hdr", ".pic", ".rgbe"})
EXR_SUFFIXES = frozenset({".exr"})
IMAGE_SUFFIXES = LDR_SUFFIXES | HDR_SUFFIXES | EXR_SUFFIXES
HALF_MAX = 65504.0

# ---------------------------------------------------------------- sRGB curves


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """The exact piecewise sRGB decoding curve (IEC 61966-2-1)."""
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    x = x.astype(dtype, copy=False)
    hi = np.power((np.maximum(x, 0.04045) + 0.055) / 1.055, 2.4)
    return np.where(x <= 0.04045, x / 12.92, hi).astype(dtype, copy=False)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """The exact piecewise sRGB encoding curve (inverse of srgb_to_linear)."""
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    x = x.astype(dtype, copy=False)
    hi = 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055
    return np.where(x <= 0.0031308, x * 12.92, hi).astype(dtype, copy=False)


# ---------------------------------------------------------------- public API


def load_image(path: str | Path, *, srgb: bool = True) -> np.ndarray:
    """Read an image as (H, W, C) float32, C in {1, 3, 4}: LDR linearised from
    sRGB (alpha as stored), HDR linear. Raises ImageError naming the file.

    `srgb=False` returns LDR samples as stored, scaled to [0,1]: for data
    textures (roughness, metallic, normals) that are not colours."""
    path = Path(path)
    _check_exists(path)
    suffix = path.suffix.lower()
    if suffix in HDR_SUFFIXES:
        image = _read_hdr(path)
    elif suffix in EXR_SUFFIXES:
        image = _read_exr(path)
    elif suffix in LDR_SUFFIXES:
        image = _read_ldr(path, path, srgb)
    else:
        raise ImageError(path, f"unsupported image format '{suffix}' (use {', '.join(sorted(IMAGE_SUFFIXES))})")
    _check_values(path, image)
    return np.ascontiguousarray(image, np.float32)


def decode_image(data: bytes, name: str | Path, *, srgb: bool = True) -> np.ndarray:
    """Decode an in-memory PNG/JPEG/BMP/TIFF (e.g. a texture embedded in a .glb)
    like load_image; `name` says where it came from in errors."""
    image = _read_ldr(Path(name), bytes(data), srgb)
    _check_values(Path(name), image)
    return np.ascontiguousarray(image, np.float32)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) read from the file header only (no pixel decoding)."""
    path = Path(path)
    _check_exists(path)
    suffix = path.suffix.lower()
    if suffix in HDR_SUFFIXES:
        with open(path, "rb") as f:
            width, height, _, _ = _read_hdr_header(path, f)
        return width, height
    if suffix in EXR_SUFFIXES:
        import OpenEXR

        try:
            header = OpenEXR.File(str(path), header_only=True).header()
            (x0, y0), (x1, y1) = header["dataWindow"]
        except Exception as exc:  # OpenEXR raises bare RuntimeErrors
            raise ImageError(path, f"not a readable OpenEXR file ({exc})") from exc
        return int(x1 - x0 + 1), int(y1 - y0 + 1)
    if suffix in LDR_SUFFIXES:
        try:
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise ImageError(path, f"not a readable image ({exc})") from exc
    raise ImageError(path, f"unsupported image format '{suffix}'")


def save_png(path: str | Path, image: np.ndarray, bits: int = 8) -> None:
    """Write display-space pixels (float in [0,1], or uint8/uint16 as stored)
    of shape (H,W), (H,W,1|2|3|4) as an 8- or 16-bit PNG, atomically."""
    path = Path(path)
    data = encode_png(image, bits, name=path)
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def encode_png(image: np.ndarray, bits: int = 8, name: str | Path = "image.png", compress_level: int = 6) -> bytes:
    """The PNG file bytes for save_png's input (for textures embedded in a
    .glb); `name` says what it is in errors. zlib `compress_level` 1-9 trades
    size for time (3 is ~3x faster than 6 for ~15% larger files)."""
    path = Path(name)
    if bits not in (8, 16):
        raise ImageError(path, f"PNG bit depth must be 8 or 16, not {bits}")
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(path, f"cannot write an array of shape {a.shape} as PNG")
    top = (1 << bits) - 1
    if np.issubdtype(a.dtype, np.integer):
        source_top = 255 if a.dtype == np.uint8 else 65535
        q = a.astype(np.float64) * (top / source_top) if source_top != top else a
        q = np.clip(np.rint(q), 0, top)
    else:
        _check_finite(path, a)
        q = np.rint(np.clip(a.astype(np.float64), 0.0, 1.0) * top)
    if bits == 16:
        return _encode_png16(q.astype(np.uint16), compress_level)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[a.shape[2]]
    data = q.astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(data[:, :, 0] if mode == "L" else data, mode).save(out, format="PNG", compress_level=compress_level)
    return out.getvalue()


def save_exr(path: str | Path, image: np.ndarray, half: bool = True) -> None:
    """Write linear (H,W,1|3|4) pixels as a ZIP-compressed OpenEXR, atomically.

    `half` stores 16-bit floats; values beyond half range (65504) are stored as
    32-bit floats instead of being clipped, since bright suns exceed it.
    """
    import OpenEXR

    path = Path(path)
    a = _as_hwc(path, image, (1, 3, 4))
    _check_finite(path, a)
    _check_non_negative(path, a[:, :, :3])
    store_half = half and float(np.max(np.abs(a), initial=0.0)) <= HALF_MAX
    dtype = np.float16 if store_half else np.float32
    names = ("Y",) if a.shape[2] == 1 else ("R", "G", "B", "A")[: a.shape[2]]
    channels = {n: np.ascontiguousarray(a[:, :, i], dtype) for i, n in enumerate(names)}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with atomic_path(path) as temp:
        try:
            OpenEXR.File(header, channels).write(str(temp))
        except Exception as exc:
            raise ImageError(path, f"could not write OpenEXR ({exc})") from exc


def save_hdr(path: str | Path, image: np.ndarray) -> None:
    """Write linear (H,W,3) radiance as a run-length-encoded Radiance RGBE file
    (-Y H +X W), atomically."""
    path = Path(path)
    a = _as_hwc(path, image, (3,))
    _check_finite(path, a)
    _check_non_negative(path, a)
    rgbe = float_to_rgbe(a)
    h, w = a.shape[:2]
    header = f"#?RADIANCE\n# Written by Relit\nFORMAT=32-bit_rle_rgbe\n\n-Y {h} +X {w}\n".encode("ascii")
    body = _encode_hdr_rle(rgbe) if 8 <= w <= 0x7FFF else rgbe.tobytes()
    with atomic_path(path) as temp:
        temp.write_bytes(header + body)


# ---------------------------------------------------------------- validation


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise ImageError(path, "file not found")
    if not path.is_file():
        raise ImageError(path, "not a file")


def _check_finite(path: Path, a: np.ndarray) -> None:
    if np.issubdtype(a.dtype, np.floating):
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        if bad:
            raise ImageError(path, f"{bad} non-finite values (NaN/Inf) out of {a.size}")


def _check_non_negative(path: Path, a: np.ndarray) -> None:
    neg = int(np.count_nonzero(a < 0))
    if neg:
        raise ImageError(path, f"{neg} negative radiance values (min {float(a.min()):g})")


def _check_values(path: Path, image: np.ndarray) -> None:
    _check_finite(path, image)
    _check_non_negative(path, image)


def _as_hwc(path: Path, image: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(image, np.float32)
    if a.ndim == 2 and 1 in channels:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in channels or a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(path, f"expected an (H,W,{'|'.join(map(str, channels))}) array, got shape {a.shape}")
    return a


# ---------------------------------------------------------------- LDR (Pillow)


def _pil_to_linear(im: Image.Image, srgb: bool) -> np.ndarray:
    """Decode a loaded Pillow image to linear float32 (H,W,C)."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        data = np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
        return _levels_to_float(data[:, :, None], 65535, srgb)
    if mode == "F":  # float TIFF: linear data, not sRGB
        return np.asarray(im, np.float32)[:, :, None]
    if mode == "1":
        im = im.convert("L")
    elif mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        im = im.convert("RGBA")
    elif mode not in ("L", "RGB", "RGBA"):
        im = im.convert("RGB")
    data = np.asarray(im)
    return _levels_to_float(data[:, :, None] if data.ndim == 2 else data, 255, srgb)


def _levels_to_float(data: np.ndarray, top: int, srgb: bool) -> np.ndarray:
    """Integer samples (H,W,C) in [0, top] -> float32 in [0,1], colour channels
    linearised through an exact lookup table (far cheaper than pow per pixel)."""
    scale = np.arange(top + 1, dtype=np.float64) / top
    out = scale.astype(np.float32)[data]
    if srgb:
        c = 3 if data.shape[2] >= 3 else 1
        out[:, :, :c] = srgb_to_linear(scale).astype(np.float32)[data[:, :, :c]]
    return out


# Pillow keeps only the high byte of 16-bit RGB(A) and grey+alpha PNG/TIFF
# samples; the file's tile says so ("RGB;16B"). Decoding the same tile again
# with the opposite byte order ("RGB;16L") yields the low bytes through the
# same unfiltering. Grey+alpha has no such unpacker, but its 4-byte pixels
# unfilter exactly like 8-bit RGBA, whose bytes are then (Lhi, Llo, Ahi, Alo).
_SWAP = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L", "RGB;16L": "RGB;16B", "RGBA;16L": "RGBA;16B"}
_AS_BYTES = {"LA;16B": "RGBA"}


def _tile_rawmode(tile: object) -> str | None:
    args = getattr(tile, "args", None)
    if isinstance(args, tuple):
        args = args[0] if args else None
    return args if isinstance(args, str) else None


def _read_ldr(path: Path, source: Path | bytes, srgb: bool) -> np.ndarray:
    """Decode with Pillow from a file or bytes; `path` names it in errors."""

    def open_source() -> Image.Image:
        return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)

    try:
        with open_source() as im:
            tiles = list(getattr(im, "tile", []) or [])
            raw = {_tile_rawmode(t) for t in tiles}
            plain = all(getattr(t, "codec_name", None) in ("zip", "raw") for t in tiles)
            mode = raw.pop() if len(raw) == 1 and plain else None
            if mode not in _SWAP and mode not in _AS_BYTES:
                im.load()
                return _pil_to_linear(im, srgb)
            first = _decode_tiles(im, mode)
        with open_source() as im2:
            second = _decode_tiles(im2, _SWAP.get(mode) or _AS_BYTES[mode])
        if mode in _AS_BYTES:
            grey = second[:, :, 0] * 256 + second[:, :, 1]
            alpha = second[:, :, 2] * 256 + second[:, :, 3]
            value = np.stack([grey, grey, grey, alpha], axis=-1)
        else:  # Pillow's own raw mode keeps the high byte, the swapped one the low
            value = first * 256 + second
        return _levels_to_float(value, 65535, srgb)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(path, f"image too large ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise ImageError(path, f"corrupt or truncated image ({exc})") from exc


def _decode_tiles(im: Image.Image, rawmode: str) -> np.ndarray:
    """Decode `im`'s pixel tiles with another raw mode; uint16 array."""
    im.tile = [
        t._replace(args=(rawmode, *t.args[1:]) if isinstance(t.args, tuple) else rawmode) for t in im.tile
    ]
    im.load()
    return np.asarray(im).astype(np.uint16)


def _encode_png16(a: np.ndarray, compress_level: int = 6) -> bytes:
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA) with the Sub filter."""
    h, w, c = a.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = a.astype(">u2").reshape(h, w * c).view(np.uint8)
    bpp = 2 * c
    sub = rows.copy()
    sub[:, bpp:] = rows[:, bpp:] - rows[:, :-bpp]  # uint8 arithmetic wraps mod 256
    raw = np.concatenate([np.ones((h, 1), np.uint8), sub], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, compress_level)) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- OpenEXR


def _read_exr(path: Path) -> np.ndarray:
    import OpenEXR

    try:
        f = OpenEXR.File(str(path), separate_channels=True)
        channels = {name: np.asarray(ch.pixels) for name, ch in f.parts[0].channels.items()}
    except Exception as exc:  # OpenEXR raises bare RuntimeErrors
        raise ImageError(path, f"corrupt or truncated OpenEXR file ({exc})") from exc
    names = set(channels)
    if {"R", "G", "B"} <= names:
        order = ["R", "G", "B"] + (["A"] if "A" in names else [])
    elif "Y" in names:
        order = ["Y"]
    elif len(names) == 1:
        order = list(names)
    else:
        raise ImageError(path, f"no R,G,B or Y channels (has {', '.join(sorted(names))})")
    planes = [channels[n] for n in order]
    if any(p.ndim != 2 or p.shape != planes[0].shape for p in planes):
        raise ImageError(path, "channels have mismatched or subsampled shapes")
    return np.stack([p.astype(np.float32) for p in planes], axis=-1)


# ---------------------------------------------------------------- Radiance RGBE

_RES = re.compile(rb"^([-+])([XY]) (\d+) ([-+])([XY]) (\d+)$")


def _read_hdr_header(path: Path, f) -> tuple[int, int, tuple[str, str], int]:
    """Parse the header; returns width, height, the two axis codes ('-Y', '+X'
    for standard files) and the byte offset of the pixel data."""
    first = f.readline(256)
    if not first.startswith(b"#?"):
        raise ImageError(path, "not a Radiance HDR file (missing '#?' signature)")
    fmt = None
    for _ in range(10000):
        line = f.readline(65536)
        if not line:
            raise ImageError(path, "truncated header (no resolution line)")
        line = line.rstrip(b"\r\n")
        if line == b"":
            break
        if line.startswith(b"FORMAT="):
            fmt = line[7:].strip()
    else:
        raise ImageError(path, "header too long")
    if fmt not in (None, b"32-bit_rle_rgbe"):
        raise ImageError(path, f"unsupported pixel format {fmt.decode('ascii', 'replace')} (only 32-bit_rle_rgbe)")
    res = f.readline(256).strip()
    m = _RES.match(res)
    if not m or m.group(2) == m.group(5):
        raise ImageError(path, f"bad resolution line {res[:40]!r}")
    a, b = m.group(1 + 0).decode() + m.group(2).decode(), m.group(4).decode() + m.group(5).decode()
    n_major, n_minor = int(m.group(3)), int(m.group(6))
    if n_major < 1 or n_minor < 1:
        raise ImageError(path, f"bad image size in {res.decode('ascii', 'replace')}")
    # the first axis is the slow (scanline) one
    height, width = n_major, n_minor
    if a[1] == "X":
        width, height = n_major, n_minor
    return width, height, (a, b), f.tell()


def _read_hdr(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        width, height, axes, offset = _read_hdr_header(path, f)
        data = f.read()
    n_lines, line_len = (height, width) if axes[0][1] == "Y" else (width, height)
    rgbe = _decode_hdr_pixels(path, data, n_lines, line_len)
    image = rgbe_to_float(rgbe)  # (n_lines, line_len, 3) in file order
    # Map file order to row 0 = top, column 0 = left.
    if axes[0][1] == "X":  # scanlines are columns
        image = image.transpose(1, 0, 2)
        y_axis, x_axis = axes[1], axes[0]
    else:
        y_axis, x_axis = axes[0], axes[1]
    if y_axis[0] == "+":  # +Y: first stored row is the bottom
        image = image[::-1]
    if x_axis[0] == "-":
        image = image[:, ::-1]
    return np.ascontiguousarray(image)


def _decode_hdr_pixels(path: Path, data: bytes, n_lines: int, line_len: int) -> np.ndarray:
    """Scanlines of RGBE bytes, each either new-style RLE or flat."""
    out = np.empty((n_lines, line_len, 4), np.uint8)
    buf = np.frombuffer(data, np.uint8)
    pos, n = 0, len(data)
    rle_ok = 8 <= line_len <= 0x7FFF
    for y in range(n_lines):
        if rle_ok and pos + 4 <= n and data[pos] == 2 and data[pos + 1] == 2 and not data[pos + 2] & 0x80:
            if (data[pos + 2] << 8 | data[pos + 3]) != line_len:
                raise ImageError(path, f"corrupt RLE scanline {y} (length mismatch)")
            pos += 4
            for c in range(4):
                row = out[y, :, c]
                x = 0
                while x < line_len:
                    if pos >= n:
                        raise ImageError(path, f"truncated pixel data at scanline {y} of {n_lines}")
                    count = data[pos]
                    if count > 128:
                        count -= 128
                        if x + count > line_len or pos + 1 >= n:
                            raise ImageError(path, f"corrupt RLE run at scanline {y}")
                        row[x : x + count] = data[pos + 1]
                        pos += 2
                    else:
                        if count == 0 or x + count > line_len or pos + 1 + count > n:
                            raise ImageError(path, f"corrupt or truncated RLE data at scanline {y}")
                        row[x : x + count] = buf[pos + 1 : pos + 1 + count]
                        pos += 1 + count
                    x += count
        else:
            end = pos + 4 * line_len
            if end > n:
                raise ImageError(path, f"truncated pixel data at scanline {y} of {n_lines}")
            out[y] = buf[pos:end].reshape(line_len, 4)
            pos = end
    return out


def rgbe_to_float(rgbe: np.ndarray) -> np.ndarray:
    """(...,4) uint8 RGBE -> (...,3) float32 radiance (Radiance/OpenCV decoding)."""
    e = rgbe[..., 3].astype(np.int32)
    scale = np.where(e > 0, np.ldexp(np.float32(1.0), e - 136), 0.0).astype(np.float32)
    return rgbe[..., :3].astype(np.float32) * scale[..., None]


def float_to_rgbe(rgb: np.ndarray) -> np.ndarray:
    """(...,3) non-negative float -> (...,4) uint8 RGBE, mantissas rounded to
    nearest (halving the error of the usual truncating encoder)."""
    rgb = np.asarray(rgb, np.float64)
    peak = rgb.max(axis=-1)
    _, e = np.frexp(peak)  # peak = f * 2^e, f in [0.5, 1)
    m = np.rint(rgb * np.ldexp(1.0, 8 - e)[..., None])
    over = m.max(axis=-1) > 255  # rounding reached 256: use the next exponent
    e = np.where(over, e + 1, e)
    m = np.where(over[..., None], np.rint(rgb * np.ldexp(1.0, 8 - e)[..., None]), m)
    tiny = peak < 1e-32
    too_big = e + 128 > 255
    out = np.empty(rgb.shape[:-1] + (4,), np.uint8)
    out[..., :3] = np.clip(m, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(e + 128, 0, 255).astype(np.uint8)
    out[tiny] = 0
    out[too_big] = (255, 255, 255, 255)
    return out


def _encode_hdr_rle(rgbe: np.ndarray) -> bytes:
    """New-style RLE: per scanline, each of the 4 byte planes as runs (>= 4
    equal bytes, up to 127) and literal dumps (up to 128)."""
    h, w, _ = rgbe.shape
    parts: list[bytes] = []
    line_head = bytes((2, 2, w >> 8, w & 0xFF))
    for y in range(h):
        parts.append(line_head)
        for c in range(4):
            parts.append(_rle_plane(rgbe[y, :, c]))
    return b"".join(parts)


def _rle_plane(x: np.ndarray) -> bytes:
    w = len(x)
    starts = np.flatnonzero(np.concatenate(([True], x[1:] != x[:-1])))
    lengths = np.diff(np.append(starts, w))
    long_runs = np.flatnonzero(lengths >= 4)
    raw = x.tobytes()
    out = bytearray()

    def literal(a: int, b: int) -> None:
        while a < b:
            k = min(128, b - a)
            out.append(k)
            out.extend(raw[a : a + k])
            a += k

    done = 0
    for i in long_runs:
        s, n = int(starts[i]), int(lengths[i])
        literal(done, s)
        value = raw[s]
        while n > 0:
            k = min(127, n)
            out.append(128 + k)
            out.append(value)
            n -= k
        done = s + int(lengths[i])
    literal(done, w)
    return bytes(out)
