// Depth only: from a light into one tile of the shadow atlas, or from the
// camera as the viewport's depth pre-pass (then every pixel is shaded once).

#if defined VERTEX_SHADER
in vec3 in_position;
uniform mat4 u_light_view_proj;
invariant gl_Position;  // also the viewport's depth pre-pass: matches mesh.glsl

void main() {
    gl_Position = u_light_view_proj * vec4(in_position, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
void main() {
}
#endif
