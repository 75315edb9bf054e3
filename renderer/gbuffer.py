"""G-buffers: what one view sees of a mesh, per pixel, as torch tensors.

Geometry is fixed while materials and light are fitted, so each training view
is rasterized once into a GBuffer; every fitting step then gathers a random
batch of covered pixels (`GBuffer.gather`) and shades only those.

Conventions (shared by `renderer.raster.rasterize` and
`renderer.raycast.raycast_gbuffer`, which produce the same buffers):
- pixel (row v, column u) is flat index v * W + u; row 0 is the top;
- `normal` is the interpolated vertex normal, flipped when the triangle is
  seen from its back (two-sided shading: an open mesh seen from behind is lit
  like its front, not black); it is *not* clamped to face the camera, so at
  silhouettes `dot(normal, view_dir)` may still be slightly negative;
- empty pixels hold zeros (position, normal, uv, ao, depth), triangle -1 and
  coverage False, but `view_dir` is set everywhere (minus the pixel ray), so a
  background can be shaded from the environment map.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from models.camera import Camera
    from models.mesh import Mesh


@dataclass(frozen=True)
class SurfaceSamples:
    """Flat surface samples gathered from a GBuffer: every field is (N,...).

    `pixel` holds the flat pixel index each sample came from (N,) int64.
    """

    position: torch.Tensor  # (N,3) world
    normal: torch.Tensor  # (N,3) unit shading normal
    uv: torch.Tensor  # (N,2) v = 0 at the bottom of the texture
    ao: torch.Tensor  # (N,1) baked ambient occlusion, 1 = open
    view_dir: torch.Tensor  # (N,3) unit, surface -> camera
    coverage: torch.Tensor  # (N,) bool
    triangle: torch.Tensor  # (N,) int64, -1 where empty
    depth: torch.Tensor  # (N,) distance along the view axis
    barycentric: torch.Tensor  # (N,3) weights of the triangle's vertices
    pixel: torch.Tensor  # (N,) int64 flat pixel index

    def __len__(self) -> int:
        return int(self.pixel.shape[0])

    def to(self, device: torch.device | str) -> "SurfaceSamples":
        return SurfaceSamples(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


@dataclass(frozen=True)
class GBuffer:
    """Per-pixel geometry of one view (H,W,...); see the module docstring."""

    position: torch.Tensor  # (H,W,3) world position
    normal: torch.Tensor  # (H,W,3) unit shading normal (two-sided)
    uv: torch.Tensor  # (H,W,2) texture coordinates (zeros if the mesh has none)
    ao: torch.Tensor  # (H,W,1) interpolated vertex AO (1 if the mesh has none)
    view_dir: torch.Tensor  # (H,W,3) unit, surface -> camera (set on empty pixels too)
    coverage: torch.Tensor  # (H,W) bool
    triangle: torch.Tensor  # (H,W) int64 face index, -1 where empty
    depth: torch.Tensor  # (H,W) distance along the camera's view axis, 0 where empty
    barycentric: torch.Tensor  # (H,W,3) weights of the triangle's vertices, 0 where empty

    @property
    def height(self) -> int:
        return int(self.coverage.shape[0])

    @property
    def width(self) -> int:
        return int(self.coverage.shape[1])

    @property
    def device(self) -> torch.device:
        return self.coverage.device

    def to(self, device: torch.device | str) -> "GBuffer":
        return GBuffer(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def covered_indices(self) -> torch.Tensor:
        """Flat indices (K,) int64 of covered pixels: the pool fitting samples from."""
        return torch.nonzero(self.coverage.reshape(-1), as_tuple=False).reshape(-1)

    def sample_covered(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`count` flat indices (count,) drawn uniformly with replacement from
        covered pixels (empty if nothing is covered)."""
        pool = self.covered_indices()
        if pool.numel() == 0:
            return pool
        gen_device = generator.device if generator is not None else pool.device
        pick = torch.randint(pool.numel(), (count,), generator=generator, device=gen_device)
        return pool[pick.to(pool.device)]

    def gather(self, indices: torch.Tensor) -> SurfaceSamples:
        """Samples at flat pixel indices (N,) (row-major, v * W + u)."""
        idx = torch.as_tensor(indices, dtype=torch.int64, device=self.device).reshape(-1)

        def flat(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(self.height * self.width, *t.shape[2:])[idx]

        return SurfaceSamples(
            position=flat(self.position),
            normal=flat(self.normal),
            uv=flat(self.uv),
            ao=flat(self.ao),
            view_dir=flat(self.view_dir),
            coverage=flat(self.coverage),
            triangle=flat(self.triangle),
            depth=flat(self.depth),
            barycentric=flat(self.barycentric),
            pixel=idx,
        )


def pixel_directions(camera: "Camera", device: torch.device | str = "cpu") -> torch.Tensor:
    """Unit world-space ray directions (H,W,3) float64 through pixel centres,
    exactly as `Camera.pixel_rays` (ignores distortion)."""
    u = torch.arange(camera.width, dtype=torch.float64, device=device) + 0.5
    v = torch.arange(camera.height, dtype=torch.float64, device=device) + 0.5
    x = (u - camera.cx) / camera.fx  # (W,)
    y = -(v - camera.cy) / camera.fy  # (H,)
    rot = torch.as_tensor(camera.c2w[:3, :3], dtype=torch.float64, device=device)
    # Camera-space (x, y, -1) rotated to world, built row and column apart.
    d = (y[:, None] * rot[:, 1] - rot[:, 2])[:, None, :] + x[None, :, None] * rot[:, 0]  # (H,W,3)
    return d.div_(d.norm(dim=-1, keepdim=True))


def build_gbuffer(
    mesh: "Mesh",
    camera: "Camera",
    triangle: torch.Tensor,
    barycentric: torch.Tensor,
    depth: torch.Tensor,
    back_facing: torch.Tensor,
) -> GBuffer:
    """Interpolate the mesh's attributes at per-pixel hits into a GBuffer.

    triangle (H*W,) int64 per pixel, row-major (-1 = empty); for the K
    covered pixels in that order: barycentric (K,3) weights of the face's
    three vertices, depth (K,) along the view axis, back_facing (K,) bool
    (the geometric normal points away from the camera). All on one device;
    interpolation runs in float64 and is stored as float32.
    """
    device = triangle.device
    f32, f64 = torch.float32, torch.float64
    h, w = camera.height, camera.width
    hit = triangle >= 0
    tri = triangle[hit]
    b = barycentric.to(f64)  # (K,3)
    faces = torch.as_tensor(mesh.faces.astype("int64"), device=device)[tri]  # (K,3)

    def at_hits(values, dims: int) -> torch.Tensor:
        """Attribute (V,dims) interpolated at the hits (K,dims), float64."""
        a = torch.as_tensor(values, device=device).to(f64).reshape(-1, dims)
        out = a[faces[:, 0]] * b[:, 0:1]
        out.addcmul_(a[faces[:, 1]], b[:, 1:2])
        return out.addcmul_(a[faces[:, 2]], b[:, 2:3])

    def image(values: torch.Tensor | None, dims: int) -> torch.Tensor:
        out = torch.zeros((h * w, dims), dtype=f32, device=device)
        if values is not None:
            out[hit] = values.to(f32)
        return out.reshape(h, w, dims)

    normal = at_hits(mesh.normals, 3)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    normal = torch.where(back_facing[:, None], -normal, normal)
    ao = at_hits(mesh.ao, 1) if mesh.ao is not None else torch.ones((tri.numel(), 1), dtype=f64, device=device)
    depth_image = torch.zeros(h * w, dtype=f32, device=device)
    depth_image[hit] = depth.to(f32)
    return GBuffer(
        position=image(at_hits(mesh.vertices, 3), 3),
        normal=image(normal, 3),
        uv=image(at_hits(mesh.uv, 2) if mesh.uv is not None else None, 2),
        ao=image(ao, 1),
        view_dir=(-pixel_directions(camera, device)).to(f32),
        coverage=hit.reshape(h, w),
        triangle=torch.where(hit, triangle, torch.full_like(triangle, -1)).reshape(h, w),
        depth=depth_image.reshape(h, w),
        barycentric=image(b, 3),
    )
