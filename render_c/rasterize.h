/* CPU rasteriser for the dense face mesh (38,365 vertices, 76,073 triangles).
 *
 * Coordinates are IMAGE space: x to the right and y down, in pixels, and z is a
 * depth where a LARGER z is NEARER the camera (the 3DDFA convention). Pixel
 * (px, py) is the unit square centred on the integer point (px, py), as in OpenCV.
 *
 * The renderer is deferred: rc_rasterize() fills a "G-buffer" (nearest depth,
 * winning triangle id and two barycentric weights per pixel) and the shading
 * functions read it. Every mode (shaded, depth, PNCC, texture sampling) therefore
 * sees exactly the same visibility, and no colour is computed for pixels that a
 * nearer triangle later overwrites.
 *
 * Coverage rules (tests/raster_reference.py reproduces them bit for bit):
 *  - vertex x, y are snapped to a fixed-point grid of 1/RC_SUBPIXEL pixel
 *    (round half to even); edge functions are then exact 64-bit integers;
 *  - a pixel is covered when its centre (px, py) is inside the triangle; a centre
 *    exactly on an edge belongs to the triangle for which that edge is a top or a
 *    left edge (top-left rule), so a pixel on an edge shared by two triangles is
 *    drawn exactly once, and the triangle winding does not matter (no culling);
 *  - depth z = b0*z0 + b1*z1 + b2*z2 in double with bi = wi * (1.0 / area),
 *    rounded to float; a triangle wins a pixel when its float depth is strictly
 *    greater than the stored one, so on equal depth the earlier triangle (lower
 *    id: lower face index, then lower triangle index) keeps the pixel;
 *  - skipped: triangles with a vertex that is not finite or has |x| or |y| above
 *    RC_MAX_COORD (a guard band far outside any frame: it keeps the fixed-point
 *    maths exact), triangles whose snapped area is zero, triangles with an
 *    index outside [0, n_verts) (the binding rejects those before calling C), and
 *    triangles over the face's work budget (below).
 *
 * Cost bound. Each face (mesh) may visit at most RC_WORK_PER_WINDOW_PIXEL pixel
 * centres per pixel of the buffer window plus RC_WORK_PER_TRIANGLE per triangle.
 * Triangles are taken in index order; one whose clipped bounding box holds more
 * pixel centres than the face has left is skipped (later, smaller ones may still be
 * drawn). A real face mesh tiles its window about once (its boxes sum to 2-4 window
 * areas), so it never comes near the budget; a garbage mesh (vertices scattered over
 * +-2e5 px, every triangle covering most of a 720p frame) took 25-31 s per call
 * before and is now bounded to about 16 passes over the window.
 * All writes are clipped to the buffer window: no memory outside it is touched.
 *
 * No globals; every function is re-entrant and may run without the Python GIL.
 */
#ifndef RENDER_C_RASTERIZE_H
#define RENDER_C_RASTERIZE_H

#include <stdint.h>

/* Version of the C API, checked by the Python binding. */
#define RC_API_VERSION 3
int rc_api_version(void);

/* Sub-pixel precision: 8 bits, like most GPUs. */
#define RC_SUBPIXEL_BITS 8
#define RC_SUBPIXEL (1 << RC_SUBPIXEL_BITS)
/* Guard band in pixels. With 8 sub-pixel bits, fixed-point coordinates stay below
 * 2^28, differences below 2^29 and edge functions below 2^59: exact in int64. */
#define RC_MAX_COORD (1 << 20)
/* Work budget per face, in pixel centres visited (see "Cost bound" above). */
#define RC_WORK_PER_WINDOW_PIXEL 16
#define RC_WORK_PER_TRIANGLE 4

/* Return codes. */
#define RC_OK 0
#define RC_ERR_NOMEM (-1)
#define RC_ERR_ARG (-2)

/* A G-buffer covering the window [x0, x0 + width) x [y0, y0 + height) of a frame.
 * All arrays are row-major, height x width (bary: height x width x 2). */
typedef struct {
    int32_t x0, y0;        /* frame position of the buffer's top-left pixel */
    int32_t width, height; /* buffer size in pixels */
    float *depth;          /* nearest z; -INFINITY where no triangle covers the pixel */
    int32_t *tri_id;       /* face * n_tris + triangle of the winner; -1 where none */
    float *bary;           /* barycentric weights (b1, b2) of the winner; b0 = 1 - b1 - b2 */
} rc_gbuffer;

/* Phong reflection model, evaluated per vertex (see rc_shade_vertices). */
typedef struct {
    float dir[3];    /* unit vector from the surface towards the light, image space */
    float ambient;   /* ambient factor */
    float diffuse;   /* Lambert factor */
    float specular;  /* Blinn-Phong factor (white highlight); 0 gives pure Lambert */
    float shininess; /* Blinn-Phong exponent */
} rc_light;

/* Pixel window (clipped to the frame) that holds every valid vertex of the meshes.
 * verts: n_faces * n_verts * 3 floats. Writes x0, y0, x1, y1 (exclusive);
 * x1 <= x0 or y1 <= y0 when nothing can be visible. */
void rc_mesh_window(const float *verts, int32_t n_faces, int32_t n_verts,
                    int32_t frame_width, int32_t frame_height, int32_t out[4]);

