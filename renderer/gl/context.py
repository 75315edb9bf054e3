"""Standalone OpenGL contexts for headless rendering (tests, exports, CLI).

The viewport creates its own context inside Qt; everything else gets one here,
through EGL so that no X server or window is needed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

import moderngl

log = logging.getLogger(__name__)

MIN_GL_VERSION = 330


def create_standalone_context(require: int = MIN_GL_VERSION) -> moderngl.Context:
    """A windowless core-profile context: EGL first (no display needed), then
    the platform default (GLX/WGL/CGL) where EGL is unavailable.

    In the GUI, create and use it on a worker thread, never the GUI thread:
    with Mesa, a thread that has made an EGL context current can no longer
    make Qt's GLX contexts current (the viewport goes blank). GLX standalone
    contexts are no way out: Xlib from a second thread crashes. Release it
    with `release_standalone_context`, which also gives the thread back to
    GLX.
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


def release_standalone_context(ctx: moderngl.Context) -> None:
    """Release a context from `create_standalone_context` and unbind EGL from
    the calling thread. moderngl's release leaves the EGL context current,
    and while it is, Mesa will not make a GLX context current on that thread:
    a Qt viewport opened afterwards on the same thread never paints."""
    ctx.release()
    _release_egl_thread()


@functools.cache
def _egl() -> ctypes.CDLL | None:
    """libEGL with the prototypes `_release_egl_thread` uses, loaded once;
    None where it is absent."""
    try:
        egl = ctypes.CDLL(ctypes.util.find_library("EGL") or "libEGL.so.1")
    except OSError:
        return None
    egl.eglGetCurrentContext.restype = ctypes.c_void_p
    egl.eglGetCurrentDisplay.restype = ctypes.c_void_p
    egl.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
    egl.eglMakeCurrent.restype = ctypes.c_uint
    egl.eglReleaseThread.restype = ctypes.c_uint
    return egl


def _release_egl_thread() -> None:
    """eglMakeCurrent(no context) + eglReleaseThread on the calling thread;
    nothing where libEGL is absent or no EGL context is current."""
    egl = _egl()
    if egl is None or not egl.eglGetCurrentContext():
        return
    display = egl.eglGetCurrentDisplay()
    if not egl.eglMakeCurrent(display, None, None, None) or not egl.eglReleaseThread():
        log.debug("could not unbind the EGL context from this thread")


def renderer_string(ctx: moderngl.Context) -> str:
    """'GL_RENDERER (GL_VERSION)' — what benchmarks and bug reports print."""
    return f"{ctx.info['GL_RENDERER']} ({ctx.info['GL_VERSION']})"
