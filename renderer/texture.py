"""UV texture lookups in torch (material maps).

GLSL MIRROR: equals GL texture(sampler2D, uv) with LINEAR filtering and
CLAMP_TO_EDGE on an image uploaded with its rows flipped (so the image's
bottom row sits at t = 0). Material maps store row 0 at the top (v = 1) and
meshes have v = 0 at the bottom, so the lookup row coordinate is t = 1 - v.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def sample_texture(texture: Tensor, uv: Tensor) -> Tensor:
    """Bilinear lookup with texel centres and clamp-to-edge.

    texture (H,W,C), row 0 = top of the image (v = 1); uv (N,2) mesh UVs
    (v = 0 at the bottom). Returns (N,C). Differentiable w.r.t. texels and uv.
    """
    u, v = uv.unbind(-1)
    # grid_sample: x = -1 is the left edge of column 0, y = -1 the top edge of row 0.
    grid = torch.stack([u * 2.0 - 1.0, 1.0 - v * 2.0], -1)[None, None]  # (1,1,N,2)
    image = texture.permute(2, 0, 1)[None]  # (1,C,H,W)
    out = F.grid_sample(image, grid.to(texture.dtype), mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].T
