#version 330 core
// The dense mesh: Blinn-Phong with one directional light given in eye space. Lighting is
// two-sided so the inside of the mask is lit too when the 3D view turns it around.
layout(location = 0) in vec3 a_position;  // image space: x right, y down, z towards the viewer
layout(location = 1) in vec3 a_normal;
uniform mat4 u_mvp;
uniform mat3 u_normal_to_eye;
out vec3 v_normal;
void main() {
    v_normal = u_normal_to_eye * a_normal;
    gl_Position = u_mvp * vec4(a_position, 1.0);
}
