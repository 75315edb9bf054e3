"""Relit's Qt GUI: the main window, the viewport widget, panels and workers.
Owns no maths: it wires widgets to `models` and `renderer`."""
