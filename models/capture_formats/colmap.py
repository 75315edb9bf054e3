"""COLMAP sparse models: read and write cameras/images/points3D in the text
and binary formats, and turn them into capture frames.

COLMAP stores world-to-camera poses (quaternion qw qx qy qz and translation)
in OpenCV camera axes (x right, y down, z forward); frames get Relit's
camera-to-world OpenGL convention. Pixel conventions agree with Relit's (the
centre of the top-left pixel is (0.5, 0.5)), so intrinsics carry over as-is.
Text errors name the line; binary errors name the byte offset.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.camera import OPENCV_TO_OPENGL, Camera, Distortion
from models.capture_formats.common import Frame, ParsedCapture, check_position, check_rotation, header_size, inside
from models.errors import CaptureError

# model id -> (name, number of parameters), as in COLMAP's src/colmap/sensor/models.h
MODELS: dict[int, tuple[str, int]] = {
    0: ("SIMPLE_PINHOLE", 3),
    1: ("PINHOLE", 4),
    2: ("SIMPLE_RADIAL", 4),
    3: ("RADIAL", 5),
    4: ("OPENCV", 8),
    5: ("OPENCV_FISHEYE", 8),
    6: ("FULL_OPENCV", 12),
    7: ("FOV", 5),
    8: ("SIMPLE_RADIAL_FISHEYE", 4),
    9: ("RADIAL_FISHEYE", 5),
    10: ("THIN_PRISM_FISHEYE", 12),
    11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16),
}
MODEL_IDS = {name: i for i, (name, _) in MODELS.items()}
SUPPORTED = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "OPENCV_FISHEYE", "FULL_OPENCV")


@dataclass(frozen=True)
class ColmapCamera:
    camera_id: int
    model: str
    width: int
    height: int
    params: tuple[float, ...]


@dataclass(frozen=True)
class ColmapImage:
    """One registered image: world-to-camera rotation (unit quaternion
    qw qx qy qz) and translation, OpenCV camera axes."""

    image_id: int
    qvec: tuple[float, float, float, float]
    tvec: tuple[float, float, float]
    camera_id: int
    name: str


@dataclass(frozen=True)
class ColmapModel:
    cameras: dict[int, ColmapCamera]
    images: tuple[ColmapImage, ...]


# ------------------------------------------------------------------ conversion


def qvec_to_rotation(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotation_to_qvec(r: np.ndarray) -> np.ndarray:
    """Unit quaternion (w first, w >= 0) of a rotation matrix (Shepperd's method)."""
    m = np.asarray(r, np.float64)
    tr = np.trace(m)
    if tr > 0:
        s = 2 * math.sqrt(tr + 1)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2 * math.sqrt(1 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2 * math.sqrt(1 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2 * math.sqrt(1 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.array(q) / np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def to_camera(cam: ColmapCamera, image: ColmapImage) -> Camera:
    """Relit camera (c2w, OpenGL axes) of a COLMAP camera + image pose."""
    r = qvec_to_rotation(np.asarray(image.qvec, np.float64))
    c2w = np.eye(4)
    c2w[:3, :3] = r.T
    c2w[:3, 3] = -r.T @ np.asarray(image.tvec, np.float64)
    c2w = c2w @ OPENCV_TO_OPENGL
    p = cam.params
    m = cam.model
    if m in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        k = list(p[3:]) + [0.0, 0.0]
        dist = Distortion("opencv", k[0], k[1])
    else:
        fx, fy, cx, cy = p[:4]
        if m == "OPENCV":
            dist = Distortion("opencv", p[4], p[5], 0.0, 0.0, p[6], p[7])
        elif m == "FULL_OPENCV":
            dist = Distortion("opencv", p[4], p[5], p[8], 0.0, p[6], p[7])
        elif m == "OPENCV_FISHEYE":
            dist = Distortion("fisheye", p[4], p[5], p[6], p[7])
        else:
            dist = Distortion()
    if dist.is_identity:
        dist = Distortion()
    return Camera(cam.width, cam.height, fx, fy, cx, cy, c2w, dist)


def from_cameras(cameras: list[Camera], names: list[str]) -> ColmapModel:
    """A COLMAP model holding `cameras` (one COLMAP camera per view), e.g. to
    export a capture's calibration or to build test data."""
    cams, images = {}, []
    for i, (c, name) in enumerate(zip(cameras, names), start=1):
        d = c.distortion
        if d.is_identity:
            model, params = "PINHOLE", (c.fx, c.fy, c.cx, c.cy)
        elif d.model == "fisheye":
            model, params = "OPENCV_FISHEYE", (c.fx, c.fy, c.cx, c.cy, d.k1, d.k2, d.k3, d.k4)
        elif d.k3 == 0 and d.k4 == 0:
            model, params = "OPENCV", (c.fx, c.fy, c.cx, c.cy, d.k1, d.k2, d.p1, d.p2)
        else:
            model = "FULL_OPENCV"
            params = (c.fx, c.fy, c.cx, c.cy, d.k1, d.k2, d.p1, d.p2, d.k3, d.k4, 0.0, 0.0)
        cams[i] = ColmapCamera(i, model, c.width, c.height, tuple(float(x) for x in params))
        w2c = np.linalg.inv(c.c2w @ OPENCV_TO_OPENGL)
        q = rotation_to_qvec(w2c[:3, :3])
        images.append(ColmapImage(i, tuple(q.tolist()), tuple(w2c[:3, 3].tolist()), i, name))
    return ColmapModel(cams, tuple(images))


# ------------------------------------------------------------------ capture


def find_sparse(root: Path) -> Path | None:
    """`sparse/0` (or the lowest-numbered model) or `sparse/` itself."""
    sparse = root / "sparse"
    if not sparse.is_dir():
        return None
    if _has_model(sparse):
        return sparse
    numbered = sorted((p for p in sparse.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    return next((p for p in numbered if _has_model(p)), None)


def _has_model(folder: Path) -> bool:
    return any((folder / f"{n}.{e}").is_file() for n in ("cameras", "images") for e in ("txt", "bin"))


def read_colmap(root: Path) -> ParsedCapture:
    """A COLMAP capture: `sparse/0` (or `sparse/`) plus images in `images/`."""
    sparse = find_sparse(root)
    if sparse is None:
        raise CaptureError(root, "no COLMAP model in sparse/0 or sparse/")
    model = read_model(sparse)
    if not model.images:
        raise CaptureError(sparse, "the COLMAP model has no images")
    image_dir = root / "images"
    frames = []
    for image in model.images:
        if image.camera_id not in model.cameras:
            raise CaptureError(sparse, f"image {image.name!r} uses camera {image.camera_id}, which is not defined")
        path = inside(root, os.path.join("images", image.name), sparse, f"image name {image.name!r}")
        if not path.is_file():
            raise CaptureError(path, f"image not found (named in the COLMAP model in {sparse})")
        cam = model.cameras[image.camera_id]
        size = header_size(path)
        if size != (cam.width, cam.height):
            raise CaptureError(
                path, f"the image is {size[0]}x{size[1]} but COLMAP camera {cam.camera_id} is {cam.width}x{cam.height}"
            )
        name = os.path.relpath(path, image_dir).replace(os.sep, "/")
        frames.append(Frame(name, path, to_camera(cam, image)))
    points_file = next((sparse / f"points3D.{e}" for e in ("bin", "txt") if (sparse / f"points3D.{e}").is_file()), None)
    points = None if points_file is None else (lambda: read_points(points_file))
    return ParsedCapture("colmap", tuple(frames), points=points)


# ------------------------------------------------------------------ reading


def read_model(sparse: Path) -> ColmapModel:
    """cameras + images from `sparse` (binary when cameras.bin exists, else text)."""
    binary = (sparse / "cameras.bin").is_file()
    ext = "bin" if binary else "txt"
    cam_path, img_path = sparse / f"cameras.{ext}", sparse / f"images.{ext}"
    for p in (cam_path, img_path):
        if not p.is_file():
            raise CaptureError(p, "missing from the COLMAP model")
    if binary:
        return ColmapModel(_read_cameras_bin(cam_path), _read_images_bin(img_path))
    return ColmapModel(_read_cameras_txt(cam_path), _read_images_txt(img_path))


def read_points(path: Path) -> np.ndarray:
    """(N,3) float64 positions from points3D.txt or points3D.bin."""
    return _read_points_bin(path) if path.suffix == ".bin" else _read_points_txt(path)


def _lines(path: Path):
    """(line number, tokens) of non-comment, non-empty lines; each raw line too."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaptureError(path, f"is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CaptureError(path, f"cannot read: {exc.strerror or exc}") from None
    return list(enumerate(text.splitlines(), start=1))


def _int(token: str, path: Path, line: int, what: str, positive: bool = False) -> int:
    try:
        value = int(token)
    except ValueError:
        raise CaptureError(path, f"line {line}: {what} must be an integer, got {token[:40]!r}") from None
    if positive and value <= 0 or not -(2**63) <= value < 2**63:
        raise CaptureError(path, f"line {line}: {what} out of range: {token[:40]}")
    return value


def _floats(tokens: list[str], path: Path, line: int, what: str) -> list[float]:
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise CaptureError(path, f"line {line}: {what} must be numbers, got {' '.join(tokens)[:80]!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise CaptureError(path, f"line {line}: {what} hold NaN or infinite values")
    return values


def _camera(cid: int, model: str, w: int, h: int, params: list[float], path: Path, where: str) -> ColmapCamera:
    if model not in MODEL_IDS:
        raise CaptureError(path, f"{where}: unknown camera model {model[:40]!r}")
    if model not in SUPPORTED:
        raise CaptureError(path, f"{where}: camera model {model} is not supported (supported: {', '.join(SUPPORTED)})")
    n = MODELS[MODEL_IDS[model]][1]
    if len(params) != n:
        raise CaptureError(path, f"{where}: {model} takes {n} parameters, got {len(params)}")
    if model == "FULL_OPENCV" and any(params[9:]):
        raise CaptureError(path, f"{where}: FULL_OPENCV with rational terms k4..k6 is not supported")
    focal = params[:1] if model.startswith("SIMPLE") or model == "RADIAL" else params[:2]
    if min(focal) <= 0:
        raise CaptureError(path, f"{where}: focal length must be positive, got {focal}")
    if not (0 < w <= 1_000_000 and 0 < h <= 1_000_000):
        raise CaptureError(path, f"{where}: bad image size {w}x{h}")
    return ColmapCamera(cid, model, w, h, tuple(params))


def _pose(q: list[float], t: list[float], path: Path, where: str) -> tuple[float, float, float, float]:
    """The unit quaternion of a pose, after checking the whole pose."""
    norm = math.sqrt(sum(x * x for x in q))
    if not 0.99 < norm < 1.01:
        raise CaptureError(path, f"{where}: quaternion {q} is not unit length (|q| = {norm:.3g})")
    q = [x / norm for x in q]
    r = qvec_to_rotation(np.array(q))
    check_rotation(r, path, where)
    check_position(-r.T @ np.asarray(t), path, where)
    return tuple(q)


def _read_cameras_txt(path: Path) -> dict[int, ColmapCamera]:
    cams = {}
    for n, raw in _lines(path):
        tokens = raw.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if len(tokens) < 4:
            raise CaptureError(path, f"line {n}: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS..., got {raw[:80]!r}")
        cid = _int(tokens[0], path, n, "CAMERA_ID")
        w, h = (_int(t, path, n, "WIDTH/HEIGHT", positive=True) for t in tokens[2:4])
        params = _floats(tokens[4:], path, n, "camera parameters")
        if cid in cams:
            raise CaptureError(path, f"line {n}: camera {cid} is defined twice")
        cams[cid] = _camera(cid, tokens[1], w, h, params, path, f"line {n}")
    return cams


def _read_images_txt(path: Path) -> tuple[ColmapImage, ...]:
    images, ids = [], set()
    lines = _lines(path)
    i = 0
    while i < len(lines):
        n, raw = lines[i]
        i += 1
        tokens = raw.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if len(tokens) < 10:
            raise CaptureError(path, f"line {n}: expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME, got {raw[:80]!r}")
        iid = _int(tokens[0], path, n, "IMAGE_ID")
        values = _floats(tokens[1:8], path, n, "pose values")
        cid = _int(tokens[8], path, n, "CAMERA_ID")
        name = raw.strip().split(None, 9)[9]
        if iid in ids:
            raise CaptureError(path, f"line {n}: image {iid} is listed twice")
        ids.add(iid)
        images.append(ColmapImage(iid, _pose(values[:4], values[4:], path, f"line {n}"), tuple(values[4:]), cid, name))
        i += 1  # the POINTS2D line that follows every image line (possibly empty)
    return tuple(images)


def _read_points_txt(path: Path) -> np.ndarray:
    points = []
    for n, raw in _lines(path):
        tokens = raw.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if len(tokens) < 8:
            raise CaptureError(path, f"line {n}: expected POINT3D_ID X Y Z R G B ERROR TRACK..., got {raw[:80]!r}")
        points.append(_floats(tokens[1:4], path, n, "point coordinates"))
    return np.array(points, np.float64).reshape(-1, 3)


class _Bytes:
    """A bounds-checked cursor over a binary file: never reads past the end,
    never trusts a count that the remaining bytes cannot hold."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = path.read_bytes()
        except OSError as exc:
            raise CaptureError(path, f"cannot read: {exc.strerror or exc}") from None
        self.pos = 0

    def read(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise CaptureError(self.path, f"truncated at byte {self.pos} (file is {len(self.data)} bytes)")
        out = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return out

    def count(self, record_size: int, what: str) -> int:
        (n,) = self.read("Q")
        if n * record_size > len(self.data) - self.pos:
            raise CaptureError(self.path, f"byte {self.pos - 8}: {n} {what} cannot fit in the remaining bytes")
        return n

    def skip(self, nbytes: int) -> None:
        if self.pos + nbytes > len(self.data):
            raise CaptureError(self.path, f"truncated at byte {self.pos} (file is {len(self.data)} bytes)")
        self.pos += nbytes

    def string(self) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise CaptureError(self.path, f"truncated at byte {self.pos}: unterminated name")
        try:
            s = self.data[self.pos : end].decode("utf-8")
        except UnicodeDecodeError:
            raise CaptureError(self.path, f"byte {self.pos}: image name is not UTF-8") from None
        self.pos = end + 1
        return s

    def finite(self, values: tuple, what: str) -> list[float]:
        if not all(math.isfinite(v) for v in values):
            raise CaptureError(self.path, f"byte {self.pos}: {what} hold NaN or infinite values")
        return list(values)


def _read_cameras_bin(path: Path) -> dict[int, ColmapCamera]:
    f, cams = _Bytes(path), {}
    for _ in range(f.count(24, "cameras")):
        at = f.pos
        cid, mid, w, h = f.read("iiQQ")
        if mid not in MODELS:
            raise CaptureError(path, f"byte {at}: unknown camera model id {mid}")
        name, n = MODELS[mid]
        params = f.finite(f.read(f"{n}d"), "camera parameters")
        if cid in cams:
            raise CaptureError(path, f"byte {at}: camera {cid} is defined twice")
        cams[cid] = _camera(cid, name, w, h, params, path, f"byte {at}")
    return cams


def _read_images_bin(path: Path) -> tuple[ColmapImage, ...]:
    f, images, ids = _Bytes(path), [], set()
    for _ in range(f.count(73, "images")):
        at = f.pos
        (iid,) = f.read("i")
        values = f.finite(f.read("7d"), "pose values")
        (cid,) = f.read("i")
        name = f.string()
        npts = f.count(24, "2D points")
        f.skip(24 * npts)
        if iid in ids:
            raise CaptureError(path, f"byte {at}: image {iid} is listed twice")
        ids.add(iid)
        images.append(ColmapImage(iid, _pose(values[:4], values[4:], path, f"byte {at}"), tuple(values[4:]), cid, name))
    return tuple(images)


def _read_points_bin(path: Path) -> np.ndarray:
    f = _Bytes(path)
    n = f.count(51, "points")
    points = np.empty((n, 3))
    for i in range(n):
        _, x, y, z = f.read("Q3d")
        f.skip(3 + 8)  # rgb, error
        track = f.count(8, "track entries")
        f.skip(8 * track)
        points[i] = x, y, z
    return points[np.isfinite(points).all(1)]


# ------------------------------------------------------------------ writing


def write_model(
    sparse: Path, model: ColmapModel, points: np.ndarray | None = None, binary: bool = False
) -> None:
    """Write cameras, images (with no 2D points) and points3D (with no tracks)."""
    sparse = Path(sparse)
    sparse.mkdir(parents=True, exist_ok=True)
    pts = np.zeros((0, 3)) if points is None else np.asarray(points, np.float64).reshape(-1, 3)
    if binary:
        _write_bin(sparse, model, pts)
    else:
        _write_txt(sparse, model, pts)


def _write_txt(sparse: Path, model: ColmapModel, pts: np.ndarray) -> None:
    lines = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    for c in model.cameras.values():
        lines.append(" ".join([str(c.camera_id), c.model, str(c.width), str(c.height)] + [repr(p) for p in c.params]))
    (sparse / "cameras.txt").write_text("\n".join(lines) + "\n")
    lines = ["# Image list with two lines of data per image:", "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME"]
    for im in model.images:
        values = " ".join(repr(float(v)) for v in (*im.qvec, *im.tvec))
        lines += [f"{im.image_id} {values} {im.camera_id} {im.name}", ""]
    (sparse / "images.txt").write_text("\n".join(lines) + "\n")
    lines = ["# 3D point list with one line of data per point:"]
    lines += [f"{i + 1} {p[0]!r} {p[1]!r} {p[2]!r} 128 128 128 0.0" for i, p in enumerate(pts.tolist())]
    (sparse / "points3D.txt").write_text("\n".join(lines) + "\n")


def _write_bin(sparse: Path, model: ColmapModel, pts: np.ndarray) -> None:
    out = [struct.pack("<Q", len(model.cameras))]
    for c in model.cameras.values():
        out.append(struct.pack("<iiQQ", c.camera_id, MODEL_IDS[c.model], c.width, c.height))
        out.append(struct.pack(f"<{len(c.params)}d", *c.params))
    (sparse / "cameras.bin").write_bytes(b"".join(out))
    out = [struct.pack("<Q", len(model.images))]
    for im in model.images:
        out.append(struct.pack("<i7di", im.image_id, *im.qvec, *im.tvec, im.camera_id))
        out.append(im.name.encode("utf-8") + b"\x00" + struct.pack("<Q", 0))
    (sparse / "images.bin").write_bytes(b"".join(out))
    out = [struct.pack("<Q", len(pts))]
    for i, p in enumerate(pts):
        out.append(struct.pack("<Q3d3BdQ", i + 1, *p, 128, 128, 128, 0.0, 0))
    (sparse / "points3D.bin").write_bytes(b"".join(out))
