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
