// What is drawn behind the object: the environment (sharp, or blurred by
// reading a rougher level of the prefiltered stack) or a solid colour.
// Transparent backgrounds draw nothing (the clear leaves alpha 0).
//
// Variants (defines; programs.BackgroundVariant): BACKGROUND_MODE,
// BACKGROUND_BLURRED, VIEW_TRANSFORM, LINEAR_OUTPUT.

#define BACKGROUND_ENVIRONMENT 0
#define BACKGROUND_COLOR 1
#ifndef BACKGROUND_MODE
#define BACKGROUND_MODE BACKGROUND_ENVIRONMENT
#endif
#ifndef BACKGROUND_BLURRED
#define BACKGROUND_BLURRED 0
#endif
#ifndef VIEW_TRANSFORM
#define VIEW_TRANSFORM 0
#endif
#ifndef LINEAR_OUTPUT
#define LINEAR_OUTPUT 0
#endif

#include "common/fullscreen.glsl"

#if defined VERTEX_SHADER
void main() {
    fullscreen_vertex();
}
#endif

#if defined FRAGMENT_SHADER

#include "common/environment.glsl"
#include "common/display.glsl"

uniform vec4 u_ndc_to_ray;
uniform mat3 u_camera_rotation;
uniform vec3 u_color;            // linear; shown as-is (sRGB encoded, no exposure or tone curve)
uniform float u_blur;            // roughness of the stack level shown when blurred

uniform sampler2D u_env_radiance;
uniform sampler3D u_env_specular;
uniform mat3 u_env_rotation;
uniform float u_env_scale;
uniform float u_env_levels;
uniform float u_exposure_ev;

out vec4 frag_color;

void main() {
#if BACKGROUND_MODE == BACKGROUND_COLOR
    vec3 value = u_color;
#if !LINEAR_OUTPUT
    value = encode_srgb(clamp(value, 0.0, 1.0));
#endif
#else
    vec3 d = u_env_rotation * camera_ray(u_ndc_to_ray, u_camera_rotation);
#if BACKGROUND_BLURRED
    vec3 value = sample_specular(u_env_specular, d, u_blur, u_env_levels) * u_env_scale;
#else
    vec3 value = sample_equirect(u_env_radiance, d) * u_env_scale;
#endif
#if !LINEAR_OUTPUT
    value = display_radiance(value, u_exposure_ev, VIEW_TRANSFORM);
#endif
#endif
    frag_color = vec4(value, 1.0);
}

#endif
