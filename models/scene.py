"""A Scene: everything Relit shows and exports (mesh, materials, lighting,
display settings, provenance)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from models.lighting import Lighting
from models.material import MaterialMaps
from models.mesh import Mesh

ViewTransform = Literal["standard", "aces", "agx"]
Background = Literal["environment", "color", "transparent"]


@dataclass(frozen=True)
class DisplaySettings:
    """How the scene is turned into display pixels: exposure (EV) then a view
    transform then sRGB encoding; and what is drawn behind the object."""

    exposure_ev: float = 0.0
    view_transform: ViewTransform = "standard"
    background: Background = "environment"
    background_blur: float = 0.0
    background_color: tuple[float, float, float] = (0.18, 0.18, 0.18)


@dataclass(frozen=True)
class Scene:
    mesh: Mesh
    material: MaterialMaps
    lighting: Lighting = field(default_factory=Lighting)
    display: DisplaySettings = field(default_factory=DisplaySettings)
    metadata: dict[str, Any] = field(default_factory=dict)
