"""Relit's plain data and maths: captures, cameras, meshes, materials, lighting,
scenes and the fitting loop. Imports no Qt and runs headless."""
