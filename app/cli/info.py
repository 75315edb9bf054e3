"""Describe a capture folder: layout, views per split, resolutions,
intrinsics and distortion, masks, mesh, bounding sphere and aabb_scale.
Decodes no pixels, so it is fast on any capture."""

from __future__ import annotations

import argparse
import math
from collections import Counter

import numpy as np

from models.camera import Camera
from models.capture import Capture, load_capture

HELP = "describe a capture folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", help="capture folder (or its transforms.json)")
    parser.add_argument("--downscale", type=int, default=1, metavar="N", help="describe it as loaded at 1/N size")
    parser.add_argument("--no-undistort", action="store_true", help="keep lens distortion (no resampling)")
    parser.add_argument("--views", action="store_true", help="also list every view")


def run(args: argparse.Namespace) -> int:
    capture = load_capture(args.capture, downscale=args.downscale, undistort=not args.no_undistort)
    print(describe(capture, list_views=args.views))
    return 0


def describe(capture: Capture, list_views: bool = False) -> str:
    """The human-readable summary `relit info` prints."""
    views = capture.views
    lines = [
        ("capture", str(capture.root)),
        ("layout", capture.layout),
        ("views", f"{len(views)} (" + ", ".join(f"{s} {n}" for s, n in capture.splits.items()) + ")"),
        ("resolution", _counted(f"{v.camera.width}x{v.camera.height}" for v in views)
         + ("" if capture.downscale == 1 else f"  (downscaled 1/{capture.downscale})")),
        ("intrinsics", _counted(_intrinsics(v.camera) for v in views)),
        ("distortion", _counted(_distortion(v.calibrated) for v in views)
         + ("  (undistorted to pinhole on load)" if any(v.undistorts for v in views) else "")),
        ("masks", ", ".join(f"{_MASK_WORDS[s]} ({n} views)" for s, n in capture.mask_sources.items())),
    ]
    mesh = capture.load_mesh()
    if mesh is None:
        lines.append(("mesh", "none"))
    else:
        lines.append(("mesh", f"{capture.mesh_path} ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces)"))
    centre, radius = capture.bounding_sphere()
    centre = np.where(np.abs(centre) < 1e-6 * radius, 0.0, centre) + 0.0  # no "-1.9e-09" noise, no "-0"
    lines.append(("bounds", f"centre ({centre[0]:.4g}, {centre[1]:.4g}, {centre[2]:.4g}), radius {radius:.4g}"
                  f"  (from the {capture.bounding_sphere_source})"))
    lines.append(("aabb_scale", "none" if capture.aabb_scale is None else f"{capture.aabb_scale:g}"))
    up = capture.up
    lines.append(("world up", f"({up[0]:.3g}, {up[1]:.3g}, {up[2]:.3g})  ({capture.up_source})"))
    if capture.world_from_source is not None:
        lines.append(("applied", "nerfstudio applied_transform recorded (source world -> these poses)"))
    width = max(len(k) for k, _ in lines)
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in lines)
    if list_views:
        text += "\n" + "\n".join(
            f"  {v.split:<5} {v.name}  {v.camera.width}x{v.camera.height}  mask: {v.mask_source or 'none'}"
            for v in views
        )
    return text


_MASK_WORDS = {"none": "none", "alpha": "alpha channel", "masks/": "masks/ folder", "mask_path": "mask_path files"}


def _intrinsics(c: Camera) -> str:
    return (f"fx {c.fx:.6g} fy {c.fy:.6g} cx {c.cx:.6g} cy {c.cy:.6g}  "
            f"(fov {math.degrees(c.fov_x):.3g}x{math.degrees(c.fov_y):.3g} deg)")


def _distortion(c: Camera) -> str:
    d = c.distortion
    if d.is_identity:
        return "none"
    names = ("k1", "k2", "k3", "k4") if d.model == "fisheye" else ("k1", "k2", "k3", "p1", "p2")
    return d.model + " " + " ".join(f"{n} {getattr(d, n):.6g}" for n in names if getattr(d, n))


def _counted(items) -> str:
    """One value, or each distinct value with how many views have it."""
    counts = Counter(items)
    if len(counts) == 1:
        return next(iter(counts))
    shown = [f"{value} (x{n})" for value, n in counts.most_common(4)]
    more = len(counts) - 4
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
