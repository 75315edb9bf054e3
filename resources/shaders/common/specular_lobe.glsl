// The specular lobe, sampled: the GLSL mirror of renderer/specular_lobe.py's
// lobe_samples, lobe_radiance, lobe_visibility and lobe_bounce with the fixed sample sets
// (see there for why and how).
// LOBE_SAMPLE_BLUR is a define made from that module's SAMPLE_BLUR;
// LOBE_SAMPLES and LOBE_DISK_POINTS (the sample set's constant disk points,
// renderer.specular_lobe.disk_points), VISIBILITY_SAMPLES and
// VISIBILITY_DISK_POINTS (the set lobe_visibility averages over) are
// programs.MeshVariant's.
// Needs common/brdf.glsl, common/environment.glsl and common/visibility.glsl.

#if LOBE_SAMPLES > 0 || (VISIBILITY && LOBE_SAMPLES == 0)

// What every sample of one lobe shares: renderer.specular_lobe.lobe_samples
// in the frame (t, b, n) of tangent_frame, where v = (sin_v, 0, cos_v).
struct Lobe {
    vec3 t, b, n;
    float alpha, a2, cos_v, sin_v, vh_x, vh_z, blend, lambda_v, g1_v;
};

// Tangent t (v's part along the surface; Duff et al. 2017's frame when v is
// along n) and b = n x t: renderer.specular_lobe.tangent_frame.
void lobe_tangent_frame(vec3 n, vec3 v, out vec3 t, out vec3 b) {
    float sign_ = n.z >= 0.0 ? 1.0 : -1.0;
    float a = -1.0 / (sign_ + n.z);
    float bb = n.x * n.y * a;
    t = vec3(1.0 + sign_ * n.x * n.x * a, sign_ * bb, -sign_ * n.x);
    vec3 along_v = v - dot(n, v) * n;
    float len2 = dot(along_v, along_v);
    if (len2 > 1e-12) t = along_v * inversesqrt(len2);
    b = cross(n, t);
}

Lobe make_lobe(vec3 n, vec3 v, float roughness) {
    Lobe f;
    f.n = n;
    f.alpha = alpha_from_roughness(roughness);
    f.a2 = f.alpha * f.alpha;
    lobe_tangent_frame(n, v, f.t, f.b);
    f.cos_v = max(dot(v, n), NDOTV_MIN);
    f.sin_v = max(dot(v, f.t), 0.0);
    float stretched = f.alpha * f.sin_v;
    float inv = inversesqrt(stretched * stretched + f.cos_v * f.cos_v);
    f.vh_x = stretched * inv;
    f.vh_z = f.cos_v * inv;
    f.blend = 0.5 * (1.0 + f.vh_z);
    f.lambda_v = sqrt(f.a2 + (1.0 - f.a2) * f.cos_v * f.cos_v);
    f.g1_v = 2.0 * f.cos_v / (f.cos_v + f.lambda_v);
    return f;
}

// The sample of disk point `disk`: its world direction d, weight G2 / G1
// and |m|^2 before normalising (which sets its blur); false below the horizon.
bool lobe_sample(Lobe f, vec2 disk, out vec3 d, out float weight, out float stretch2) {
    float p1 = disk.x;
    float p2 = (1.0 - f.blend) * sqrt(max(1.0 - p1 * p1, 0.0)) + f.blend * disk.y;
    float p3 = sqrt(max(1.0 - p1 * p1 - p2 * p2, 0.0));
    float h_z = max(p2 * f.vh_x + p3 * f.vh_z, 0.0);
    vec3 m = vec3(f.alpha * (p3 * f.vh_x - p2 * f.vh_z), f.alpha * p1, h_z);
    stretch2 = dot(m, m);
    m *= inversesqrt(max(stretch2, 1e-20));
    float two_v_dot_m = 2.0 * (f.sin_v * m.x + f.cos_v * m.z);
    vec3 l = two_v_dot_m * m - vec3(f.sin_v, 0.0, f.cos_v);
    d = l.x * f.t + l.y * f.b + l.z * f.n;
    weight = 0.0;
    if (l.z <= 0.0) return false;
    float lambda_l = sqrt(f.a2 + (1.0 - f.a2) * l.z * l.z);
    float g2 = 2.0 * l.z * f.cos_v / max(l.z * f.lambda_v + f.cos_v * lambda_l, 1e-12);
    weight = g2 / f.g1_v;
    return true;
}

#endif

#if LOBE_SAMPLES > 0

// Radiance averaged over the GGX lobe of (n, v, roughness), each sample
// weighted by the visibility in its direction (1 without maps); `fallback`
// where no sample lies above the horizon.
const vec2 LOBE_DISK[LOBE_SAMPLES] = LOBE_DISK_POINTS;

vec3 specular_lobe_radiance(sampler3D stack, mat3 env_rotation, float levels,
                            vec3 n, vec3 v, float roughness, vec3 fallback,
                            VisibilityCorners corners) {
    Lobe f = make_lobe(n, v, roughness);
    float blur_scale = LOBE_SAMPLE_BLUR * f.alpha * sqrt(f.cos_v / (float(LOBE_SAMPLES) * f.g1_v));
    float max_blur = clamp(roughness, 0.0, 1.0);
    vec3 sum = vec3(0.0);
    float total = 0.0;
    for (int k = 0; k < LOBE_SAMPLES; ++k) {
        vec3 d;
        float weight, stretch2;
        if (!lobe_sample(f, LOBE_DISK[k], d, weight, stretch2)) continue;
        float blur = min(sqrt(clamp(blur_scale / max(stretch2, 1e-20), 0.0, 1.0)), max_blur);
        vec4 lit = visibility_light_at(corners, d);  // open share, the object's own light
        sum += weight * (lit.x * sample_specular(stack, env_rotation * d, blur, levels) + lit.yzw);
        total += weight;
    }
    return total > 1e-6 ? sum / max(total, 1e-12) : fallback;
}

#elif VISIBILITY

// The share of the lobe the visibility maps leave open, over
// VISIBILITY_SAMPLES directions (x), and the object's own light averaged
// over them (yzw, 0 without BOUNCE): renderer.specular_lobe.lobe_visibility
// and lobe_bounce, what the single-lookup split sum is dimmed by and adds.
const vec2 VISIBILITY_DISK[VISIBILITY_SAMPLES] = VISIBILITY_DISK_POINTS;

vec4 specular_lobe_visibility(vec3 n, vec3 v, float roughness, VisibilityCorners corners) {
    Lobe f = make_lobe(n, v, roughness);
    vec4 sum = vec4(0.0);
    float total = 0.0;
    for (int k = 0; k < VISIBILITY_SAMPLES; ++k) {
        vec3 d;
        float weight, stretch2;
        if (!lobe_sample(f, VISIBILITY_DISK[k], d, weight, stretch2)) continue;
        sum += weight * visibility_light_at(corners, d);
        total += weight;
    }
    return total > 1e-6 ? sum / max(total, 1e-12) : vec4(1.0, 0.0, 0.0, 0.0);
}

#endif
