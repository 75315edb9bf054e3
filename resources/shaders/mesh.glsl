// The object: the GLSL mirror of renderer/shade.py (one shading model, every
// debug channel), then the display transform unless linear output.
//
// Variants (defines, compiled once each; see programs.MeshVariant): CHANNEL
// (which buffer), SHADOW_TAPS (PCF taps per side, 0: no shadow maps), VIEW_TRANSFORM,
// LINEAR_OUTPUT, LOBE_SAMPLES, VISIBILITY (the mesh's specular visibility
// maps weight the lobe samples, or with the single lookup dim it by the
// lobe's open share over VISIBILITY_SAMPLES directions, as torch does),
// BOUNCE (with VISIBILITY: the object's own light, renderer/interreflection.py).
// Software GL runs every branch of an if for every pixel, so choices that
// are the same for a whole frame are made here, not at run time.

#define CHANNEL_SHADED 0
#define CHANNEL_ALBEDO 1
#define CHANNEL_ROUGHNESS 2
#define CHANNEL_METALLIC 3
#define CHANNEL_NORMAL 4
#define CHANNEL_AO 5

#ifndef CHANNEL
#define CHANNEL CHANNEL_SHADED
#endif
#ifndef LINEAR_OUTPUT
#define LINEAR_OUTPUT 0
#endif
#ifndef VIEW_TRANSFORM
#define VIEW_TRANSFORM 0
#endif
#ifndef VISIBILITY
#define VISIBILITY 0
#endif
#ifndef BOUNCE
#define BOUNCE 0
#endif

#if defined VERTEX_SHADER

in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in float in_ao;

uniform mat4 u_view_proj;

out vec3 v_position;
out vec3 v_normal;
out vec2 v_uv;
out float v_ao;

invariant gl_Position;  // the depth pre-pass (shadow_depth.glsl) must match exactly

void main() {
    v_position = in_position;
    v_normal = in_normal;
    v_uv = in_uv;
    v_ao = in_ao;
    gl_Position = u_view_proj * vec4(in_position, 1.0);
}

#endif

#if defined FRAGMENT_SHADER

#include "common/brdf.glsl"
#include "common/environment.glsl"
#include "common/visibility.glsl"
#include "common/specular_lobe.glsl"
#include "common/lights.glsl"
#include "common/display.glsl"

in vec3 v_position;
in vec3 v_normal;
in vec2 v_uv;
in float v_ao;

uniform vec3 u_camera_position;
uniform float u_exposure_ev;

uniform sampler2D u_albedo;      // row 0 = top of the image: sample at t = 1 - v
uniform sampler2D u_roughness;
uniform sampler2D u_metallic;

uniform sampler3D u_env_specular;
uniform sampler2D u_env_irradiance;
uniform mat3 u_env_rotation;     // R_y(-rotation): world -> environment frame
uniform float u_env_scale;       // strength * 2^exposure; 0 without an environment
uniform float u_env_levels;

out vec4 frag_color;

// Lagarde & de Rousiers' specular occlusion (renderer.shade.specular_occlusion).
float specular_occlusion(float n_dot_v, float ao, float alpha) {
    return clamp(pow(n_dot_v + ao, exp2(-16.0 * alpha - 1.0)) - 1.0 + ao, 0.0, 1.0);
}

// Lagarde's specular dominant direction (renderer.shade.dominant_direction):
// the reflection vector pulled towards n as the lobe widens.
vec3 dominant_direction(vec3 n, vec3 reflected, float alpha) {
    float smooth_ = 1.0 - alpha;
    vec3 d = mix(n, reflected, smooth_ * (sqrt(smooth_) + alpha));
    return d / max(length(d), 1e-12);
}

// renderer.shade.shade_environment: split-sum energy with the lobe's radiance
// sampled (common/specular_lobe.glsl) + irradiance diffuse. With visibility
// maps the lobe's samples are weighted by them instead of AO's guess, and
// with BOUNCE the directions they block bring the object's own light.
vec3 shade_environment(BrdfInputs s, float ao, VisibilityCorners corners) {
    float n_dot_v_raw = dot(s.n, s.v);
    vec3 reflected = dominant_direction(s.n, 2.0 * n_dot_v_raw * s.n - s.v, s.alpha);
    vec3 prefiltered = sample_specular(u_env_specular, u_env_rotation * reflected, s.roughness, u_env_levels);
#if LOBE_SAMPLES > 0
    prefiltered = specular_lobe_radiance(u_env_specular, u_env_rotation, u_env_levels,
                                         s.n, s.v, s.roughness, prefiltered, corners);
#elif VISIBILITY
    vec4 lobe = specular_lobe_visibility(s.n, s.v, s.roughness, corners);  // open share, bounce light
    prefiltered = prefiltered * lobe.x + lobe.yzw;
#endif
    vec3 irradiance = max(sample_equirect(u_env_irradiance, u_env_rotation * s.n) * ao + bounce_irradiance_at(corners), 0.0);
    vec3 specular = prefiltered * u_env_scale * (s.f0 * s.dfg_v.x + s.dfg_v.y);
    vec3 diffuse = irradiance * u_env_scale * s.albedo * (1.0 - s.metallic) * (1.0 - s.albedo_v);
#if !VISIBILITY
    specular *= specular_occlusion(s.n_dot_v, ao, s.alpha);
#endif
    return diffuse + specular;
}

void main() {
    vec2 t = vec2(v_uv.x, 1.0 - v_uv.y);
    // Two-sided: a triangle seen from its back is shaded like its front.
    vec3 n = normalize(v_normal) * (gl_FrontFacing ? 1.0 : -1.0);
    vec3 value;
#if CHANNEL == CHANNEL_SHADED
    vec3 v = normalize(u_camera_position - v_position);
    BrdfInputs s = brdf_inputs(n, v, texture(u_albedo, t).rgb, texture(u_roughness, t).r, texture(u_metallic, t).r);
    value = shade_environment(s, v_ao, visibility_corners(gl_PrimitiveID, v_position)) + shade_lights(v_position, s);
#if !LINEAR_OUTPUT
    value = display_radiance(value, u_exposure_ev, VIEW_TRANSFORM);
#endif
#elif CHANNEL == CHANNEL_ALBEDO
    value = texture(u_albedo, t).rgb;
#if !LINEAR_OUTPUT
    value = encode_srgb(clamp(value, 0.0, 1.0));
#endif
#elif CHANNEL == CHANNEL_ROUGHNESS
    value = vec3(texture(u_roughness, t).r);
#elif CHANNEL == CHANNEL_METALLIC
    value = vec3(texture(u_metallic, t).r);
#elif CHANNEL == CHANNEL_NORMAL
    value = LINEAR_OUTPUT != 0 ? n : n * 0.5 + 0.5;
#else
    value = vec3(v_ao);
#endif
    frag_color = vec4(value, 1.0);
}

#endif
