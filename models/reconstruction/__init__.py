"""Geometry from images: reconstruct a mesh when a capture has none.

    masks -> visual hull -> SDF grid refined by differentiable volume
    rendering (coarse to fine) -> marching cubes -> cleanup -> UV atlas

Entry point: `reconstruct(capture, config, progress, cancel) -> Mesh`
(see reconstruct.py); settings in config.py.
"""

from models.reconstruction.config import ReconstructionConfig, StageConfig
from models.reconstruction.reconstruct import (
    ReconstructionProgress,
    ReconstructionResult,
    reconstruct,
    reconstruct_capture,
    reconstruct_views,
)

__all__ = [
    "ReconstructionConfig",
    "ReconstructionProgress",
    "ReconstructionResult",
    "StageConfig",
    "reconstruct",
    "reconstruct_capture",
    "reconstruct_views",
]
