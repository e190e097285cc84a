#version 330 core
uniform vec3 u_color;
out vec4 out_color;
void main() {
    vec2 d = gl_PointCoord * 2.0 - 1.0;
    float r2 = dot(d, d);
    if (r2 > 1.0) discard;
    // a dark rim keeps the points visible on light skin and on the light mesh
    out_color = vec4(r2 > 0.55 ? u_color * 0.35 : u_color, 1.0);
}
