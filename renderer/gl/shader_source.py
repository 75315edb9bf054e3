"""GLSL sources as files: `#include` resolution and per-stage defines.

One `.glsl` file per program holds all its stages, gated by
`#if defined VERTEX_SHADER` / `FRAGMENT_SHADER`; shared code (BRDF, environment
lookups, tone mapping) lives in included files so it is written once. Each
file is included at most once per stage, and `#line` directives number the
files so that compiler errors can be mapped back to file names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SHADER_DIR = Path(__file__).resolve().parents[2] / "resources" / "shaders"
GLSL_VERSION = "#version 330 core"
STAGES = {
    "vertex": "VERTEX_SHADER",
    "geometry": "GEOMETRY_SHADER",
    "fragment": "FRAGMENT_SHADER",
}

_INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^">]+)[">]\s*$')
_VERSION = re.compile(r"^\s*#\s*version\b")
_ERROR_LOC = re.compile(r"\b(\d+):(\d+)\(")


class ShaderSourceError(RuntimeError):
    """A shader file or one of its includes could not be read or resolved."""


@dataclass
class ShaderSource:
    """A preprocessed program: one source string per stage it defines, and the
    file table that `#line` numbers refer to."""

    name: str
    stages: dict[str, str]
    files: list[Path] = field(default_factory=list)

    def describe_error(self, message: str) -> str:
        """Rewrite compiler locations 'K:LINE(' to 'file.glsl:LINE(' where K
        is a file number from the `#line` directives."""

        def repl(m: re.Match[str]) -> str:
            k = int(m.group(1))
            if 0 < k <= len(self.files):
                return f"{self.files[k - 1].name}:{m.group(2)}("
            return m.group(0)

        return _ERROR_LOC.sub(repl, message)


def _expand(
    path: Path, root: Path, files: list[Path], seen: set[Path], chain: tuple[Path, ...]
) -> list[str]:
    """The lines of `path` with includes spliced in (each file once)."""
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in chain + (path,))
        raise ShaderSourceError(f"#include cycle: {cycle}")
    if path in seen:
        return []
    seen.add(path)
    if path not in files:
        files.append(path)
    number = files.index(path) + 1
    try:
        text = path.read_text()
    except OSError as exc:
        raise ShaderSourceError(f"cannot read shader file {path}: {exc}") from exc
    out = [f"#line 1 {number}"]
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _INCLUDE.match(line)
        if m:
            target = m.group(1)
            candidates = [path.parent / target, root / target]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise ShaderSourceError(
                    f'{path.name}:{lineno}: #include "{target}" not found '
                    f"(looked in {path.parent} and {root})"
                )
            out.extend(_expand(found, root, files, seen, chain + (path,)))
            out.append(f"#line {lineno + 1} {number}")
        elif _VERSION.match(line):
            out.append("")  # the loader writes the one #version line itself
        else:
            out.append(line)
    return out


def preprocess(
    path: str | Path,
    stage: str,
    defines: dict[str, object] | None = None,
    root: Path = SHADER_DIR,
    files: list[Path] | None = None,
) -> tuple[str, list[Path]]:
    """One stage of a shader file as a single GLSL string: `#version`, the
    stage define, the caller's defines, then the file with includes resolved.

    `files` is the file table the `#line` numbers index; pass one list for all
    stages of a program so that a number means the same file in each."""
    if stage not in STAGES:
        raise ValueError(f"unknown shader stage {stage!r}; expected one of {sorted(STAGES)}")
    path = Path(path)
    if not path.is_absolute():
        path = root / path
    if not path.is_file():
        raise ShaderSourceError(f"shader file not found: {path}")
    header = [GLSL_VERSION, f"#define {STAGES[stage]} 1"]
    for key, value in (defines or {}).items():
        header.append(f"#define {key} {'' if value is True else value}".rstrip())
    files = [] if files is None else files
    body = _expand(path, root, files, set(), ())
    return "\n".join(header + body) + "\n", files


def load_program_source(
    name: str, defines: dict[str, object] | None = None, root: Path = SHADER_DIR
) -> ShaderSource:
    """Preprocess every stage that `name` (e.g. "mesh.glsl") gates with
    `#if defined <STAGE>_SHADER`."""
    path = Path(name) if Path(name).is_absolute() else root / name
    if not path.is_file():
        raise ShaderSourceError(f"shader file not found: {path}")
    text = path.read_text()
    stages: dict[str, str] = {}
    files: list[Path] = []
    for stage, macro in STAGES.items():
        if re.search(rf"\b{macro}\b", text):
            stages[stage], _ = preprocess(path, stage, defines, root, files)
    if "vertex" not in stages:
        raise ShaderSourceError(f"{path.name} defines no VERTEX_SHADER stage")
    return ShaderSource(path.name, stages, files)
