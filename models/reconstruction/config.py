"""Settings of a geometry reconstruction, as nested frozen dataclasses.

Every field carries its meaning in the docstring below it. Lengths are in
*normalised* units: the reconstruction works in the frame where the capture's
bounding sphere is the unit sphere at the origin (see `reconstruct`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class HullConfig:
    """Visual hull: carve a voxel grid by the silhouettes."""

    resolution: int = 128
    """Voxels per side of the carving grid."""
    mask_threshold: float = 0.5
    """A pixel is foreground when its mask value is at least this."""
    dilation_px: int = 1
    """Grow each mask by this many pixels first, so the hull contains the object
    despite anti-aliased edges and small pose errors."""
    max_misses: int = 0
    """A voxel survives when at most this many views see it outside their mask
    (raise for noisy masks)."""


@dataclass(frozen=True)
class StageConfig:
    """One coarse-to-fine stage of grid refinement."""

    resolution: int
    """SDF voxels per side in this stage."""
    steps: int
    """Adam steps in this stage."""
    feature_resolution: int = 0
    """Colour-feature voxels per side (0: the same as `resolution`, at most 64)."""
    rays_per_batch: int = 0
    """Rays per step in this stage (0: RenderConfig.rays_per_batch)."""


@dataclass(frozen=True)
class RenderConfig:
    """Differentiable volume rendering of the SDF (NeuS-style)."""

    rays_per_batch: int = 2048
    """Pixels (rays) per optimiser step."""
    coarse_samples: int = 64
    """Uniform samples per ray inside the bounding sphere (no gradient: they place
    the fine samples)."""
    fine_samples: int = 32
    """Samples per ray drawn from the coarse weights (importance sampling)."""
    free_samples: int = 16
    """Of the coarse samples, this many (evenly spread) are also rendered with
    gradient, so free space along the ray is supervised too."""
    initial_sharpness: float = 30.0
    """Initial NeuS sharpness s (1/s is the width of the surface's density, in
    normalised units); s is then learned."""
    min_sharpness_voxels: float = 0.5
    """Floor of s at the start, as a multiple of 1 / voxel size of the current stage."""
    final_min_sharpness_voxels: float = 4.0
    """Floor of s at the end of the last stage (rising linearly): forces a
    crisp surface where the data alone would settle for fog (mask-free
    captures); masked captures grow s past it by themselves."""
    feature_channels: int = 8
    """Channels of the per-voxel colour-feature grid."""
    decoder_width: int = 32
    """Hidden width of the tiny per-ray colour decoder (features, normal, view
    direction -> RGB); it runs once per ray, not per sample."""
    view_dependent_from: float = 0.3
    """Colour may depend on the view direction only after this fraction of all
    steps: until then a surface cannot mimic the different backgrounds that
    different views see through it, so wrong surfaces get carved away."""
    weight_threshold: float = 1e-3
    """Samples with a smaller rendering weight skip colour/normal lookups."""


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms."""

    photometric: float = 1.0
    """Charbonnier error between rendered and photographed linear RGB (object
    pixels only when masks exist; background composited otherwise)."""
    mask: float = 0.5
    """Binary cross-entropy between accumulated opacity and the mask."""
    eikonal: float = 0.1
    """(|grad f| - 1)^2 over the grid: keeps the grid a signed distance."""
    smoothness: float = 0.02
    """Squared Laplacian (times voxel^2) of the SDF near the surface (mean
    curvature), decaying linearly to `smoothness_end` times this."""
    smoothness_end: float = 0.3
    """Fraction of the smoothness weight left at the end of the last stage."""
    regulariser_nodes: int = 32768
    """Grid nodes drawn per step for the eikonal and smoothness terms (half of
    them within 3 voxels of the surface)."""
    feature_tv: float = 0.001
    """Total variation of the colour features."""
    opacity_sparsity: float = 0.02
    """Mask-free captures: mean opacity of the rays, so that what the background
    can explain is left empty rather than painted onto a surface."""
    background_tv: float = 0.001
    """Total variation of the background shells (mask-free captures)."""


@dataclass(frozen=True)
class OptimConfig:
    """Adam settings."""

    sdf_lr: float = 2e-3
    """Learning rate of the SDF voxels (normalised units; scaled by 64/resolution)."""
    feature_lr: float = 2e-2
    """Learning rate of the colour features and decoder."""
    sharpness_lr: float = 2e-2
    """Learning rate of log s."""
    background_lr: float = 2e-2
    """Learning rate of the background shells."""
    decay: float = 0.1
    """Learning rates fall to this fraction over each stage (cosine): a small
    final rate keeps Adam's per-voxel jitter out of the surface."""


