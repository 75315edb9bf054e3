"""Benchmarks: ground-truth captures rendered with Mitsuba 3 and their scoring.

`benchmarks.generate` writes the captures (see benchmarks/README.md);
`benchmarks.mitsuba_scene` turns a glTF asset, an HDRI and Relit cameras into
Mitsuba scenes with Relit's conventions. Nothing here is imported by the app.
"""
