// Linear radiance -> display pixels: the GLSL mirror of renderer/tonemap.py.
// exposure (EV) -> view transform (standard / aces / agx) -> sRGB encoding
// (AgX carries its own display encoding). The matrices and EV range are
// defined by the loader from renderer.tonemap's constants (programs.py), so
// the numbers exist once; the formulas below match tonemap.py term for term.

const int VIEW_STANDARD = 0;
const int VIEW_ACES = 1;
const int VIEW_AGX = 2;

vec3 encode_srgb(vec3 linear) {
    vec3 x = max(linear, 0.0);
    vec3 power = 1.055 * pow(max(x, 0.0031308), vec3(1.0 / 2.4)) - 0.055;
    return mix(power, 12.92 * x, lessThanEqual(x, vec3(0.0031308)));
}

vec3 aces_fitted(vec3 linear) {
    vec3 v = TONEMAP_ACES_INPUT * (linear * TONEMAP_ACES_PRE_EXPOSURE);
    v = (v * (v + 0.0245786) - 0.000090537) / (v * (0.983729 * v + 0.4329510) + 0.238081);
    return clamp(TONEMAP_ACES_OUTPUT * v, 0.0, 1.0);
}

vec3 agx_contrast(vec3 x) {
    vec3 x2 = x * x;
    vec3 x4 = x2 * x2;
    return 15.5 * x4 * x2 - 40.14 * x4 * x + 31.96 * x4 - 6.868 * x2 * x + 0.4298 * x2 + 0.1191 * x - 0.00232;
}

vec3 agx(vec3 linear) {
    vec3 v = max(TONEMAP_AGX_INSET * linear, 1e-10);
    v = (clamp(log2(v), TONEMAP_AGX_MIN_EV, TONEMAP_AGX_MAX_EV) - TONEMAP_AGX_MIN_EV)
        / (TONEMAP_AGX_MAX_EV - TONEMAP_AGX_MIN_EV);
    return clamp(TONEMAP_AGX_OUTSET * agx_contrast(v), 0.0, 1.0);
}

vec3 view_transform(vec3 linear, int transform) {
    if (transform == VIEW_ACES) return encode_srgb(aces_fitted(linear));
    if (transform == VIEW_AGX) return agx(linear);
    return encode_srgb(clamp(linear, 0.0, 1.0));
}

// Scene-linear radiance -> display-encoded [0,1].
vec3 display_radiance(vec3 linear, float exposure_ev, int transform) {
    return view_transform(linear * exp2(exposure_ev), transform);
}
