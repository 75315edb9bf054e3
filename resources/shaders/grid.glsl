// A reference grid on the ground plane dot(p, u_up) = u_height, drawn per
// pixel by intersecting camera rays with the plane (no geometry, no ground
// shading), depth-tested against the object and faded with distance. Lines
// run along u_axis_u and u_axis_v (an orthonormal basis of the plane); the
// two through the origin are coloured.

#include "common/fullscreen.glsl"

#if defined VERTEX_SHADER
void main() {
    fullscreen_vertex();
}
#endif

#if defined FRAGMENT_SHADER

uniform vec4 u_ndc_to_ray;
uniform mat3 u_camera_rotation;
uniform vec3 u_camera_position;
uniform mat4 u_view_proj;
uniform vec3 u_up;               // unit world up: the plane's normal
uniform vec3 u_axis_u;           // in-plane basis (the "x" line is coloured u_x_axis_color)
uniform vec3 u_axis_v;
uniform float u_height;
uniform float u_cell;            // minor line spacing; major lines every 10 cells
uniform float u_extent;          // fade-out distance from the camera (world units)
uniform vec3 u_line_color;
uniform vec3 u_x_axis_color;
uniform vec3 u_z_axis_color;

out vec4 frag_color;

// Anti-aliased lines at integer coordinates, faded out where cells shrink
// below a few pixels (so distant lines do not merge into a grey sheet).
float line_mask(vec2 coord) {
    vec2 w = max(fwidth(coord), 1e-6);
    vec2 g = abs(fract(coord - 0.5) - 0.5) / w;
    float lod = 1.0 - smoothstep(0.12, 0.35, max(w.x, w.y));
    return (1.0 - min(min(g.x, g.y), 1.0)) * lod;
}

void main() {
    vec3 d = camera_ray(u_ndc_to_ray, u_camera_rotation);
    float d_up = dot(d, u_up);
    float t = (u_height - dot(u_camera_position, u_up)) / d_up;
    if (!(t > 0.0)) discard;
    vec3 p = u_camera_position + t * d;
    vec4 clip = u_view_proj * vec4(p, 1.0);
    float depth = clip.z / clip.w * 0.5 + 0.5;
    if (depth < 0.0 || depth > 1.0) discard;

    vec2 q = vec2(dot(p, u_axis_u), dot(p, u_axis_v));   // plane coordinates
    float minor = line_mask(q / u_cell);
    float major = line_mask(q / (10.0 * u_cell));
    vec2 axis_w = max(fwidth(q), 1e-6);
    float v_axis = 1.0 - min(abs(q.x) / axis_w.x, 1.0);  // the line q.x = 0 runs along u_axis_v
    float u_axis = 1.0 - min(abs(q.y) / axis_w.y, 1.0);  // the line q.y = 0 runs along u_axis_u
    vec3 offset = p - u_camera_position;
    float fade = 1.0 - smoothstep(0.3 * u_extent, u_extent, length(offset - dot(offset, u_up) * u_up));
    // Grazing angles: fade lines out before they alias into a solid sheet.
    fade *= smoothstep(0.0, 0.15, abs(d_up));

    vec3 color = u_line_color;
    float alpha = max(0.35 * minor, 0.7 * major);
    if (u_axis > 0.0) { color = u_x_axis_color; alpha = max(alpha, u_axis); }
    if (v_axis > 0.0) { color = u_z_axis_color; alpha = max(alpha, v_axis); }
    alpha *= fade;
    if (alpha <= 0.002) discard;
    gl_FragDepth = depth;
    frag_color = vec4(color, alpha);
}

#endif
