// The specular lobe, sampled: the GLSL mirror of renderer/specular_lobe.py's
// lobe_radiance with the fixed sample set (see there for why and how).
// LOBE_SAMPLE_BLUR is a define made from that module's SAMPLE_BLUR;
// LOBE_SAMPLES (> 0 where this is compiled) and LOBE_DISK, the sample set's
// constant disk points (renderer.specular_lobe.disk_points), are
// programs.MeshVariant's.
// Needs common/brdf.glsl, common/environment.glsl and common/visibility.glsl.

#if LOBE_SAMPLES > 0

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

// Radiance averaged over the GGX lobe of (n, v, roughness), each sample
// weighted by the visibility in its direction (1 without maps); `fallback`
// where no sample lies above the horizon.
const vec2 LOBE_DISK[LOBE_SAMPLES] = LOBE_DISK_POINTS;

vec3 specular_lobe_radiance(sampler3D stack, mat3 env_rotation, float levels,
                            vec3 n, vec3 v, float roughness, vec3 fallback,
                            VisibilityCorners corners) {
    float alpha = alpha_from_roughness(roughness);
    float a2 = alpha * alpha;
    vec3 t, b;
    lobe_tangent_frame(n, v, t, b);
    float cos_v = max(dot(v, n), NDOTV_MIN);
    float sin_v = max(dot(v, t), 0.0);
    float stretched = alpha * sin_v;
    float inv = inversesqrt(stretched * stretched + cos_v * cos_v);
    float vh_x = stretched * inv;
    float vh_z = cos_v * inv;
    float blend = 0.5 * (1.0 + vh_z);
    float lambda_v = sqrt(a2 + (1.0 - a2) * cos_v * cos_v);
    float g1_v = 2.0 * cos_v / (cos_v + lambda_v);
    float blur_scale = LOBE_SAMPLE_BLUR * alpha * sqrt(cos_v / (float(LOBE_SAMPLES) * g1_v));
    float max_blur = clamp(roughness, 0.0, 1.0);
    vec3 sum = vec3(0.0);
    float total = 0.0;
    for (int k = 0; k < LOBE_SAMPLES; ++k) {
        float p1 = LOBE_DISK[k].x;
        float p2 = (1.0 - blend) * sqrt(max(1.0 - p1 * p1, 0.0)) + blend * LOBE_DISK[k].y;
        float p3 = sqrt(max(1.0 - p1 * p1 - p2 * p2, 0.0));
        float h_z = max(p2 * vh_x + p3 * vh_z, 0.0);
        vec3 m = vec3(alpha * (p3 * vh_x - p2 * vh_z), alpha * p1, h_z);
        float stretch2 = dot(m, m);
        m *= inversesqrt(max(stretch2, 1e-20));
        float two_v_dot_m = 2.0 * (sin_v * m.x + cos_v * m.z);
        vec3 l = two_v_dot_m * m - vec3(sin_v, 0.0, cos_v);
        if (l.z <= 0.0) continue;
        float lambda_l = sqrt(a2 + (1.0 - a2) * l.z * l.z);
        float g2 = 2.0 * l.z * cos_v / max(l.z * lambda_v + cos_v * lambda_l, 1e-12);
        float weight = g2 / g1_v;
        float blur = min(sqrt(clamp(blur_scale / max(stretch2, 1e-20), 0.0, 1.0)), max_blur);
        vec3 d = l.x * t + l.y * b + l.z * n;
        sum += weight * visibility_at(corners, d) * sample_specular(stack, env_rotation * d, blur, levels);
        total += weight;
    }
    return total > 1e-6 ? sum / max(total, 1e-12) : fallback;
}

#endif