@dataclass(frozen=True)
class ForegroundConfig:
    """How captures without masks are handled (see foreground.py)."""

    framed_percentile: float = 25.0
    """The region to reconstruct is the sphere around the rig's focus that
    this percentage of the views frame whole (never smaller than the capture's
    bounding sphere)."""
    init_radius: float = 0.8
    """Radius of the initial sphere SDF (fraction of the region's radius)."""
    shells: int = 8
    """Background shells (multi-sphere image) between `inner_shell` and the
    scene's far bound."""
    inner_shell: float = 1.5
    """Radius of the innermost background shell, in region radii. Well outside
    the region, so a shell cannot pass for the object's surface (parallax
    between views gives it away); what lies between is the grid's to explain."""
    shell_resolution: tuple[int, int] = (32, 64)
    """(rows, columns) of each equirectangular background shell."""
    far_radius: float = 0.0
    """Outermost background shell, in bounding radii (0: from aabb_scale, or 16)."""
    density_resolution: int = 64
    """Voxels per side of the density grid that estimates the occupancy."""
    density_steps: int = 400
    """Adam steps of the density fit (0: start from a sphere of `init_radius`)."""
    density_samples: int = 96
    """Uniform samples per ray through the region in the density fit."""
    density_lr: float = 0.2
    """Learning rate of the density and colour grids."""
    density_sparsity: float = 0.05
    """Weight of the mean opacity per ray: what the background explains stays empty."""
    density_tv: float = 1e-3
    """Total variation of the density (a dust-free occupancy)."""
    occupancy_alpha: float = 0.05
    """A voxel is occupied when a ray crossing it would lose this much light
    (free space fits to well under 0.001; the object's surface shell to ~0.1)."""
    support_plane: bool = True
    """Look for a wall or table behind the object (a plane the rig sees from one
    side holding many of the density fit's surface points) and, when found,
    explain it by a textured plane in the background instead of the grid:
    rays stop at it and the geometry is cut off behind it."""
    plane_after: float = 0.5
    """Fraction of `density_steps` fitted before the plane is looked for (the
    rest are fitted with the plane)."""
    plane_tolerance_voxels: float = 2.0
    """A surface point lies on the plane within this many density voxels."""
    plane_clear_voxels: float = 1.5
    """When the plane is found, the density within this many voxels in front
    of it is cleared too (the wall painted into the grid so far); the object
    grows back there, the wall does not."""
    plane_min_inliers: float = 0.2
    """Fraction of the surface points that must lie on the plane."""
    plane_camera_fraction: float = 0.9
    """Fraction of the cameras that must be in front of the plane."""
    plane_iterations: int = 500
    """RANSAC hypotheses."""
    plane_resolution: int = 256
    """Texels per side of the plane's texture."""
    plane_max_extent: float = 16.0
    """Largest half-size of the textured square, in region radii."""


@dataclass(frozen=True)
class PoseConfig:
    """Per-view refinement of camera poses (off by default)."""

    enabled: bool = False
    """Learn a small rotation (about the camera centre) and translation per view."""
    rotation_lr: float = 1e-3
    """Learning rate of the axis-angle rotations (radians)."""
    translation_lr: float = 3e-4
    """Learning rate of the translations (normalised units)."""


@dataclass(frozen=True)
class MeshConfig:
    """Marching cubes and cleanup."""

    resolution: int = 0
    """Grid resolution for marching cubes (0: the last stage's)."""
    target_faces: int = 50_000
    """Decimate to at most this many faces (0: no decimation)."""
    keep_largest: bool = True
    """Keep only the largest connected component."""
    fill_holes: bool = True
    """Close any boundary loops left after cleanup."""
    smoothing_passes: int = 2
    """Laplacian smoothing passes over the cleaned mesh (0: none); see
    cleanup.laplacian_smooth for what it measured."""
    uv_resolution: int = 1024
    """Texture size the UV atlas is packed for (0: no UV atlas)."""


@dataclass(frozen=True)
class ReconstructionConfig:
    """Everything `reconstruct` needs besides the capture."""

    hull: HullConfig = field(default_factory=HullConfig)
    """Visual hull settings (captures with masks)."""
    stages: tuple[StageConfig, ...] = (
        StageConfig(48, 600),
        StageConfig(80, 800),
        StageConfig(128, 1000, rays_per_batch=4096),
    )
    """Coarse-to-fine grid refinement; the SDF is upsampled between stages.
    Twice the steps of the first sessions: WaterBottle's per-pixel normal
    error 6.09 -> 5.97 deg (with smoothing; target 6), Avocado and
    WaterBottle in about 4 minutes on 2 cores (BENCHMARKS.md)."""
    render: RenderConfig = field(default_factory=RenderConfig)
    """Volume rendering."""
    loss: LossConfig = field(default_factory=LossConfig)
    """Loss weights."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser."""
    foreground: ForegroundConfig = field(default_factory=ForegroundConfig)
    """Mask-free captures."""
    poses: PoseConfig = field(default_factory=PoseConfig)
    """Camera pose refinement."""
    mesh: MeshConfig = field(default_factory=MeshConfig)
    """Mesh extraction and cleanup."""
    grid_margin: float = 1.1
    """Half-size of the reconstruction cube, in bounding radii."""
    use_masks: bool = True
    """Use the capture's masks when it has them (False: treat it as mask-free)."""
    split: str = "train"
    """Which views reconstruct the geometry ("" or "all": every view)."""
    max_views: int = 0
    """Use at most this many views, evenly spaced (0: all)."""
    time_budget_s: float = 0.0
    """Refinement time limit in seconds (0: none). Each stage may use the share
    of it that its steps are of all steps; a stage over its share ends early,
    so every stage still runs."""
    device: str = "cpu"
    """Torch device ("cpu", "cuda", "cuda:1")."""
    seed: int = 0
    """Random seed of ray batches and sampling."""
    progress_every: int = 10
    """Emit a progress snapshot every this many steps."""

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def fast() -> ReconstructionConfig:
        """Small grids and few steps: tests and previews (seconds on a CPU)."""
        return ReconstructionConfig(
            hull=HullConfig(resolution=48),
            stages=(StageConfig(24, 60), StageConfig(40, 80)),
            render=RenderConfig(rays_per_batch=1024, coarse_samples=48, fine_samples=16),
            foreground=ForegroundConfig(density_resolution=40, density_steps=150, density_sparsity=0.01, density_tv=1e-4,
                                        occupancy_alpha=0.02),
            mesh=MeshConfig(target_faces=5000, uv_resolution=0),
        )

    def with_(self, **changes: Any) -> ReconstructionConfig:
        """A copy with top-level fields replaced."""
        return replace(self, **changes)
