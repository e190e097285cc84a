#version 330 core
// Arrows and lines: triangles with a colour per vertex, built by engine.display_arrays. The pose
// axes and eye lines come as 2D image pixels (z left at its default 0); the 3D view's gaze arrows
// as 3D image-space points.
layout(location = 0) in vec3 a_position;  // image pixels
layout(location = 1) in vec3 a_color;
uniform mat4 u_mvp;
out vec3 v_color;
void main() {
    v_color = a_color;
    gl_Position = u_mvp * vec4(a_position, 1.0);
}
