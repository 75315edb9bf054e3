// Shadow-map visibility. Light k owns row k of one depth atlas: a spot or
// directional light its first tile (a world -> clip matrix), a point light
// six tiles, faces +X -X +Y -Y +Z -Z (renderer/gl/shadows.py POINT_FACES),
// chosen by the major axis of the light-to-point vector and projected here
// without a matrix. PCF through hardware depth comparison (LINEAR
// sampler2DShadow = 2x2 bilinear PCF per tap): SHADOW_TAPS^2 taps one texel
// apart, centred (2 x 2 taps cover a 3 x 3 texel tent). Included by
// lights.glsl after the light uniforms.

uniform sampler2DShadow u_shadow_atlas;
uniform bool u_shadow_enabled[MAX_LIGHTS];
uniform mat4 u_shadow_matrix[MAX_LIGHTS];     // spot, directional: world -> light clip
uniform vec2 u_shadow_depth[MAX_LIGHTS];      // point: (near, far) of the face frusta
uniform vec4 u_shadow_tile[MAX_LIGHTS];       // first tile in atlas uv: (x0, y0, width, height)
uniform vec2 u_shadow_texel_world[MAX_LIGHTS]; // texel size: constant + per unit distance
uniform vec2 u_shadow_atlas_texel;            // 1 / atlas size

// Point light: the face (0..5) and its (s, t, NDC depth) for offset d = p - light.
vec4 point_face(vec3 d, vec2 depth_range) {
    vec3 a = abs(d);
    float face, ma;
    vec2 xy;
    if (a.x >= a.y && a.x >= a.z) {
        face = d.x >= 0.0 ? 0.0 : 1.0;
        ma = a.x;
        xy = vec2(d.x >= 0.0 ? d.z : -d.z, d.y);
    } else if (a.y >= a.z) {
        face = d.y >= 0.0 ? 2.0 : 3.0;
        ma = a.y;
        xy = vec2(d.y >= 0.0 ? d.x : -d.x, d.z);
    } else {
        face = d.z >= 0.0 ? 4.0 : 5.0;
        ma = a.z;
        xy = vec2(d.z >= 0.0 ? -d.x : d.x, d.y);
    }
    float n = depth_range.x, f = depth_range.y;
    float z = (f + n) / (f - n) - 2.0 * f * n / ((f - n) * ma);
    return vec4(face, clamp(xy / ma * 0.5 + 0.5, 0.0, 1.0), z * 0.5 + 0.5);
}

float shadow_visibility(int k, vec3 position, vec3 n, vec3 l) {
    if (!u_shadow_enabled[k]) return 1.0;
    vec3 from_light = position - u_light_position[k];
    // Normal offset, scaled by the world size of a shadow texel here.
    bool directional = u_light_kind[k] == LIGHT_DIRECTIONAL;
    float texel = u_shadow_texel_world[k].x + u_shadow_texel_world[k].y * (directional ? 0.0 : length(from_light));
    vec3 facing_n = dot(n, l) >= 0.0 ? n : -n;
    float cos_nl = dot(facing_n, l);
    vec3 p = position + facing_n * texel * (1.0 + 1.5 * sqrt(max(1.0 - cos_nl * cos_nl, 0.0)));

    vec4 tile = u_shadow_tile[k];
    vec3 s;
    if (u_light_kind[k] == LIGHT_POINT) {
        vec4 face = point_face(p - u_light_position[k], u_shadow_depth[k]);
        tile.x += face.x * tile.z;
        s = face.yzw;
    } else {
        vec4 clip = u_shadow_matrix[k] * vec4(p, 1.0);
        if (clip.w <= 0.0) return 1.0;  // behind a spot light
        s = clip.xyz / clip.w * 0.5 + 0.5;
        if (any(lessThan(s.xy, vec2(0.0))) || any(greaterThan(s.xy, vec2(1.0)))) return 1.0;
    }
    if (s.z > 1.0) return 1.0;
    vec2 lo = tile.xy + 0.5 * u_shadow_atlas_texel;
    vec2 hi = tile.xy + tile.zw - 0.5 * u_shadow_atlas_texel;
    vec2 uv = tile.xy + s.xy * tile.zw;
    float lit = 0.0;
    const float centre = 0.5 * float(SHADOW_TAPS - 1);
    for (int y = 0; y < SHADOW_TAPS; ++y) {
        for (int x = 0; x < SHADOW_TAPS; ++x) {
            vec2 at = clamp(uv + (vec2(x, y) - centre) * u_shadow_atlas_texel, lo, hi);
            lit += texture(u_shadow_atlas, vec3(at, s.z));
        }
    }
    return lit / float(SHADOW_TAPS * SHADOW_TAPS);
}
