// glTF 2.0 metallic-roughness BRDF with energy-conserving diffuse coupling:
// the GLSL mirror of renderer/brdf.py. Same constants, same clamps, same
// table lookups, term for term. Change one side, change the other.
//
// The tables are computed in Python (renderer.envmap.dfg_table and
// renderer.brdf.dielectric_albedo_average) and uploaded unchanged.

const float PI = 3.14159265358979323846;
const float MIN_ROUGHNESS = 0.03;   // renderer.brdf.MIN_ROUGHNESS
const float DIELECTRIC_F0 = 0.04;   // renderer.brdf.DIELECTRIC_F0
const float NDOTV_MIN = 1e-4;       // renderer.brdf.NDOTV_MIN

uniform sampler2D u_dfg;                     // (A, B): x = NdotV, y = roughness
uniform sampler2D u_dielectric_albedo_avg;   // S x 1: E_avg over roughness

float alpha_from_roughness(float roughness) {
    float r = clamp(roughness, MIN_ROUGHNESS, 1.0);
    return r * r;
}

// GGX D in Filament's form: sin2_nh = |n x h|^2 avoids float32 cancellation.
float ggx_d(float n_dot_h, float alpha, float sin2_nh) {
    float a2 = alpha * alpha;
    float t = sin2_nh + n_dot_h * n_dot_h * a2;
    return a2 / (PI * t * t);
}

float smith_v_height_correlated(float n_dot_v, float n_dot_l, float alpha) {
    float a2 = alpha * alpha;
    float gv = n_dot_l * sqrt(n_dot_v * n_dot_v * (1.0 - a2) + a2);
    float gl = n_dot_v * sqrt(n_dot_l * n_dot_l * (1.0 - a2) + a2);
    return 0.5 / (gv + gl);
}

vec3 fresnel_schlick(vec3 f0, float v_dot_h) {
    return f0 + (1.0 - f0) * pow(1.0 - v_dot_h, 5.0);
}

vec3 specular_f0(vec3 albedo, float metallic) {
    return DIELECTRIC_F0 + (albedo - DIELECTRIC_F0) * metallic;
}

// Split-sum environment BRDF (A, B): texture(dfg, vec2(NdotV, roughness)).
vec2 sample_dfg(float n_dot_v, float roughness) {
    return textureLod(u_dfg, vec2(n_dot_v, roughness), 0.0).rg;
}

// E(mu) = 0.04 A + B: directional albedo of the dielectric specular layer.
float dielectric_albedo(float n_dot, float roughness) {
    vec2 ab = sample_dfg(n_dot, roughness);
    return DIELECTRIC_F0 * ab.x + ab.y;
}

float dielectric_albedo_average(float roughness) {
    return textureLod(u_dielectric_albedo_avg, vec2(roughness, 0.5), 0.0).r;
}

// Per-pixel terms every light shares (n, v and the material do not change
// from one light to the next), so the light loop only looks up E(NdotL).
struct BrdfInputs {
    vec3 n;
    vec3 v;
    vec3 albedo;
    float roughness;
    float metallic;
    float n_dot_v;       // clamped to NDOTV_MIN
    float alpha;
    vec3 f0;
    vec2 dfg_v;          // (A, B) at (NdotV, roughness): also the split-sum term
    float albedo_v;      // E(NdotV)
    float albedo_avg;    // E_avg(roughness)
};

BrdfInputs brdf_inputs(vec3 n, vec3 v, vec3 albedo, float roughness, float metallic) {
    BrdfInputs s;
    s.n = n;
    s.v = v;
    s.albedo = albedo;
    s.roughness = roughness;
    s.metallic = metallic;
    s.n_dot_v = max(dot(n, v), NDOTV_MIN);
    s.alpha = alpha_from_roughness(roughness);
    s.f0 = specular_f0(albedo, metallic);
    s.dfg_v = sample_dfg(s.n_dot_v, roughness);
    s.albedo_v = DIELECTRIC_F0 * s.dfg_v.x + s.dfg_v.y;
    s.albedo_avg = dielectric_albedo_average(roughness);
    return s;
}

// The BRDF value f without the NdotL cosine (renderer.brdf.brdf_terms,
// diffuse + specular); zero below the surface.
vec3 brdf_eval(BrdfInputs s, vec3 l) {
    float n_dot_l = clamp(dot(s.n, l), 0.0, 1.0);
    if (!(n_dot_l > 0.0)) return vec3(0.0);
    vec3 hv = s.v + l;
    vec3 h = hv / max(length(hv), 1e-12);
    float n_dot_h = clamp(dot(s.n, h), 0.0, 1.0);
    float v_dot_h = clamp(dot(s.v, h), 0.0, 1.0);

    float albedo_l = dielectric_albedo(n_dot_l, s.roughness);
    float coupling = (1.0 - s.albedo_v) * (1.0 - albedo_l) / (1.0 - s.albedo_avg);
    vec3 diffuse = (1.0 - s.metallic) * s.albedo / PI * coupling;
    vec3 fresnel = fresnel_schlick(s.f0, v_dot_h);
    vec3 n_cross_h = cross(s.n, h);
    float distribution = ggx_d(n_dot_h, s.alpha, dot(n_cross_h, n_cross_h));
    vec3 specular = fresnel * distribution * smith_v_height_correlated(s.n_dot_v, n_dot_l, s.alpha);
    return diffuse + specular;
}
