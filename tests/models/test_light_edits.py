"""Light-edit maths: dragging on the view plane, projection, picking a
light marker, environment rotation by drag; scene value names."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.camera import Camera
from models.light_edits import (
    add_light,
    aim_at,
    default_light,
    drag_on_view_plane,
    nearest_light,
    project_to_pixel,
    remove_light,
    rotation_after_drag,
    view_plane_point,
    wrap_degrees,
)
from models.lighting import Environment, Lighting, PunctualLight
from models.material import MaterialMaps
from models.mesh import Mesh
from models.scene import Scene
from models.scene_params import (
    BACKGROUND_BLUR,
    ENV_ROTATION,
    LIGHTS,
    MATERIAL_ROUGHNESS,
    get_value,
    light_name,
    part_of,
    with_value,
)


def camera() -> Camera:
    return Camera.look_at(np.array([1.0, 2.0, 5.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]), 320, 240, math.radians(50))


def test_drag_keeps_depth_and_follows_the_cursor() -> None:
    cam = camera()
    start = np.array([0.3, 0.5, -0.2])
    p0 = project_to_pixel(cam, start)
    target_px = (p0[0] + 40.0, p0[1] - 25.0)
    moved = drag_on_view_plane(cam, start, p0, target_px)
    # Same depth along the view, and it projects exactly under the cursor.
    assert (moved - start) @ cam.forward == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(project_to_pixel(cam, moved), target_px, atol=1e-6)
    # Grabbed off-centre: the offset between cursor and light is kept.
    grab = (p0[0] + 5.0, p0[1] + 3.0)
    moved2 = drag_on_view_plane(cam, start, grab, (grab[0] + 40.0, grab[1] - 25.0))
    np.testing.assert_allclose(moved2, moved, atol=1e-9)
    assert view_plane_point(cam, cam.position - cam.forward, p0) is None  # plane behind the camera


def test_projection_and_marker_picking() -> None:
    cam = camera()
    lights = (PunctualLight(position=(0.0, 0.0, 0.0)), PunctualLight(position=(1.0, 0.5, 0.0)))
    centre = project_to_pixel(cam, (0.0, 0.0, 0.0))
    assert centre == pytest.approx((160.0, 120.0), abs=1e-6)  # look_at target at the image centre
    assert nearest_light(cam, lights, (centre[0] + 3, centre[1] - 2)) == 0
    assert nearest_light(cam, lights, project_to_pixel(cam, lights[1].position)) == 1
    assert nearest_light(cam, lights, (5.0, 5.0)) is None
    assert project_to_pixel(cam, cam.position + cam.forward * -1.0) is None


def test_rotation_drag_wraps() -> None:
    assert rotation_after_drag(0.0, 80.0, 320.0) == pytest.approx(90.0)
    assert rotation_after_drag(170.0, 32.0, 320.0) == pytest.approx(-154.0)
    assert wrap_degrees(180.0) == 180.0 and wrap_degrees(-180.0) == 180.0 and wrap_degrees(540.0) == 180.0


def test_default_lights_aim_at_the_object() -> None:
    lighting = Lighting()
    for i, kind in enumerate(("point", "directional", "spot")):
        light = default_light(kind, center=(0.0, 1.0, 0.0), radius=0.5, index=i)
        to_centre = np.array([0.0, 1.0, 0.0]) - np.array(light.position)
        np.testing.assert_allclose(np.array(light.direction), to_centre / np.linalg.norm(to_centre), atol=1e-9)
        assert light.position[1] > 1.0 and light.intensity > 0 and light.kind == kind
        lighting = add_light(lighting, light)
    assert [l.kind for l in remove_light(lighting, 1).lights] == ["point", "spot"]
    with pytest.raises(ValueError):
        default_light("area")  # type: ignore[arg-type]
    cam = camera()
    for i in range(2):
        light = default_light("spot", center=(0.0, 0.0, 0.0), radius=1.0, index=i, camera=cam)
        x, y = project_to_pixel(cam, light.position)
        assert 0 <= x < cam.width and 0 <= y < cam.height / 2  # on screen, above the object
        assert (x > cam.width / 2) == (i == 0)  # alternating sides
    aimed = aim_at(PunctualLight(position=(0.0, 3.0, 0.0)), (0.0, 0.0, 0.0))
    assert aimed.direction == pytest.approx((0.0, -1.0, 0.0))


def test_scene_value_names_get_and_set_without_mutation() -> None:
    mesh = Mesh.from_arrays(np.zeros((3, 3), np.float32), np.array([[0, 1, 2]], np.int32))
    scene = Scene(mesh, MaterialMaps.constant(4), Lighting(Environment.uniform(1.0), (PunctualLight(),)))
    turned = with_value(scene, ENV_ROTATION, 45)
    assert get_value(turned, ENV_ROTATION) == 45.0 and get_value(scene, ENV_ROTATION) == 0.0
    assert turned.material is scene.material and turned.lighting.lights is scene.lighting.lights
    brighter = with_value(scene, light_name(0, "intensity"), 99)
    assert brighter.lighting.lights[0].intensity == 99.0 and scene.lighting.lights[0].intensity == 10.0
    assert get_value(with_value(scene, light_name(0, "color"), [1, 0, 0]), light_name(0, "color")) == (1.0, 0.0, 0.0)
    assert get_value(with_value(scene, BACKGROUND_BLUR, 0.3), BACKGROUND_BLUR) == 0.3
    assert get_value(scene, MATERIAL_ROUGHNESS) is scene.material.roughness
    assert [part_of(n) for n in (ENV_ROTATION, light_name(0, "position"), LIGHTS, MATERIAL_ROUGHNESS, BACKGROUND_BLUR)] == [
        "environment", "lights", "lights", "material", "display"]
    with pytest.raises(KeyError):
        get_value(scene, "lighting.sun")
    with pytest.raises(IndexError):
        with_value(scene, light_name(3, "intensity"), 1.0)
    with pytest.raises(KeyError):
        light_name(0, "wattage")
