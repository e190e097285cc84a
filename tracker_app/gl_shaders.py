"""GLSL 3.30 core shaders of the GL view (one vertex + fragment pair per kind of thing drawn)."""

# The video frame: a full-viewport quad made from gl_VertexID (no vertex buffer), at the
# far plane so every overlay is in front of it. Row 0 of the uploaded image is the top.
FRAME_VERTEX = """
#version 330 core
out vec2 v_uv;
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    v_uv = vec2(corner.x, 1.0 - corner.y);
    gl_Position = vec4(corner * 2.0 - 1.0, 0.9999, 1.0);
}
"""

FRAME_FRAGMENT = """
#version 330 core
in vec2 v_uv;
uniform sampler2D u_frame;
out vec4 out_color;
void main() {
    out_color = vec4(texture(u_frame, v_uv).rgb, 1.0);
}
"""

# The dense mesh: Blinn-Phong with one directional light given in eye space. Lighting is
# two-sided so the inside of the mask is lit too when the 3D view turns it around.
MESH_VERTEX = """
#version 330 core
layout(location = 0) in vec3 a_position;  // image space: x right, y down, z towards the viewer
layout(location = 1) in vec3 a_normal;
uniform mat4 u_mvp;
uniform mat3 u_normal_to_eye;
out vec3 v_normal;
void main() {
    v_normal = u_normal_to_eye * a_normal;
    gl_Position = u_mvp * vec4(a_position, 1.0);
}
"""

MESH_FRAGMENT = """
#version 330 core
in vec3 v_normal;
uniform vec3 u_color;
uniform float u_opacity;
uniform vec3 u_light_dir;  // unit, eye space, from the surface towards the light
uniform float u_ambient;
uniform float u_diffuse;
uniform float u_specular;
uniform float u_shininess;
out vec4 out_color;
void main() {
    vec3 n = normalize(v_normal);
    if (n.z < 0.0) n = -n;
    float diffuse = max(dot(n, u_light_dir), 0.0);
    vec3 halfway = normalize(u_light_dir + vec3(0.0, 0.0, 1.0));
    float specular = pow(max(dot(n, halfway), 0.0), u_shininess);
    vec3 rgb = u_color * (u_ambient + u_diffuse * diffuse) + u_specular * specular;
    out_color = vec4(min(rgb, vec3(1.0)), u_opacity);
}
"""

# Landmarks: round points of a given diameter in window pixels.
POINTS_VERTEX = """
#version 330 core
layout(location = 0) in vec2 a_position;  // image pixels
uniform mat4 u_mvp;
uniform float u_size;
void main() {
    gl_Position = u_mvp * vec4(a_position, 0.0, 1.0);
    gl_PointSize = u_size;
}
"""

POINTS_FRAGMENT = """
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
"""

# Pose-axis arrows: triangles with a colour per vertex, built by display_frame.axis_arrows.
COLORED_VERTEX = """
#version 330 core
layout(location = 0) in vec2 a_position;  // image pixels
layout(location = 1) in vec3 a_color;
uniform mat4 u_mvp;
out vec3 v_color;
void main() {
    v_color = a_color;
    gl_Position = u_mvp * vec4(a_position, 0.0, 1.0);
}
"""

COLORED_FRAGMENT = """
#version 330 core
in vec3 v_color;
out vec4 out_color;
void main() {
    out_color = vec4(v_color, 1.0);
}
"""
