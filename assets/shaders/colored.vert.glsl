#version 330 core
// Pose-axis arrows: triangles with a colour per vertex, built by display_frame.axis_arrows.
layout(location = 0) in vec2 a_position;  // image pixels
layout(location = 1) in vec3 a_color;
uniform mat4 u_mvp;
out vec3 v_color;
void main() {
    v_color = a_color;
    gl_Position = u_mvp * vec4(a_position, 0.0, 1.0);
}
