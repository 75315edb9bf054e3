"""The editable document: undo commands restore exactly, Save / load round
trips, autosave writes a recovery folder a crash leaves behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QUndoStack

from app.commands import EnvironmentEdit, LightsEdit, MaterialEdit, ValueEdit
from app.session import RECOVERY_FILE, Session, find_recoveries
from models import scene_params as sp
from models.lighting import PunctualLight
from models.material_edits import Adjustment, apply_adjustment
from models.scene_io import load_scene
from tests.app.panels_support import sky_environment, two_tone_scene


@pytest.fixture
def session(qapp, tmp_path: Path):
    s = Session(QUndoStack(), recovery_root=tmp_path / "recovery", autosave_interval_s=0)
    s.new_document(two_tone_scene())
    yield s
    s.close()


def test_commands_restore_the_exact_previous_state(session: Session) -> None:
    original = session.scene
    albedo = original.material.albedo.copy()
    seen = []
    session.sceneChanged.connect(lambda scene, names: seen.append(set(names)))
    session.push(MaterialEdit(session, apply_adjustment(original.material, Adjustment(hue_shift=90, roughness_scale=0.5)), "adjust"))
    session.push(EnvironmentEdit(session, sky_environment(8, "other")))
    session.push(LightsEdit(session, (PunctualLight(intensity=5.0),), "add light"))
    session.set_value(sp.light_name(0, "intensity"), 7.0)
    session.set_value(sp.ENV_ROTATION, 30.0)
    assert seen[0] == {sp.MATERIAL_ALBEDO, sp.MATERIAL_ROUGHNESS} and seen[1] == {sp.ENVIRONMENT}
    assert session.scene.lighting.lights[0].intensity == 7.0 and session.scene.lighting.environment.rotation_deg == 30.0
    assert session.dirty
    while session.undo_stack.canUndo():
        session.undo_stack.undo()
    assert session.scene is original  # the very same objects: an exact restore
    assert np.array_equal(session.scene.material.albedo, albedo)
    assert not session.dirty
    while session.undo_stack.canRedo():
        session.undo_stack.redo()
    assert session.scene.lighting.environment.rotation_deg == 30.0 and session.scene.lighting.environment.name == "other"


def test_continuous_edits_merge_until_released(session: Session) -> None:
    for deg in (5.0, 10.0, 20.0):
        session.set_value(sp.ENV_ROTATION, deg)
    assert session.undo_stack.count() == 1
    session.end_merge()
    session.set_value(sp.ENV_ROTATION, 40.0)
    assert session.undo_stack.count() == 2
    session.undo_stack.undo()
    assert session.scene.lighting.environment.rotation_deg == 20.0
    session.undo_stack.undo()
    assert session.scene.lighting.environment.rotation_deg == 0.0
    with pytest.raises(KeyError):
        ValueEdit(session, "lighting.moon", 1.0)


def test_save_and_load_round_trip(session: Session, qtbot, tmp_path: Path) -> None:
    session.set_value(sp.ENV_EXPOSURE, -1.5)
    session.push(LightsEdit(session, (PunctualLight(kind="spot", intensity=3.0, name="key"),), "add"))
    session.capture_path = tmp_path / "capture"
    target = tmp_path / "saved"
    with qtbot.waitSignal(session.saved, timeout=30000) as saved:
        assert session.save(target)
    assert saved.args == [target] and session.path == target and not session.dirty
    loaded = load_scene(target)
    assert loaded.lighting.environment.exposure_ev == -1.5
    assert loaded.lighting.lights[0].kind == "spot" and loaded.lighting.lights[0].name == "key"
    assert loaded.metadata["session"]["capture"] == str(tmp_path / "capture")
    np.testing.assert_allclose(loaded.material.roughness, session.scene.material.roughness, atol=1 / 255)
    # Open it as a new document: history cleared, not dirty.
    other = Session(QUndoStack(), recovery_root=tmp_path / "r2", autosave_interval_s=0)
    with qtbot.waitSignal(other.opened, timeout=30000):
        other.open(target)
    assert other.path == target and not other.dirty and other.undo_stack.count() == 0
    assert other.scene.lighting.lights[0].intensity == pytest.approx(3.0)
    with qtbot.waitSignal(other.openFailed, timeout=30000) as failed:
        other.open(tmp_path / "missing")
    assert "missing" in str(failed.args[0])
    other.close()


def test_autosave_writes_a_recovery_folder(qapp, qtbot, tmp_path: Path) -> None:
    root = tmp_path / "recovery"
    session = Session(QUndoStack(), recovery_root=root, autosave_interval_s=0.2)
    session.new_document(two_tone_scene(), tmp_path / "doc")
    assert not session.autosave()  # nothing changed since it was opened
    session.set_value(sp.ENV_STRENGTH, 2.5)
    with qtbot.waitSignal(session.autosaved, timeout=30000) as saved:
        pass  # the timer fires by itself
    folder = saved.args[0]
    assert folder == session.recovery_folder and (folder / "scene.json").is_file()
    info = json.loads((folder / RECOVERY_FILE).read_text())
    assert info["pid"] == os.getpid() and info["document"] == str(tmp_path / "doc")
    assert load_scene(folder).lighting.environment.strength == 2.5
    # This process is alive: not offered; a dead one's folder is.
    assert find_recoveries(root) == []
    info["pid"] = 2**22 + 12345  # no such process
    (folder / RECOVERY_FILE).write_text(json.dumps(info))
    found = find_recoveries(root)
    assert [r.folder for r in found] == [folder] and found[0].document == tmp_path / "doc"
    # Restoring opens it dirty, with the document's own path, and removes the folder.
    other = Session(QUndoStack(), recovery_root=tmp_path / "other", autosave_interval_s=0)
    session.autosave_timer.stop()
    with qtbot.waitSignal(other.opened, timeout=30000):
        other.restore(found[0])
    assert other.dirty and other.path == tmp_path / "doc"
    assert other.scene.lighting.environment.strength == 2.5
    assert not folder.exists()
    other.close()
    session.close()
    assert not session.recovery_folder.exists()


def test_a_normal_close_removes_the_recovery_folder(session: Session, qtbot) -> None:
    session.set_value(sp.ENV_STRENGTH, 3.0)
    with qtbot.waitSignal(session.autosaved, timeout=30000):
        assert session.autosave()
    assert session.recovery_folder.is_dir()
    session.close()
    assert not session.recovery_folder.exists()


def test_fit_result_is_one_undoable_step(session: Session) -> None:
    before = session.scene
    fitted = two_tone_scene()
    session.begin_fit()
    assert session.fitting
    session.end_fit(fitted, "Fit (cancelled at step 3)")
    assert not session.fitting and session.scene.material is fitted.material
    assert session.scene.display is before.display  # display settings carry over
    assert session.undo_stack.undoText() == "Fit (cancelled at step 3)"
    session.undo_stack.undo()
    assert session.scene is before
