"""The ModernGL real-time renderer: the GLSL mirror of renderer/shade.py.

`SceneRenderer` draws into any moderngl framebuffer (the Qt viewport's or an
offscreen one); `OffscreenRenderer` wraps it with its own EGL context for
headless renders to numpy.
"""
