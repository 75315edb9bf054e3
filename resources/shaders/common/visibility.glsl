// Specular visibility: the GLSL mirror of renderer/visibility.py's
// SpecularVisibility (octahedral_encode, then each of the three maps of the
// fragment's triangle read bilinearly, clamped at the map's edges, blended
// by the fragment's barycentric weights). The textures are
// renderer/gl/textures.py's VisibilityTextures.
//
// VISIBILITY (a define, 0 or 1; programs.MeshVariant): without maps,
// `visibility_light_at` is (1, 0, 0, 0) and the compiler drops it. BOUNCE (0 or 1, with
// VISIBILITY): the object's own light (renderer/interreflection.py) from
// the directions the maps block, in the atlas's GBA beside the maps (one
// read for both, as torch's `lit` table), and its irradiance per vertex
// (u_bounce_irradiance); without it, none.

#if VISIBILITY

uniform sampler2D u_visibility;        // the maps' atlas: one R x R tile per vertex (with BOUNCE, RGBA: its light in GBA)
uniform isampler2D u_faces;            // texel i: triangle i's vertex indices
uniform sampler2D u_vertex_positions;  // texel i: vertex i's position
uniform int u_visibility_tiles;        // tiles per atlas row
uniform int u_visibility_resolution;   // R
uniform int u_index_width;             // texels per row of u_faces, u_vertex_positions
#if BOUNCE
uniform sampler2D u_bounce_irradiance;  // texel i: vertex i's bounce irradiance / pi
#endif

struct VisibilityCorners {
    vec2 tile[3];   // texel origin of each corner's map in the atlas
    vec3 weight;    // barycentric weights of the corners
    ivec3 vertex;   // the corners' vertex indices
};

ivec2 index_texel(int i) {
    return ivec2(i % u_index_width, i / u_index_width);
}

// Texel origin of vertex i's map in the atlas.
vec2 tile_origin(int i) {
    return vec2(i % u_visibility_tiles, i / u_visibility_tiles) * float(u_visibility_resolution);
}

vec2 octahedral_encode(vec3 d) {
    d /= max(abs(d.x) + abs(d.y) + abs(d.z), 1e-30);
    vec2 s = vec2(d.x >= 0.0 ? 1.0 : -1.0, d.y >= 0.0 ? 1.0 : -1.0);
    vec2 folded = d.z >= 0.0 ? d.xy : (1.0 - abs(d.yx)) * s;
    return folded * 0.5 + 0.5;
}

// The maps of triangle `primitive` (gl_PrimitiveID) and the barycentric
// weights of `p` on it (p is the interpolated world position).
VisibilityCorners visibility_corners(int primitive, vec3 p) {
    ivec3 tri = texelFetch(u_faces, index_texel(primitive), 0).xyz;
    vec3 p0 = texelFetch(u_vertex_positions, index_texel(tri.x), 0).xyz;
    vec3 e1 = texelFetch(u_vertex_positions, index_texel(tri.y), 0).xyz - p0;
    vec3 e2 = texelFetch(u_vertex_positions, index_texel(tri.z), 0).xyz - p0;
    vec3 q = p - p0;
    float d00 = dot(e1, e1), d01 = dot(e1, e2), d11 = dot(e2, e2);
    float d20 = dot(q, e1), d21 = dot(q, e2);
    float den = d00 * d11 - d01 * d01;
    vec2 w12 = abs(den) > 1e-30 ? vec2(d11 * d20 - d01 * d21, d00 * d21 - d01 * d20) / den : vec2(0.0);
    vec3 w = clamp(vec3(1.0 - w12.x - w12.y, w12), 0.0, 1.0);
    VisibilityCorners c;
    c.weight = w / max(w.x + w.y + w.z, 1e-12);
    c.tile[0] = tile_origin(tri.x);
    c.tile[1] = tile_origin(tri.y);
    c.tile[2] = tile_origin(tri.z);
    c.vertex = tri;
    return c;
}

// Share of rays leaving the mesh in direction d (world = the mesh's frame)
// and (yzw) the object's own light coming from d.
vec4 visibility_light_at(VisibilityCorners c, vec3 d) {
    float res = float(u_visibility_resolution);
    vec2 cell = clamp(octahedral_encode(d) * res - 0.5, 0.0, res - 1.0) + 0.5;
    vec2 inv_size = 1.0 / vec2(textureSize(u_visibility, 0));
    vec4 lit = c.weight.x * texture(u_visibility, (c.tile[0] + cell) * inv_size)
             + c.weight.y * texture(u_visibility, (c.tile[1] + cell) * inv_size)
             + c.weight.z * texture(u_visibility, (c.tile[2] + cell) * inv_size);
#if BOUNCE
    return lit;  // RGBA: the maps and the bounce light in one read
#else
    return vec4(lit.r, 0.0, 0.0, 0.0);
#endif
}

// Irradiance / pi from the object's own surfaces (0 without BOUNCE).
vec3 bounce_irradiance_at(VisibilityCorners c) {
#if BOUNCE
    return c.weight.x * texelFetch(u_bounce_irradiance, index_texel(c.vertex.x), 0).rgb
         + c.weight.y * texelFetch(u_bounce_irradiance, index_texel(c.vertex.y), 0).rgb
         + c.weight.z * texelFetch(u_bounce_irradiance, index_texel(c.vertex.z), 0).rgb;
#else
    return vec3(0.0);
#endif
}

#else

struct VisibilityCorners { float unused; };

VisibilityCorners visibility_corners(int primitive, vec3 p) {
    VisibilityCorners c;
    c.unused = 0.0;
    return c;
}

vec4 visibility_light_at(VisibilityCorners c, vec3 d) {
    return vec4(1.0, 0.0, 0.0, 0.0);
}

vec3 bounce_irradiance_at(VisibilityCorners c) {
    return vec3(0.0);
}

#endif
