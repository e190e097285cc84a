#version 330 core
// Landmarks: round points of a given diameter in window pixels.
layout(location = 0) in vec2 a_position;  // image pixels
uniform mat4 u_mvp;
uniform float u_size;
void main() {
    gl_Position = u_mvp * vec4(a_position, 0.0, 1.0);
    gl_PointSize = u_size;
}
