"""transforms.json readers: NeRF-synthetic (transforms_{train,val,test}.json),
instant-ngp and nerfstudio (one transforms.json).

All three store camera-to-world matrices with OpenGL camera axes, which is
Relit's convention, so poses are used as they are. Their worlds differ:
Blender (NeRF-synthetic) and nerfstudio are +Z up by definition; instant-ngp's
colmap2nerf also rotates the mean camera up onto +Z. nerfstudio additionally
records `applied_transform`, the map from the source reconstruction's world
(usually COLMAP's) into the world of these poses; it is kept so that data in
the source world can be brought over, and the poses are not changed by it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from models.camera import Camera, Distortion
from models.capture_formats.common import (
    Frame,
    ParsedCapture,
    check_c2w,
    find_image,
    header_size,
    inside,
    number,
    pixel_count,
)
from models.errors import CaptureError

SPLITS = ("train", "val", "test")
Z_UP = np.array([0.0, 0.0, 1.0])
# Keys that make a transforms.json nerfstudio's rather than instant-ngp's.
NERFSTUDIO_KEYS = ("camera_model", "applied_transform", "ply_file_path", "train_filenames", "applied_scale")
# Per-frame keys that, present, mean the frame carries its own intrinsics.
INTRINSIC_KEYS = ("w", "h", "fl_x", "fl_y", "cx", "cy", "camera_angle_x", "camera_angle_y")
# Largest JSON we read: a real transforms.json with thousands of frames is a few MB.
MAX_JSON_BYTES = 256 * 1024 * 1024


def load_json(path: Path) -> dict:
    """A JSON object from `path`; malformed files become a CaptureError with
    the line and column of the problem."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise CaptureError(path, f"is larger than {MAX_JSON_BYTES >> 20} MB; not a transforms file")
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaptureError(path, f"is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CaptureError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaptureError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise CaptureError(path, "malformed JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise CaptureError(path, f"must hold a JSON object at the top, not a {type(doc).__name__}")
    return doc


def is_nerfstudio(doc: dict) -> bool:
    frames = doc.get("frames")
    per_frame = isinstance(frames, list) and any(isinstance(f, dict) and "mask_path" in f for f in frames)
    return per_frame or any(k in doc for k in NERFSTUDIO_KEYS)


def read_nerf_synthetic(root: Path) -> ParsedCapture:
    """transforms_{train,val,test}.json (whichever exist) in `root`."""
    frames: list[Frame] = []
    aabb, radius = None, None
    for split in SPLITS:
        path = root / f"transforms_{split}.json"
        if path.is_file():
            doc = load_json(path)
            frames += _frames(root, path, doc, split)
            aabb, radius = aabb or _aabb(doc, path), radius or _scene_radius(doc, path)
    if not frames:
        raise CaptureError(root, "no transforms_{train,val,test}.json found")
    return ParsedCapture("nerf-synthetic", tuple(frames), aabb, radius, up=Z_UP)


def read_transforms(root: Path, path: Path) -> ParsedCapture:
    """One transforms.json: nerfstudio when it uses nerfstudio's keys, else instant-ngp."""
    doc = load_json(path)
    layout = "nerfstudio" if is_nerfstudio(doc) else "instant-ngp"
    frames = _frames(root, path, doc, None)
    world_from_source, points, not_meshes = None, None, frozenset()
    if layout == "nerfstudio":
        if "applied_transform" in doc:
            world_from_source = _affine(doc["applied_transform"], path, "applied_transform")
        if "ply_file_path" in doc:
            ply = inside(root, doc["ply_file_path"], path, "ply_file_path")
            if not ply.is_file():
                raise CaptureError(ply, f"point cloud not found; named by ply_file_path in {path.name}")
            points, not_meshes = (lambda: _read_points(ply)), frozenset({ply})
    return ParsedCapture(
        layout, tuple(frames), _aabb(doc, path), _scene_radius(doc, path), world_from_source, world_up(doc, path), points, not_meshes
    )


def _frames(root: Path, path: Path, doc: dict, split: str | None) -> list[Frame]:
    raw = doc.get("frames")
    if not isinstance(raw, list):
        raise CaptureError(path, "has no \"frames\" list")
    if not raw:
        raise CaptureError(path, "has an empty \"frames\" list")
    splits = _split_lists(root, path, doc) if split is None else {}
    frames, global_sizes = [], {}
    for i, frame in enumerate(raw):
        if not isinstance(frame, dict):
            raise CaptureError(path, f"frame {i} is not a JSON object")
        where = f"frame {i}"
        image = find_image(root, frame.get("file_path"), path, f"{where} file_path")
        where = f"frame {i} ({frame['file_path'][:80]})"
        c2w = check_c2w(frame.get("transform_matrix"), path, where)
        size = header_size(image)
        camera = frame_camera(doc, frame, path, where, size, c2w)
        if not any(k in frame for k in INTRINSIC_KEYS) and not ("w" in doc and "h" in doc):
            global_sizes.setdefault(size, image)
        mask = None
        if "mask_path" in frame:
            mask = inside(root, frame["mask_path"], path, f"{where} mask_path")
            if not mask.is_file():
                raise CaptureError(mask, f"mask not found; named by {where} mask_path in {path.name}")
        name = os.path.relpath(image, root).replace(os.sep, "/")
        frame_split = split or splits.get(os.path.normpath(image), "train")
        frames.append(Frame(name, image, camera, frame_split, mask))
    if len(global_sizes) > 1:
        (s0, p0), (s1, p1) = list(global_sizes.items())[:2]
        raise CaptureError(
            path,
            f"images have mixed sizes ({p0.name} is {s0[0]}x{s0[1]}, {p1.name} is {s1[0]}x{s1[1]}) "
            "and the file gives no per-frame intrinsics (w, h, fl_x, ...)",
        )
    return frames


def frame_camera(doc: dict, frame: dict, path: Path, where: str, size: tuple[int, int], c2w: np.ndarray) -> Camera:
    """Intrinsics with instant-ngp's rules: per-frame keys override global ones;
    w/h default to the image's size; focal from fl_* or camera_angle_*;
    principal point defaults to the image centre."""

    def get(key: str) -> object:
        return frame[key] if key in frame else doc.get(key)

    def has(key: str) -> bool:
        return get(key) is not None

    w = pixel_count(get("w"), path, f"{where}: w") if has("w") else size[0]
    h = pixel_count(get("h"), path, f"{where}: h") if has("h") else size[1]
    if (w, h) != size:
        raise CaptureError(path, f"{where}: the image is {size[0]}x{size[1]} but the file says w={w}, h={h}")
    fx = _focal(get, path, where, "fl_x", "camera_angle_x", w)
    fy = _focal(get, path, where, "fl_y", "camera_angle_y", h)
    if fx is None and fy is None:
        raise CaptureError(path, f"{where}: no focal length (fl_x, fl_y, camera_angle_x or camera_angle_y)")
    fx, fy = fx or fy, fy or fx
    cx = number(get("cx"), path, f"{where}: cx") if has("cx") else w / 2
    cy = number(get("cy"), path, f"{where}: cy") if has("cy") else h / 2
    return Camera(w, h, fx, fy, cx, cy, c2w, _distortion(get, path, where))


def _focal(get, path: Path, where: str, key: str, angle_key: str, size: int) -> float | None:
    if get(key) is not None:
        return number(get(key), path, f"{where}: {key}", positive=True)
    if get(angle_key) is not None:
        angle = number(get(angle_key), path, f"{where}: {angle_key}", positive=True)
        if angle >= math.pi:
            raise CaptureError(path, f"{where}: {angle_key} must be below pi radians, got {angle}")
        return 0.5 * size / math.tan(0.5 * angle)
    return None


def _distortion(get, path: Path, where: str) -> Distortion:
    k = {name: number(get(name), path, f"{where}: {name}") if get(name) is not None else 0.0
         for name in ("k1", "k2", "k3", "k4", "p1", "p2")}
    model = get("camera_model")
    if model is None:
        model = "OPENCV_FISHEYE" if get("is_fisheye") is True else "OPENCV"
    if model in ("PINHOLE", "SIMPLE_PINHOLE"):
        return Distortion()
    if model == "OPENCV_FISHEYE":
        if k["p1"] or k["p2"]:
            raise CaptureError(path, f"{where}: OPENCV_FISHEYE has no p1/p2 terms, got p1={k['p1']}, p2={k['p2']}")
        return Distortion("fisheye", k["k1"], k["k2"], k["k3"], k["k4"])
    if model == "OPENCV":
        if k["k4"]:
            raise CaptureError(path, f"{where}: k4 is not supported with OPENCV distortion (got {k['k4']})")
        d = Distortion("opencv", k["k1"], k["k2"], k["k3"], 0.0, k["p1"], k["p2"])
        return Distortion() if d.is_identity else d
    raise CaptureError(
        path, f"{where}: unsupported camera_model {model!r:.40} (supported: OPENCV, OPENCV_FISHEYE, PINHOLE)"
    )


def _split_lists(root: Path, path: Path, doc: dict) -> dict[str, str]:
    """nerfstudio's optional {train,val,test}_filenames -> {normalised path: split}."""
    out = {}
    for split in SPLITS:
        names = doc.get(f"{split}_filenames")
        if names is None:
            continue
        if not isinstance(names, list):
            raise CaptureError(path, f"{split}_filenames must be a list of paths")
        for name in names:
            out[os.path.normpath(inside(root, name, path, f"{split}_filenames entry"))] = split
    return out


def world_up(doc: dict, path: Path) -> np.ndarray:
    """The world's up axis: an explicit `"up": [x, y, z]` (Relit's own
    captures and benchmarks write [0, 1, 0]), else the layout's +Z."""
    if "up" not in doc:
        return Z_UP
    up = doc["up"]
    if not (isinstance(up, list) and len(up) == 3):
        raise CaptureError(path, f"up must be a list of 3 numbers, got {up!r:.80}")
    v = np.array([number(x, path, "up") for x in up])
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n < 1e-9:
        raise CaptureError(path, f"up must be a non-zero finite vector, got {up!r:.80}")
    return v / n


def _aabb(doc: dict, path: Path) -> float | None:
    if doc.get("aabb_scale") is None:
        return None
    return number(doc["aabb_scale"], path, "aabb_scale", positive=True)


def _scene_radius(doc: dict, path: Path) -> float | None:
    """instant-ngp's aabb in these poses' units: ngp maps a position p to
    p * scale + offset (default 0.33 and 0.5) and keeps [0.5 -+ aabb_scale/2]^3."""
    aabb = _aabb(doc, path)
    if aabb is None:
        return None
    scale = number(doc.get("scale", 0.33), path, "scale", positive=True)
    offset = doc.get("offset", [0.5, 0.5, 0.5])
    if not isinstance(offset, list) or len(offset) != 3:
        raise CaptureError(path, "offset must be a list of 3 numbers")
    shift = np.array([number(o, path, "offset") for o in offset]) - 0.5
    return float((math.sqrt(3) * aabb / 2 + np.linalg.norm(shift)) / scale)


def _affine(value: object, path: Path, key: str) -> np.ndarray:
    try:
        m = np.array(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        raise CaptureError(path, f"{key} is not a matrix of numbers") from None
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    if m.shape != (4, 4) or not np.isfinite(m).all():
        raise CaptureError(path, f"{key} must be a finite 3x4 or 4x4 matrix")
    return m


def _read_points(ply: Path) -> np.ndarray:
    """Vertices of nerfstudio's sparse point cloud (already in the poses' world)."""
    import trimesh

    try:
        cloud = trimesh.load(ply, file_type="ply", process=False)
        points = np.asarray(cloud.vertices, np.float64).reshape(-1, 3)
    except Exception as exc:  # trimesh raises many types on bad files
        raise CaptureError(ply, f"cannot read point cloud: {exc}") from None
    return points[np.isfinite(points).all(1)]
