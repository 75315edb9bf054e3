// Triangle edges in one colour, drawn with polygon mode LINE over the shaded
// object; pulled slightly towards the camera so the lines win the depth test.

#if defined VERTEX_SHADER
in vec3 in_position;
uniform mat4 u_view_proj;
uniform float u_depth_offset;    // in NDC depth units

void main() {
    gl_Position = u_view_proj * vec4(in_position, 1.0);
    gl_Position.z -= u_depth_offset * gl_Position.w;
}
#endif

#if defined FRAGMENT_SHADER
uniform vec4 u_color;
out vec4 frag_color;

void main() {
    frag_color = u_color;
}
#endif
