// Punctual lights (KHR_lights_punctual): the GLSL mirror of renderer/lights.py,
// with shadow-map visibility (SHADOW_TAPS > 0) in place of the torch
// path's shadow rays. Needs brdf.glsl included first.

#ifndef MAX_LIGHTS
#define MAX_LIGHTS 8
#endif
#ifndef SHADOW_TAPS
#define SHADOW_TAPS 0
#endif

const int LIGHT_POINT = 0;
const int LIGHT_DIRECTIONAL = 1;
const int LIGHT_SPOT = 2;
const float SPOT_MIN_COS_DIFFERENCE = 0.001;  // renderer.lights.SPOT_MIN_COS_DIFFERENCE

uniform int u_light_count;
uniform int u_light_kind[MAX_LIGHTS];
uniform vec3 u_light_radiant[MAX_LIGHTS];    // color * intensity
uniform vec3 u_light_position[MAX_LIGHTS];
uniform vec3 u_light_direction[MAX_LIGHTS];  // unit, where the light points
uniform vec2 u_light_cone[MAX_LIGHTS];       // (cos inner, cos outer)

#if SHADOW_TAPS > 0
#include "shadows.glsl"
#endif

float spot_attenuation(float cos_angle, vec2 cones) {
    float scale = 1.0 / max(cones.x - cones.y, SPOT_MIN_COS_DIFFERENCE);
    float a = clamp(cos_angle * scale - cones.y * scale, 0.0, 1.0);
    return a * a;
}

// Direction to light k (unit) and irradiance on a plane facing it.
void light_incidence(int k, vec3 position, out vec3 l, out vec3 irradiance) {
    vec3 radiant = u_light_radiant[k];
    if (u_light_kind[k] == LIGHT_DIRECTIONAL) {
        l = -u_light_direction[k];
        irradiance = radiant;
        return;
    }
    vec3 to_light = u_light_position[k] - position;
    float dist2 = max(dot(to_light, to_light), 1e-12);
    l = to_light * inversesqrt(dist2);
    irradiance = radiant / dist2;
    if (u_light_kind[k] == LIGHT_SPOT) {
        irradiance *= spot_attenuation(-dot(l, u_light_direction[k]), u_light_cone[k]);
    }
}

// Sum over lights of f(n, v, l) * E * NdotL * visibility.
vec3 shade_lights(vec3 position, BrdfInputs s) {
    vec3 total = vec3(0.0);
    for (int k = 0; k < u_light_count; ++k) {
        vec3 l, irradiance;
        light_incidence(k, position, l, irradiance);
        float n_dot_l = clamp(dot(s.n, l), 0.0, 1.0);
        if (n_dot_l <= 0.0) continue;
#if SHADOW_TAPS > 0
        irradiance *= shadow_visibility(k, position, s.n, l);
#endif
        total += brdf_eval(s, l) * irradiance * n_dot_l;
    }
    return total;
}
