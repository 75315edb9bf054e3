"""Material-edit maths: HSV round trips, adjustments, region selection by
material similarity within a UV chart, picking, exact restore."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

from models.material import MaterialMaps
from models.material_edits import (
    Adjustment,
    apply_adjustment,
    grow_into_padding,
    hsv_to_rgb,
    pick_surface,
    region_summary,
    rgb_to_hsv,
    select_region,
    texel_charts,
    uv_to_texel,
)
from models.mesh import Mesh
from models.scene_params import MATERIAL_ALBEDO, MATERIAL_METALLIC, MATERIAL_ROUGHNESS

R = 32
RED, BLUE = (0.8, 0.1, 0.05), (0.05, 0.1, 0.8)


def two_chart_plane() -> Mesh:
    """Two unit quads side by side in z = 0 (x in [0,1] and [1.2,2.2]), each
    its own UV chart: left quad -> u in [0.05,0.45], right -> [0.55,0.95],
    v in [0.05, 0.95]. Vertices are not shared between the quads."""
    v = []
    uv = []
    faces = []
    for q, (x0, u0) in enumerate([(0.0, 0.05), (1.2, 0.55)]):
        base = len(v)
        for y in (0.0, 1.0):
            for x in (0.0, 1.0):
                v.append((x0 + x, y, 0.0))
                uv.append((u0 + 0.4 * x, 0.05 + 0.9 * y))
        faces += [(base, base + 1, base + 3), (base, base + 3, base + 2)]
    return Mesh.from_arrays(np.array(v, np.float32), np.array(faces, np.int32), np.array(uv, np.float32))


def painted_maps() -> MaterialMaps:
    """Left chart: red rough (upper half of the texture), blue smooth metal
    (lower half); right chart: red rough everywhere (same material as the
    left's upper half); padding grey."""
    maps = MaterialMaps.constant(R, albedo=(0.5, 0.5, 0.5), roughness=0.5)
    albedo, rough, metal = maps.albedo, maps.roughness, maps.metallic
    albedo[:, :] = RED
    rough[:, :] = 0.8
    albedo[R // 2 :, : R // 2] = BLUE  # lower half of the texture (v < 0.5), left side
    rough[R // 2 :, : R // 2] = 0.2
    metal[R // 2 :, : R // 2] = 1.0
    noise = np.random.default_rng(0).normal(0, 0.005, albedo.shape).astype(np.float32)
    return MaterialMaps(np.clip(albedo + noise, 0, 1), rough, metal)


def test_hsv_matches_colorsys_and_round_trips() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.random((500, 3))
    rgb[:5] = [[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 0, 1]]
    hsv = rgb_to_hsv(rgb)
    expected = np.array([colorsys.rgb_to_hsv(*c) for c in rgb])
    np.testing.assert_allclose(hsv, expected, atol=1e-12)
    np.testing.assert_allclose(hsv_to_rgb(hsv), rgb, atol=1e-12)
    shifted = hsv.copy()
    shifted[:, 0] += 1.0  # a whole turn is no change
    np.testing.assert_allclose(hsv_to_rgb(shifted), rgb, atol=1e-12)


def test_hue_shift_and_back_round_trips() -> None:
    maps = painted_maps()
    there = apply_adjustment(maps, Adjustment(hue_shift=70.0))
    assert not np.allclose(there.albedo, maps.albedo, atol=1e-3)
    back = apply_adjustment(there, Adjustment(hue_shift=-70.0))
    np.testing.assert_allclose(back.albedo, maps.albedo, atol=2e-6)
    # Roughness and metallic were not touched: the very same arrays.
    assert there.roughness is maps.roughness and there.metallic is maps.metallic


def test_saturation_zero_gives_grey_and_value_scales() -> None:
    maps = painted_maps()
    grey = apply_adjustment(maps, Adjustment(saturation=0.0)).albedo
    np.testing.assert_allclose(grey[..., 0], grey[..., 1], atol=1e-6)
    np.testing.assert_allclose(grey[..., 1], grey[..., 2], atol=1e-6)
    darker = apply_adjustment(maps, Adjustment(value=0.5)).albedo
    assert (darker <= maps.albedo + 1e-7).all() and darker.mean() < 0.6 * maps.albedo.mean()


def test_scale_offset_and_set_values_are_clipped() -> None:
    maps = painted_maps()
    out = apply_adjustment(maps, Adjustment(roughness_scale=2.0, roughness_offset=-0.1, metallic=0.3, metallic_offset=0.9))
    np.testing.assert_allclose(out.roughness, np.clip(maps.roughness * 2 - 0.1, 0, 1), atol=1e-6)
    np.testing.assert_allclose(out.metallic, 1.0)
    assert out.albedo is maps.albedo
    assert Adjustment(roughness=0.2).touches() == {MATERIAL_ROUGHNESS}
    assert Adjustment(hue_shift=360.0).is_identity
    assert Adjustment(albedo=(1, 0, 0), metallic_scale=0.5).touches() == {MATERIAL_ALBEDO, MATERIAL_METALLIC}
    assert "hue shift 20" in Adjustment(hue_shift=20.0).describe()


def test_texel_charts_separate_the_quads() -> None:
    charts = texel_charts(two_chart_plane(), R)
    left, right = charts[R // 2, R // 4], charts[R // 2, 3 * R // 4]
    assert left >= 0 and right >= 0 and left != right
    assert charts[0, 0] == -1 and charts[R // 2, R // 2] == -1  # corner and the gap between charts
    assert set(np.unique(charts)) == {-1, left, right}


def test_region_select_picks_the_clicked_region_only() -> None:
    mesh, maps = two_chart_plane(), painted_maps()
    charts = texel_charts(mesh, R)
    # Click the upper half of the left quad: world (0.5, 0.75) -> red region.
    hit = pick_surface(mesh, np.array([0.5, 0.75, 3.0]), np.array([0.0, 0.0, -1.0]))
    assert hit is not None and hit.face in (0, 1)
    np.testing.assert_allclose(hit.point, [0.5, 0.75, 0.0], atol=1e-9)
    np.testing.assert_allclose(hit.uv, [0.05 + 0.2, 0.05 + 0.9 * 0.75], atol=1e-9)
    seed = uv_to_texel(hit.uv, maps.resolution)
    region = select_region(maps, seed, tolerance=0.1, charts=charts)
    red_left = (charts == charts[seed]) & (np.arange(R)[:, None] < R // 2)
    assert region[seed]
    assert (region == red_left).all()  # all of the red texels of the left chart, nothing else
    blue = (charts == charts[seed]) & (np.arange(R)[:, None] >= R // 2)
    assert not (region & blue).any()
    assert not (region & (charts != charts[seed])).any()  # same material, other chart: not selected
    # Without charts the fill runs into the padding and the right quad.
    loose = select_region(maps, seed, tolerance=0.1)
    assert loose.sum() > region.sum()
    # A tolerance above the red/blue difference takes the blue region too.
    assert (select_region(maps, seed, tolerance=1.0, charts=charts) == (charts == charts[seed])).all()


def test_region_edit_changes_only_the_region_and_restores_exactly() -> None:
    mesh, maps = two_chart_plane(), painted_maps()
    charts = texel_charts(mesh, R)
    before = [maps.albedo.copy(), maps.roughness.copy(), maps.metallic.copy()]
    region = select_region(maps, (R // 4, R // 4), 0.1, charts)
    edited = apply_adjustment(maps, Adjustment(albedo=(0.1, 0.9, 0.1), roughness=0.05), region)
    np.testing.assert_allclose(edited.albedo[region], np.broadcast_to([0.1, 0.9, 0.1], (int(region.sum()), 3)), atol=1e-7)
    assert (edited.roughness[region] == np.float32(0.05)).all()
    outside = ~region
    assert np.array_equal(edited.albedo[outside], maps.albedo[outside])
    assert np.array_equal(edited.roughness[outside], maps.roughness[outside])
    assert edited.metallic is maps.metallic
    # The original maps were never written: keeping them is an exact undo.
    for a, b in zip(before, (maps.albedo, maps.roughness, maps.metallic)):
        assert np.array_equal(a, b)
    summary = region_summary(edited, region)
    assert summary["texels"] == int(region.sum()) and summary["roughness"] == pytest.approx(0.05)


def test_grow_into_padding_stays_out_of_other_charts() -> None:
    mesh = two_chart_plane()
    charts = texel_charts(mesh, R)
    region = charts == charts[R // 2, R // 4]
    grown = grow_into_padding(region, charts, texels=2)
    assert grown.sum() > region.sum()
    assert not (grown & (charts >= 0) & ~region).any()


def test_pick_misses_and_mask_shape_errors() -> None:
    mesh, maps = two_chart_plane(), painted_maps()
    assert pick_surface(mesh, np.array([5.0, 5.0, 3.0]), np.array([0.0, 0.0, -1.0])) is None
    with pytest.raises(ValueError):
        apply_adjustment(maps, Adjustment(value=0.5), np.ones((3, 3), bool))
    with pytest.raises(ValueError):
        select_region(maps, (R, 0))
    assert apply_adjustment(maps, Adjustment(value=0.5), np.zeros(maps.resolution, bool)) is maps
