"""Undo commands for every edit of the session's Scene.

A command keeps the Scene before and the Scene after its edit. Scenes and
their parts are immutable and edits build new arrays (models.material_edits,
models.scene_params), so undo puts back the very same objects: an exact
restore, never a recomputation.

Continuous controls (sliders, drags) push many commands with one
`merge_key` (a stable value name such as `lighting.environment.rotation`);
they merge into one undo step until `seal()` (the session calls it when the
user lets go of the control).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

from models import scene_params as sp
from models.lighting import Environment, PunctualLight
from models.material import MaterialMaps
from models.scene import Scene

if TYPE_CHECKING:
    from app.session import Session

ALL_PARTS = frozenset({sp.MESH, sp.MATERIAL, sp.ENVIRONMENT, sp.LIGHTS, "display"})
"""Names that together cover a whole Scene (a new document, a fit result)."""

_MERGE_IDS: dict[str, int] = {}


def _merge_id(key: str | None) -> int:
    if key is None:
        return -1
    return _MERGE_IDS.setdefault(key, 1000 + len(_MERGE_IDS))


class SceneEdit(QUndoCommand):
    """Replace the session's Scene by `after`; undo restores `before`.

    `names` are the scene value names the edit changes (models.scene_params),
    so views refresh only what changed.
    """

    def __init__(self, session: Session, before: Scene | None, after: Scene | None, names: frozenset[str] | set[str],
                 text: str, merge_key: str | None = None):
        super().__init__(text)
        self.session = session
        self.before = before
        self.after = after
        self.names = frozenset(names)
        self.merge_key = merge_key
        self.sealed = merge_key is None

    def id(self) -> int:
        return _merge_id(self.merge_key)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if (not isinstance(other, SceneEdit) or self.sealed or other.merge_key != self.merge_key
                or other.session is not self.session or other.before is not self.after):
            return False
        self.after = other.after
        self.names = self.names | other.names
        self.setText(other.text())
        return True

    def seal(self) -> None:
        """No further merging into this command."""
        self.sealed = True

    def redo(self) -> None:
        self.session._apply(self.after, self.names)

    def undo(self) -> None:
        self.session._apply(self.before, self.names)


class ValueEdit(SceneEdit):
    """Set one named value (`lighting.environment.rotation`, `lighting.lights.0.intensity`, ...)."""

    def __init__(self, session: Session, name: str, value: Any, text: str | None = None, merge: bool = True):
        before = session.require_scene()
        after = sp.with_value(before, name, value)
        super().__init__(session, before, after, {name}, text or f"Set {name}", name if merge else None)


class MaterialEdit(SceneEdit):
    """Replace the material maps (a global adjustment or a region edit)."""

    def __init__(self, session: Session, maps: MaterialMaps, text: str, merge_key: str | None = None):
        before = session.require_scene()
        old = before.material
        names = {name for name, a, b in (
            (sp.MATERIAL_ALBEDO, old.albedo, maps.albedo),
            (sp.MATERIAL_ROUGHNESS, old.roughness, maps.roughness),
            (sp.MATERIAL_METALLIC, old.metallic, maps.metallic),
        ) if a is not b} or {sp.MATERIAL}
        after = sp.with_value(before, sp.MATERIAL, maps)
        super().__init__(session, before, after, names, text, merge_key)


class EnvironmentEdit(SceneEdit):
    """Swap the environment (an HDRI from the library, a file, the recovered one)."""

    def __init__(self, session: Session, environment: Environment, text: str | None = None):
        before = session.require_scene()
        after = sp.with_value(before, sp.ENVIRONMENT, environment)
        super().__init__(session, before, after, {sp.ENVIRONMENT}, text or f"Environment: {environment.name}")


class LightsEdit(SceneEdit):
    """Replace the punctual lights (add, remove, or change one)."""

    def __init__(self, session: Session, lights: tuple[PunctualLight, ...], text: str, merge_key: str | None = None):
        before = session.require_scene()
        after = sp.with_value(before, sp.LIGHTS, tuple(lights))
        super().__init__(session, before, after, {sp.LIGHTS}, text, merge_key)


class FitResult(SceneEdit):
    """Make a fit's result the document (undo goes back to what was there before)."""

    def __init__(self, session: Session, fitted: Scene, text: str = "Fit"):
        super().__init__(session, session.scene, fitted, ALL_PARTS, text)
