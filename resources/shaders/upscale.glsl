// Interactive frames: the scene drawn at reduced resolution, stretched over
// the full viewport with bilinear filtering (colour and alpha as drawn).

#include "common/fullscreen.glsl"

#if defined VERTEX_SHADER
void main() {
    fullscreen_vertex();
}
#endif

#if defined FRAGMENT_SHADER
uniform sampler2D u_source;
out vec4 frag_color;

void main() {
    frag_color = textureLod(u_source, v_ndc * 0.5 + 0.5, 0.0);
}
#endif
