"""Mouse tools on the viewport, installed as an event filter (the viewport
itself stays a camera widget):

- Ctrl + left drag: turn the environment (lighting.environment.rotation);
- pick mode (Material panel): a left click selects the region of similar
  material under the cursor;
- move-light mode (Lighting panel): drag a light's marker on the plane that
  faces the camera; directional and spot lights keep aiming at the object;
- dropping an .hdr/.exr on the viewport uses it as the environment (other
  drops go to the window, which opens captures and scenes, and hands
  .hdr/.exr dropped anywhere else to the Lighting panel too).

A transparent overlay draws a marker for each light (the selected one
highlighted). The maths is models.light_edits / models.material_edits; the
hooks `pick_uv`, `drag_light` and `rotate_environment` are plain methods a
viewport with its own gizmo can call instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.session import Session
from models import scene_params as sp
from models.hdri_library import is_hdri_file
from models.light_edits import (
    aim_at,
    drag_on_view_plane,
    nearest_light,
    project_to_pixel,
    rotation_after_drag,
)

MARKER_RADIUS_PX = 7
GRAB_RADIUS_PX = 14
CLICK_SLOP_PX = 4


class LightOverlay(QWidget):
    """Light markers painted over the viewport (mouse events pass through)."""

    def __init__(self, tools: ViewportTools):
        super().__init__(tools.viewport)
        self.tools = tools
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setGeometry(tools.viewport.rect())

    def markers(self) -> list[tuple[int, float, float]]:
        """(light index, x, y) in widget (logical) pixels of visible markers."""
        scene = self.tools.session.scene
        if scene is None or not scene.lighting.lights:
            return []
        camera = self.tools.viewport.camera()
        dpr = self.tools.viewport.devicePixelRatioF()
        out = []
        for i, light in enumerate(scene.lighting.lights):
            p = project_to_pixel(camera, light.position)
            if p is not None:
                out.append((i, p[0] / dpr, p[1] / dpr))
        return out

    def paintEvent(self, event: Any) -> None:
        marks = self.markers()
        if not marks:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        for i, x, y in marks:
            selected = i == self.tools.selected_light
            colour = QColor(255, 200, 40) if selected else QColor(240, 240, 240)
            p.setPen(QPen(QColor(0, 0, 0, 160), 3))
            p.drawEllipse(QPointF(x, y), MARKER_RADIUS_PX, MARKER_RADIUS_PX)
            p.setPen(QPen(colour, 2 if not selected else 3))
            p.drawEllipse(QPointF(x, y), MARKER_RADIUS_PX, MARKER_RADIUS_PX)
            p.drawText(QPointF(x + MARKER_RADIUS_PX + 3, y - MARKER_RADIUS_PX), str(i + 1))
        p.end()


class ViewportTools(QObject):
    """The event filter and hooks described in the module doc."""

    regionPicked = Signal(object)  # uv (2,) of the clicked surface point
    pickMissed = Signal()
    lightGrabbed = Signal(int)
    hdriDropped = Signal(str)
    otherDropped = Signal(str)

    def __init__(self, viewport: QWidget, session: Session, parent: QObject | None = None):
        super().__init__(parent or viewport)
        self.viewport = viewport
        self.session = session
        self.mode = "navigate"  # | "pick_region" | "move_light"
        self.selected_light = -1
        self._drag: tuple[str, Any] | None = None
        viewport.setAcceptDrops(True)
        viewport.installEventFilter(self)
        self.overlay = LightOverlay(self)
        self.overlay.show()
        session.sceneChanged.connect(lambda *_: self.overlay.update())
        if hasattr(viewport, "cameraChanged"):
            viewport.cameraChanged.connect(self.overlay.update)

    # ---- modes -------------------------------------------------------------------------
    def set_pick_mode(self, on: bool) -> None:
        self.mode = "pick_region" if on else ("navigate" if self.mode == "pick_region" else self.mode)
        self._update_cursor()

    def set_move_light_mode(self, on: bool) -> None:
        self.mode = "move_light" if on else ("navigate" if self.mode == "move_light" else self.mode)
        self._update_cursor()

    def set_selected_light(self, index: int) -> None:
        self.selected_light = index
        self.overlay.update()

    def _update_cursor(self) -> None:
        cursor = {"pick_region": Qt.CursorShape.CrossCursor, "move_light": Qt.CursorShape.OpenHandCursor}.get(self.mode)
        if cursor is None:
            self.viewport.unsetCursor()
        else:
            self.viewport.setCursor(cursor)

    # ---- hooks (device pixels are computed here from widget positions) ------------------------
    def _device(self, pos: QPointF) -> tuple[float, float]:
        dpr = self.viewport.devicePixelRatioF()
        return pos.x() * dpr, pos.y() * dpr

    def pick_uv(self, pos: QPointF) -> Any:
        """Texture coordinate of the surface under widget position `pos` (the
        viewport's pick: triangle + barycentrics -> uv), or None."""
        if self.session.scene is None:
            return None
        return self.viewport.pick_uv(pos.x(), pos.y())

    def rotate_environment(self, start_deg: float, dx_widget_px: float) -> None:
        """Turn the environment by a horizontal drag (merged into one undo step until release)."""
        width = self.viewport.width()
        self.session.set_value(sp.ENV_ROTATION, rotation_after_drag(start_deg, dx_widget_px, width), "Rotate environment")

    def drag_light(self, index: int, start: tuple[float, float, float], from_pos: QPointF, to_pos: QPointF) -> None:
        """Move light `index` (which was at `start` when grabbed at `from_pos`) under `to_pos`."""
        scene = self.session.scene
        if scene is None or not 0 <= index < len(scene.lighting.lights):
            return
        moved = drag_on_view_plane(self.viewport.camera(), start, self._device(from_pos), self._device(to_pos))
        if moved is None:
            return
        light = scene.lighting.lights[index]
        from dataclasses import replace

        light = replace(light, position=tuple(float(x) for x in moved))
        if light.kind in ("directional", "spot"):
            light = aim_at(light, scene.mesh.bounding_sphere()[0])
        self.session.set_value(sp.light_name(index), light, f"Move light {index + 1}")

    # ---- events --------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        t = event.type()
        if t == QEvent.Type.Resize:
            self.overlay.setGeometry(self.viewport.rect())
            return False
        if t in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            return self._drag_enter(event)
        if t == QEvent.Type.Drop:
            return self._drop(event)
        if t == QEvent.Type.MouseButtonPress:
            return self._press(event)
        if t == QEvent.Type.MouseMove and self._drag is not None:
            return self._move(event)
        if t == QEvent.Type.MouseButtonRelease and self._drag is not None:
            return self._release(event)
        return False

    def _press(self, event: Any) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.session.scene is None or self.session.fitting:
            return False
        pos = event.position()
        scene = self.session.scene
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self._drag = ("rotate", (pos, scene.lighting.environment.rotation_deg))
            return True
        if self.mode == "pick_region":
            self._drag = ("click", pos)
            return True
        if self.mode == "move_light":
            index = nearest_light(self.viewport.camera(), scene.lighting.lights, self._device(pos),
                                  GRAB_RADIUS_PX * self.viewport.devicePixelRatioF())
            if index is not None:
                self._drag = ("light", (index, scene.lighting.lights[index].position, pos))
                self.set_selected_light(index)
                self.lightGrabbed.emit(index)
                self.viewport.setCursor(Qt.CursorShape.ClosedHandCursor)
                return True
        return False

    def _move(self, event: Any) -> bool:
        kind, data = self._drag
        pos = event.position()
        if kind == "rotate":
            start_pos, start_deg = data
            self.rotate_environment(start_deg, pos.x() - start_pos.x())
        elif kind == "light":
            index, start, grab = data
            self.drag_light(index, start, grab, pos)
        return True

    def _release(self, event: Any) -> bool:
        kind, data = self._drag
        self._drag = None
        if kind == "click":
            moved = event.position() - data
            if abs(moved.x()) + abs(moved.y()) <= CLICK_SLOP_PX:
                uv = self.pick_uv(event.position())
                if uv is None:
                    self.pickMissed.emit()
                else:
                    self.regionPicked.emit(uv)
        else:
            self.session.end_merge()
        self._update_cursor()
        return True

    def _paths(self, event: Any) -> list[str]:
        urls = event.mimeData().urls() if event.mimeData() is not None else []
        return [u.toLocalFile() for u in urls if u.isLocalFile()]

    def _drag_enter(self, event: Any) -> bool:
        if self._paths(event):
            event.acceptProposedAction()
            return True
        return False

    def _drop(self, event: Any) -> bool:
        paths = self._paths(event)
        if not paths:
            return False
        event.acceptProposedAction()
        if is_hdri_file(paths[0]):
            self.hdriDropped.emit(paths[0])
        else:
            self.otherDropped.emit(str(Path(paths[0])))
        return True
