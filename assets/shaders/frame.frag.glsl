#version 330 core
in vec2 v_uv;
uniform sampler2D u_frame;
out vec4 out_color;
void main() {
    out_color = vec4(texture(u_frame, v_uv).rgb, 1.0);
}
