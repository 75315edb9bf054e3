"""The shader preprocessor: #include resolution, stage defines, clear errors;
and every shipped shader compiles and links in a real GL context."""

from __future__ import annotations

from pathlib import Path

import pytest

from renderer.gl.context import release_standalone_context
from renderer.gl.shader_source import ShaderSourceError, load_program_source, preprocess
from tests.renderer.test_gl_scenes import gl_context_or_skip


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


PROGRAM = """\
#version 330 core
#include "lib/a.glsl"
#include "common.glsl"
#if defined VERTEX_SHADER
void main() { gl_Position = vec4(value_a() + value_b()); }
#endif
#if defined FRAGMENT_SHADER
out vec4 color;
void main() { color = vec4(value_a()); }
#endif
"""


@pytest.fixture
def shader_root(tmp_path: Path) -> Path:
    return _write(
        tmp_path,
        {
            "prog.glsl": PROGRAM,
            "lib/a.glsl": '#include "b.glsl"\nfloat value_a() { return FACTOR * value_b(); }\n',
            "lib/b.glsl": "float value_b() { return 0.5; }\n",  # found next to its includer
            "common.glsl": '#include "lib/b.glsl"\nconst float COMMON = 1.0;\n',  # b again: once only
        },
    )


def test_includes_resolve_relative_to_includer_then_root(shader_root: Path) -> None:
    source, files = preprocess("prog.glsl", "vertex", {"FACTOR": "2.0"}, root=shader_root)
    lines = source.splitlines()
    assert lines[0] == "#version 330 core"
    assert "#define VERTEX_SHADER 1" in lines[:3] and "#define FACTOR 2.0" in lines[:4]
    assert source.count("float value_b()") == 1  # included twice, spliced once
    assert "float value_a()" in source and "const float COMMON" in source
    assert source.count("#version") == 1
    assert source.index("float value_b()") < source.index("float value_a()")
    assert [f.name for f in files] == ["prog.glsl", "a.glsl", "b.glsl", "common.glsl"]


def test_stages_are_found_and_gated(shader_root: Path) -> None:
    program = load_program_source("prog.glsl", {"FACTOR": 1}, root=shader_root)
    assert set(program.stages) == {"vertex", "fragment"}
    assert "#define FRAGMENT_SHADER 1" in program.stages["fragment"]
    assert "#define VERTEX_SHADER" not in program.stages["fragment"]


def test_missing_include_names_the_file_and_the_includer(tmp_path: Path) -> None:
    _write(tmp_path, {"main.glsl": '#if defined VERTEX_SHADER\n#include "nowhere/missing.glsl"\n#endif\n'})
    with pytest.raises(ShaderSourceError, match=r'main\.glsl:2: #include "nowhere/missing\.glsl" not found'):
        load_program_source("main.glsl", root=tmp_path)


def test_missing_program_and_cycles_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ShaderSourceError, match="absent.glsl"):
        load_program_source("absent.glsl", root=tmp_path)
    _write(
        tmp_path,
        {"loop.glsl": '#if defined VERTEX_SHADER\n#include "x.glsl"\n#endif\n', "x.glsl": '#include "y.glsl"\n', "y.glsl": '#include "x.glsl"\n'},
    )
    with pytest.raises(ShaderSourceError, match="cycle: loop.glsl -> x.glsl -> y.glsl -> x.glsl"):
        load_program_source("loop.glsl", root=tmp_path)


def test_unknown_stage_is_rejected(shader_root: Path) -> None:
    with pytest.raises(ValueError, match="stage"):
        preprocess("prog.glsl", "tessellation", root=shader_root)


@pytest.mark.gl
def test_shipped_programs_compile_and_errors_name_the_included_file(tmp_path: Path) -> None:
    import moderngl

    from renderer.gl.programs import CHANNELS, BackgroundVariant, MeshVariant, Programs, compile_program

    ctx = gl_context_or_skip()
    try:
        programs = Programs(ctx)
        for channel in CHANNELS:
            for taps in (0, 1, 2):
                programs.mesh(MeshVariant(channel, taps, "agx", linear_output=channel == "normal"))
        assert len(programs.mesh_variants) == 1 + 3 * len(CHANNELS)  # plus the default, made up front
        for mode in ("environment", "color"):
            programs.background(BackgroundVariant(mode, blurred=True, view_transform="aces"))
        assert len(programs.background_variants) == 3
        assert all(isinstance(p, moderngl.Program) for p in (programs.grid, programs.shadow, programs.wireframe, programs.upscale))
        # A compile error inside an included file is reported with that file's name.
        _write(
            tmp_path,
            {
                "broken.glsl": '#include "bad.glsl"\n#if defined VERTEX_SHADER\nvoid main() { gl_Position = vec4(f()); }\n#endif\n',
                "bad.glsl": "float f() {\n  return undefined_thing;\n}\n",
            },
        )
        with pytest.raises(ShaderSourceError, match=r"bad\.glsl:2"):
            compile_program(ctx, "broken.glsl", root=tmp_path)
        programs.release()
    finally:
        release_standalone_context(ctx)
