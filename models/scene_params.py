"""Stable dotted names for a Scene's editable values, and pure get/set.

Panels, undo commands and the fitter speak of the same values by these
names (Mitsuba's `traverse` keys, for a frozen Scene):

    material                            MaterialMaps
    material.albedo                     (R,R,3) linear        [fitter: "albedo"]
    material.roughness                  (R,R)                 [fitter: "roughness"]
    material.metallic                   (R,R)                 [fitter: "metallic"]
    lighting.environment                Environment           [fitter: "environment"]
    lighting.environment.radiance       (H,W,3) linear
    lighting.environment.rotation       degrees about +Y
    lighting.environment.exposure       EV stops
    lighting.environment.strength       multiplier
    lighting.environment.name           str
    lighting.lights                     tuple[PunctualLight, ...]
    lighting.lights.<i>                 PunctualLight
    lighting.lights.<i>.<field>         color, intensity, position, direction,
                                        inner_cone, outer_cone, kind, name
    display.exposure                    EV stops
    display.view_transform              standard | aces | agx
    display.background                  environment | color | transparent
    display.background_blur             0..1 (a roughness of the prefiltered chain)
    display.background_color            linear RGB

`with_value` returns a new Scene and never mutates the old one, so keeping
the old Scene is an exact undo. `part_of(name)` says which renderer input
a name belongs to ("mesh", "material", "environment", "lights", "display").
"""

from __future__ import annotations

import math
import re
from dataclasses import fields, replace
from typing import Any, Literal

from models.lighting import PunctualLight
from models.scene import Scene

Part = Literal["mesh", "material", "environment", "lights", "display", "metadata"]

MESH = "mesh"
MATERIAL = "material"
MATERIAL_ALBEDO = "material.albedo"
MATERIAL_ROUGHNESS = "material.roughness"
MATERIAL_METALLIC = "material.metallic"
ENVIRONMENT = "lighting.environment"
ENV_RADIANCE = "lighting.environment.radiance"
ENV_ROTATION = "lighting.environment.rotation"
ENV_EXPOSURE = "lighting.environment.exposure"
ENV_STRENGTH = "lighting.environment.strength"
ENV_NAME = "lighting.environment.name"
LIGHTS = "lighting.lights"
DISPLAY_EXPOSURE = "display.exposure"
DISPLAY_VIEW_TRANSFORM = "display.view_transform"
BACKGROUND = "display.background"
BACKGROUND_BLUR = "display.background_blur"
BACKGROUND_COLOR = "display.background_color"
METADATA = "metadata"

# name -> (path of attributes from the Scene)
_PATHS: dict[str, tuple[str, ...]] = {
    MESH: ("mesh",),
    MATERIAL: ("material",),
    MATERIAL_ALBEDO: ("material", "albedo"),
    MATERIAL_ROUGHNESS: ("material", "roughness"),
    MATERIAL_METALLIC: ("material", "metallic"),
    ENVIRONMENT: ("lighting", "environment"),
    ENV_RADIANCE: ("lighting", "environment", "radiance"),
    ENV_ROTATION: ("lighting", "environment", "rotation_deg"),
    ENV_EXPOSURE: ("lighting", "environment", "exposure_ev"),
    ENV_STRENGTH: ("lighting", "environment", "strength"),
    ENV_NAME: ("lighting", "environment", "name"),
    LIGHTS: ("lighting", "lights"),
    DISPLAY_EXPOSURE: ("display", "exposure_ev"),
    DISPLAY_VIEW_TRANSFORM: ("display", "view_transform"),
    BACKGROUND: ("display", "background"),
    BACKGROUND_BLUR: ("display", "background_blur"),
    BACKGROUND_COLOR: ("display", "background_color"),
    METADATA: ("metadata",),
}
_LIGHT = re.compile(r"^lighting\.lights\.(\d+)(?:\.(\w+))?$")
_LIGHT_FIELDS = {f.name for f in fields(PunctualLight)}
_FLOAT_NAMES = {ENV_ROTATION, ENV_EXPOSURE, ENV_STRENGTH, DISPLAY_EXPOSURE, BACKGROUND_BLUR}


def light_name(index: int, field: str | None = None) -> str:
    """'lighting.lights.<index>[.<field>]'."""
    if field is not None and field not in _LIGHT_FIELDS:
        raise KeyError(f"punctual lights have no field {field!r}")
    return f"lighting.lights.{int(index)}" + (f".{field}" if field else "")


def names() -> tuple[str, ...]:
    """The fixed names (light names are per index, see light_name)."""
    return tuple(_PATHS)


def part_of(name: str) -> Part:
    """Which renderer input a name belongs to."""
    if name.startswith("lighting.lights"):
        return "lights"
    if name.startswith("lighting.environment"):
        return "environment"
    head = name.split(".", 1)[0]
    if head in ("mesh", "material", "display", "metadata"):
        return head  # type: ignore[return-value]
    raise KeyError(f"unknown scene value {name!r}")


def get_value(scene: Scene, name: str) -> Any:
    """The value `name` names in `scene` (KeyError for unknown names,
    IndexError for a light that does not exist)."""
    if (m := _LIGHT.match(name)) is not None:
        light = scene.lighting.lights[int(m.group(1))]
        if m.group(2) is None:
            return light
        if m.group(2) not in _LIGHT_FIELDS:
            raise KeyError(f"unknown scene value {name!r}")
        return getattr(light, m.group(2))
    if name not in _PATHS:
        raise KeyError(f"unknown scene value {name!r}")
    value: Any = scene
    for attr in _PATHS[name]:
        value = getattr(value, attr)
    return value


def with_value(scene: Scene, name: str, value: Any) -> Scene:
    """A new Scene with `name` set to `value` (everything else shared)."""
    if (m := _LIGHT.match(name)) is not None:
        index, field = int(m.group(1)), m.group(2)
        lights = list(scene.lighting.lights)
        if not 0 <= index < len(lights):
            raise IndexError(f"there is no light {index} (the scene has {len(lights)})")
        if field is None:
            if not isinstance(value, PunctualLight):
                raise TypeError(f"{name} must be a PunctualLight")
            lights[index] = value
        else:
            if field not in _LIGHT_FIELDS:
                raise KeyError(f"unknown scene value {name!r}")
            lights[index] = replace(lights[index], **{field: _light_field(field, value)})
        return replace(scene, lighting=replace(scene.lighting, lights=tuple(lights)))
    if name not in _PATHS:
        raise KeyError(f"unknown scene value {name!r}")
    if name in _FLOAT_NAMES:
        value = float(value)
    elif name == LIGHTS:
        value = tuple(value)
    return _set_path(scene, _PATHS[name], value)


def with_values(scene: Scene, changes: dict[str, Any]) -> Scene:
    """`with_value` for several names, in order."""
    for name, value in changes.items():
        scene = with_value(scene, name, value)
    return scene


def _light_field(field: str, value: Any) -> Any:
    if field == "direction":
        d = [float(x) for x in value]
        n = math.sqrt(sum(x * x for x in d))
        if n < 1e-12:
            raise ValueError("a light direction cannot be zero")
        return tuple(x / n for x in d)
    if field in ("color", "position"):
        return tuple(float(x) for x in value)
    if field in ("intensity", "inner_cone", "outer_cone"):
        return float(value)
    return value


def _set_path(obj: Any, path: tuple[str, ...], value: Any) -> Any:
    if len(path) == 1:
        return replace(obj, **{path[0]: value})
    return replace(obj, **{path[0]: _set_path(getattr(obj, path[0]), path[1:], value)})
