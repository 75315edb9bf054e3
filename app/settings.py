"""What the GUI remembers between sessions: window layout and recent files.

A thin typed layer over QSettings so that the keys live in one place and
tests can hand in a QSettings backed by a temporary file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "Relit"
APPLICATION = "Relit"
MAX_RECENT = 10


class Settings:
    """Window geometry/state and the most-recently-opened paths (newest first)."""

    def __init__(self, qsettings: QSettings | None = None):
        self.qsettings = qsettings if qsettings is not None else QSettings(ORGANIZATION, APPLICATION)

    @staticmethod
    def at(path: str | Path) -> "Settings":
        """Settings kept in an INI file at `path` (tests, portable installs)."""
        return Settings(QSettings(str(path), QSettings.Format.IniFormat))

    # ---- window -------------------------------------------------------------
    def window_geometry(self) -> QByteArray | None:
        return self._bytes("window/geometry")

    def window_state(self) -> QByteArray | None:
        return self._bytes("window/state")

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", geometry)
        self.qsettings.setValue("window/state", state)
        self.qsettings.sync()

    # ---- recent files -------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.qsettings.value("recent/files", [])
        if isinstance(value, str):  # QSettings collapses a one-item list to a string
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent(self, path: str | Path) -> list[str]:
        """Move `path` to the front of the list (absolute, no duplicates)."""
        entry = str(Path(path).expanduser().resolve())
        files = [entry] + [f for f in self.recent_files() if f != entry]
        self._set_recent(files[:MAX_RECENT])
        return self.recent_files()

    def remove_recent(self, path: str | Path) -> None:
        self._set_recent([f for f in self.recent_files() if f != str(path)])

    def clear_recent(self) -> None:
        self._set_recent([])

    def _set_recent(self, files: list[str]) -> None:
        self.qsettings.setValue("recent/files", files)
        self.qsettings.sync()

    def _bytes(self, key: str) -> QByteArray | None:
        value = self.qsettings.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None
