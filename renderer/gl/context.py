"""Standalone OpenGL contexts for headless rendering (tests, exports, CLI).

The viewport creates its own context inside Qt; everything else gets one here,
through EGL so that no X server or window is needed.
"""

from __future__ import annotations

import moderngl

MIN_GL_VERSION = 330


def create_standalone_context(require: int = MIN_GL_VERSION) -> moderngl.Context:
    """A windowless core-profile context: EGL first (no display needed), then
    the platform default (GLX/WGL/CGL) where EGL is unavailable.

    In the GUI, create and use it on a worker thread, never the GUI thread:
    with Mesa, a thread that has made an EGL context current can no longer
    make Qt's GLX contexts current (the viewport goes blank). GLX standalone
    contexts are no way out: Xlib from a second thread crashes.
    """
    errors: list[str] = []
    for kwargs in ({"backend": "egl"}, {}):
        try:
            ctx = moderngl.create_context(standalone=True, require=require, **kwargs)
        except Exception as exc:  # moderngl raises plain Exception for backend failures
            errors.append(f"{kwargs.get('backend', 'default')}: {exc}")
            continue
        return ctx
    raise RuntimeError("could not create an OpenGL context: " + "; ".join(errors))


def renderer_string(ctx: moderngl.Context) -> str:
    """'GL_RENDERER (GL_VERSION)' — what benchmarks and bug reports print."""
    return f"{ctx.info['GL_RENDERER']} ({ctx.info['GL_VERSION']})"
