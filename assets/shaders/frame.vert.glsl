#version 330 core
// The video frame: a full-viewport quad made from gl_VertexID (no vertex buffer), at the
// far plane so every overlay is in front of it. Row 0 of the uploaded image is the top.
out vec2 v_uv;
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    v_uv = vec2(corner.x, 1.0 - corner.y);
    gl_Position = vec4(corner * 2.0 - 1.0, 0.9999, 1.0);
}
