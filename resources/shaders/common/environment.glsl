// Environment lookups: the GLSL mirror of renderer/envmap.py's lookups.
// Tables (DFG, prefiltered specular stack, irradiance) are computed in Python
// by renderer.envmap and uploaded unchanged; nothing here recomputes them.
// Convention (models/lighting.py): u = 0.5 + atan(x, -z) / 2pi, v = acos(y) / pi,
// row 0 (t = 0) is the top of the map (+Y).

const float ENV_PI = 3.14159265358979323846;

vec2 direction_to_uv(vec3 d) {
    float xz2 = d.x * d.x + d.z * d.z;
    bool off_axis = xz2 > 1e-20;
    float u = 0.5 + atan(off_axis ? d.x : 0.0, off_axis ? -d.z : 1.0) / (2.0 * ENV_PI);
    float v = atan(sqrt(max(xz2, 1e-20)), d.y) / ENV_PI;
    return vec2(u, v);
}

// Equirect 2D lookup (radiance or irradiance map): REPEAT on u, CLAMP on v.
vec3 sample_equirect(sampler2D map, vec3 d) {
    return textureLod(map, direction_to_uv(d), 0.0).rgb;
}

// Trilinear lookup in the prefiltered stack; level k holds roughness k / (L - 1).
vec3 sample_specular(sampler3D stack, vec3 d, float roughness, float levels) {
    float w = (clamp(roughness, 0.0, 1.0) * (levels - 1.0) + 0.5) / levels;
    return textureLod(stack, vec3(direction_to_uv(d), w), 0.0).rgb;
}
