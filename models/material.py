"""Spatially varying material maps in UV space (glTF metallic-roughness)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MaterialMaps:
    """Texture maps indexed by the mesh's UVs; row 0 is the *top* of the image
    (v = 1), as image files store it.

    albedo (H,W,3) float32 linear base colour in [0,1]; roughness (H,W) and
    metallic (H,W) float32 in [0,1] (perceptual roughness, alpha = r^2).
    """

    albedo: np.ndarray
    roughness: np.ndarray
    metallic: np.ndarray

    @staticmethod
    def constant(
        resolution: int = 256,
        albedo: tuple[float, float, float] = (0.5, 0.5, 0.5),
        roughness: float = 0.5,
        metallic: float = 0.0,
    ) -> "MaterialMaps":
        r = resolution
        return MaterialMaps(
            np.broadcast_to(np.asarray(albedo, np.float32), (r, r, 3)).copy(),
            np.full((r, r), roughness, np.float32),
            np.full((r, r), metallic, np.float32),
        )

    @property
    def resolution(self) -> tuple[int, int]:
        return self.albedo.shape[0], self.albedo.shape[1]