/* Sets depth to -INFINITY, tri_id to -1 and bary to 0 over the whole buffer. */
void rc_gbuffer_clear(rc_gbuffer *gb);

/* Z-buffered rasterisation of n_faces meshes sharing one triangle list into gb
 * (which is NOT cleared first, so calls can accumulate). Face f's vertices start
 * at verts + f * n_verts * 3; its triangle t gets id f * n_tris + t.
 * Returns the number of triangles drawn (not skipped and overlapping the window),
 * RC_ERR_NOMEM, or RC_ERR_ARG when n_faces * n_tris does not fit an int32 id. */
int64_t rc_rasterize(rc_gbuffer *gb, const float *verts, int32_t n_faces, int32_t n_verts,
                     const int32_t *tris, int32_t n_tris);

/* Per-vertex unit normals: area-weighted sum of the face normals (cross product
 * (v1 - v0) x (v2 - v0), whose length is twice the area) of the triangles around
 * each vertex, normalised. Triangles with out-of-range indices or a non-finite
 * cross product (NaN/inf vertices) are ignored; a vertex whose sum is zero or not
 * finite gets (0, 0, 1). Needs no scratch memory; returns RC_OK. */
int rc_vertex_normals(const float *verts, int32_t n_verts, const int32_t *tris, int32_t n_tris,
                       float *normals);

/* Lit colour per vertex: albedo * (ambient + diffuse * max(0, n.l))
 *                        + specular * max(0, n.h)^shininess, clamped to [0, 1],
 * with h the half vector between the light and the view direction (0, 0, 1) of an
 * orthographic camera. Lighting is two-sided: a normal facing away from the camera
 * (n.z < 0) is flipped first, so the mesh winding does not matter. Per-vertex
 * (Gouraud) rather than per-pixel evaluation is enough here because the dense
 * face triangles are about one pixel large at realistic sizes.
 * albedo: n_verts * 3 (any channel order) or 3 floats when albedo_stride is 0. */
void rc_shade_vertices(const float *normals, int32_t n_verts, const float *albedo,
                       int32_t albedo_stride, const rc_light *light, float *colors);

/* rc_vertex_normals followed by rc_shade_vertices (bit-identical colours) in one
 * pass that needs no normals array: colors (n_verts * 3 floats) holds the normal
 * sums until each block of vertices is normalised and lit in place. */
int rc_shade_mesh(const float *verts, int32_t n_verts, const int32_t *tris, int32_t n_tris,
                  const float *albedo, int32_t albedo_stride, const rc_light *light, float *colors);

/* Blends the interpolated per-vertex colours of the winning triangles over a frame:
 * out = (1 - alpha) * frame + alpha * 255 * colour, rounded, for every pixel of gb
 * with a triangle; other pixels are untouched. frame is frame_height x
 * frame_width x 3 uint8 and must contain gb's window. colors holds 3 floats per
 * vertex per face (face f at colors + f * color_face_stride; stride 0 shares one
 * set between faces). alpha = 1 replaces the pixels. Ids outside
 * [0, n_faces * n_tris) and triangles with out-of-range indices are ignored, so a
 * damaged G-buffer cannot cause out-of-bounds reads. Returns RC_ERR_ARG when the
 * window is not inside the frame, else RC_OK. */
int rc_blend_colors(const rc_gbuffer *gb, const int32_t *tris, int32_t n_tris, int32_t n_verts,
                    int32_t n_faces, const float *colors, int64_t color_face_stride, float alpha,
                    uint8_t *frame, int32_t frame_width, int32_t frame_height);

/* Interpolated per-vertex attributes (n_channels floats per vertex, face f at
 * attrs + f * attr_face_stride) at every covered pixel of gb: writes
 * out[row, col, :] (height x width x n_channels, the buffer's window) and leaves
 * uncovered pixels untouched. Same id checks as rc_blend_colors. */
int rc_interpolate(const rc_gbuffer *gb, const int32_t *tris, int32_t n_tris, int32_t n_verts,
                   int32_t n_faces, const float *attrs, int64_t attr_face_stride, int32_t n_channels, float *out);

/* UV texture sampling. uv_gb is a G-buffer of the mesh rasterised in texture space
 * (the same triangles with vertices at the texel positions of their uv). For every
 * texel it covers, the surface point P = sum bi * verts[i] in image space is
 * visible when frame_gb has a triangle at the pixel nearest (P.x, P.y),
 * P.z >= depth there - depth_eps, and the texel's triangle faces the camera by at
 * least min_facing (|n.z| of its unit normal: texels seen at grazing angles
 * would only smear the silhouette pixels across the texture). Visible texels get
 * the frame sampled bilinearly at (P.x, P.y) (edge pixels repeated) into texture
 * (uv_gb size, 3 uint8) and 255 in mask; other texels are untouched.
 * Returns the visible texel count, or RC_ERR_ARG when frame_gb's window is not
 * inside the frame. */
int64_t rc_sample_texture(const rc_gbuffer *uv_gb, const rc_gbuffer *frame_gb,
                          const float *verts, int32_t n_verts, const int32_t *tris, int32_t n_tris,
                          const uint8_t *frame, int32_t frame_width, int32_t frame_height,
                          float depth_eps, float min_facing, uint8_t *texture, uint8_t *mask);

#endif
