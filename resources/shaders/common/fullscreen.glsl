// A full-screen triangle from gl_VertexID (no vertex buffer), at the far
// plane (NDC z = 1) so a LEQUAL depth test leaves drawn geometry alone,
// and the camera ray through each pixel from its NDC position.

#if defined VERTEX_SHADER
out vec2 v_ndc;

void fullscreen_vertex() {
    vec2 p = vec2(gl_VertexID == 1 ? 3.0 : -1.0, gl_VertexID == 2 ? 3.0 : -1.0);
    v_ndc = p;
    gl_Position = vec4(p, 1.0, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
in vec2 v_ndc;

// u_ndc_to_ray = (P00, P11, P02, P12) of Camera.gl_projection; the camera-space
// ray with z = -1 is ((x + P02) / P00, (y + P12) / P11, -1), as
// renderer.gbuffer.pixel_directions computes it from the intrinsics.
vec3 camera_ray(vec4 ndc_to_ray, mat3 camera_rotation) {
    vec3 d = vec3((v_ndc.x + ndc_to_ray.z) / ndc_to_ray.x, (v_ndc.y + ndc_to_ray.w) / ndc_to_ray.y, -1.0);
    return normalize(camera_rotation * d);
}
#endif
