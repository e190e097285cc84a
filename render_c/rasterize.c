/* CPU rasteriser for the dense face mesh: see rasterize.h for the conventions.
 *
 * Design notes (why it looks like this):
 *  - The dense face triangles are about one pixel large, so per-triangle set-up
 *    cost dominates; the set-up is kept to integer operations on pre-snapped
 *    vertices and the pixel loop is a plain bounding-box scan.
 *  - Edge functions are exact int64 on a 1/256-pixel grid. Exactness is what lets
 *    the NumPy reference (tests/raster_reference.py) agree on the winning
 *    triangle at every pixel, and it makes the top-left rule watertight.
 *  - The only floating-point per pixel is the depth interpolation, written as one
 *    fixed expression in double; build_ext.py compiles with -ffp-contract=off so
 *    no fused multiply-add changes its rounding against NumPy.
 */
#include "rasterize.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

int rc_api_version(void) { return RC_API_VERSION; }

/* A vertex snapped to the fixed-point grid. `ok` is 0 for vertices that make
 * their triangles skipped (non-finite, or outside the guard band). */
typedef struct {
    int32_t x, y; /* position in 1/RC_SUBPIXEL pixels */
    float z;
    int32_t ok;
} snapped_vertex;

static int vertex_is_usable(const float *v)
{
    /* isfinite() first: comparisons with NaN are false, but be explicit. */
    return isfinite(v[0]) && isfinite(v[1]) && isfinite(v[2]) &&
           fabsf(v[0]) <= (float)RC_MAX_COORD && fabsf(v[1]) <= (float)RC_MAX_COORD;
}

/* Round half to even, like numpy.rint, for |x| < 2^51: adding and removing
 * 1.5 * 2^52 leaves no fraction bits, and IEEE addition rounds half to even.
 * (rint() does the same but is a library call without SSE4.1.) The volatile-free
 * form is safe because the build never enables -ffast-math. */
static double round_even(double x)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2^52 */
    return (x + magic) - magic;
}

static void snap_vertices(const float *verts, int32_t n_verts, snapped_vertex *out)
{
    for (int32_t i = 0; i < n_verts; i++) {
        const float *v = verts + 3 * (int64_t)i;
        snapped_vertex *s = &out[i];
        if (vertex_is_usable(v)) {
            /* Scaling by a power of two is exact; the guard band keeps the result
             * far inside int32, so the conversion is well defined. */
            s->x = (int32_t)round_even((double)v[0] * RC_SUBPIXEL);
            s->y = (int32_t)round_even((double)v[1] * RC_SUBPIXEL);
            s->z = v[2];
            s->ok = 1;
        } else {
            s->x = s->y = 0;
            s->z = 0.0f;
            s->ok = 0;
        }
    }
}

/* Floor and ceiling of a / RC_SUBPIXEL. Fixed-point values are above -2^30, so
 * adding 2^40 makes them positive and a plain shift then floors them (a right
 * shift of a negative number would be implementation-defined in C99). */
#define RC_FLOOR_BIAS ((int64_t)1 << 40)
static int64_t floor_sub(int64_t a)
{
    return ((a + RC_FLOOR_BIAS) >> RC_SUBPIXEL_BITS) - (RC_FLOOR_BIAS >> RC_SUBPIXEL_BITS);
}

static int64_t ceil_sub(int64_t a) { return floor_sub(a + RC_SUBPIXEL - 1); }

static int64_t min3(int64_t a, int64_t b, int64_t c)
{
    int64_t m = a < b ? a : b;
    return m < c ? m : c;
}

static int64_t max3(int64_t a, int64_t b, int64_t c)
{
    int64_t m = a > b ? a : b;
    return m > c ? m : c;
}

void rc_mesh_window(const float *verts, int32_t n_faces, int32_t n_verts,
                    int32_t frame_width, int32_t frame_height, int32_t out[4])
{
    /* Floats are compared before any conversion: the guard band bounds them. */
    float lo_x = INFINITY, lo_y = INFINITY, hi_x = -INFINITY, hi_y = -INFINITY;
    int64_t n = (int64_t)n_faces * n_verts;
    for (int64_t i = 0; i < n; i++) {
        const float *v = verts + 3 * i;
        if (!vertex_is_usable(v))
            continue;
        lo_x = v[0] < lo_x ? v[0] : lo_x; /* v is finite here */
        hi_x = v[0] > hi_x ? v[0] : hi_x;
        lo_y = v[1] < lo_y ? v[1] : lo_y;
        hi_y = v[1] > hi_y ? v[1] : hi_y;
    }
    out[0] = out[1] = out[2] = out[3] = 0;
    if (!(lo_x <= hi_x) || !(lo_y <= hi_y))
        return; /* no usable vertex */
    /* One pixel of margin on each side absorbs the sub-pixel snapping. */
    int64_t x0 = (int64_t)floorf(lo_x) - 1, x1 = (int64_t)floorf(hi_x) + 2;
    int64_t y0 = (int64_t)floorf(lo_y) - 1, y1 = (int64_t)floorf(hi_y) + 2;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > frame_width ? frame_width : x1;
    y1 = y1 > frame_height ? frame_height : y1;
    if (x1 <= x0 || y1 <= y0)
        return; /* entirely off-screen */
    out[0] = (int32_t)x0;
    out[1] = (int32_t)y0;
    out[2] = (int32_t)x1;
    out[3] = (int32_t)y1;
}

void rc_gbuffer_clear(rc_gbuffer *gb)
{
    int64_t n = (int64_t)gb->width * gb->height;
    if (n <= 0)
        return; /* the arrays of an empty buffer may be NULL */
    for (int64_t i = 0; i < n; i++) {
        gb->depth[i] = -INFINITY;
        gb->tri_id[i] = -1;
    }
    memset(gb->bary, 0, (size_t)n * 2 * sizeof(float));
}

/* One edge a -> b of a triangle, oriented so that the interior is where the edge
 * function is positive: w(p) = dx * (p.y - a.y) - dy * (p.x - a.x). */
typedef struct {
    int64_t ax, ay, dx, dy;
    int64_t bias; /* 0 on a top or left edge (centres on it are inside), else -1 */
} edge;

static edge make_edge(const snapped_vertex *a, const snapped_vertex *b, int64_t orientation)
{
    edge e;
    e.ax = a->x;
    e.ay = a->y;
    e.dx = orientation * ((int64_t)b->x - a->x);
    e.dy = orientation * ((int64_t)b->y - a->y);
    /* With y down and the interior on the positive side, a top edge is horizontal
     * and runs towards +x, and a left edge runs upwards (dy < 0):
     * top_left = dy < 0 || (dy == 0 && dx > 0). As |dx|, |dy| < 2^30, that is the
     * sign of dy * 2^32 - dx, which compiles to a few instructions and no branch. */
    const int64_t key = e.dy * ((int64_t)1 << 32) - e.dx;
    e.bias = -(int64_t)(key >= 0);
    return e;
}

static int64_t edge_at(const edge *e, int64_t px, int64_t py)
{
    return e->dx * (py - e->ay) - e->dy * (px - e->ax);
}

/* The G-buffer as the triangle loop sees it. Its int64 fields cannot alias the
 * float / int32 pixel stores, so the compiler keeps them in registers instead of
 * reloading them after every store (which it must do for rc_gbuffer's int32s). */
typedef struct {
    int64_t x0, y0, x1, y1; /* window, last pixel inclusive */
    int64_t width;
    float *depth;
    int32_t *tri_id;
    float *bary;
} target;

/* Depth test and store of a covered pixel (buffer index i, edge functions w). */
static inline void depth_test(const target *tg, int64_t i, int64_t w0, int64_t w1, int64_t w2,
                              double inv_area, double z0, double z1, double z2, int32_t id)
{
    const double b0 = (double)w0 * inv_area;
    const double b1 = (double)w1 * inv_area;
    const double b2 = (double)w2 * inv_area;
    const float z = (float)(b0 * z0 + b1 * z1 + b2 * z2);
    if (z > tg->depth[i]) {
        tg->depth[i] = z;
        tg->tri_id[i] = id;
        tg->bary[2 * i] = (float)b1;
        tg->bary[2 * i + 1] = (float)b2;
    }
}

/* Rasterises one triangle; returns 1 when it was drawn (set up), 0 when skipped.
 * *budget is what is left of the face's work budget in pixel centres (rasterize.h). */
static int draw_triangle(const target *tg, const snapped_vertex *s0, const snapped_vertex *s1,
                         const snapped_vertex *s2, int32_t id, int64_t *budget)
{
    const int64_t S = RC_SUBPIXEL;
    /* Pixel centres (px * S, py * S) inside the bounding box, clipped to the window. */
    int64_t px_lo = ceil_sub(min3(s0->x, s1->x, s2->x));
    int64_t px_hi = floor_sub(max3(s0->x, s1->x, s2->x));
    int64_t py_lo = ceil_sub(min3(s0->y, s1->y, s2->y));
    int64_t py_hi = floor_sub(max3(s0->y, s1->y, s2->y));
    const int64_t wx0 = tg->x0, wy0 = tg->y0;
    px_lo = px_lo < wx0 ? wx0 : px_lo;
    py_lo = py_lo < wy0 ? wy0 : py_lo;
    px_hi = px_hi > tg->x1 ? tg->x1 : px_hi;
    py_hi = py_hi > tg->y1 ? tg->y1 : py_hi;
    if (px_lo > px_hi || py_lo > py_hi)
        return 0;

    int64_t area = ((int64_t)s1->x - s0->x) * ((int64_t)s2->y - s0->y) -
                   ((int64_t)s1->y - s0->y) * ((int64_t)s2->x - s0->x);
    if (area == 0)
        return 0; /* degenerate after snapping */
    const int64_t cost = (px_hi - px_lo + 1) * (py_hi - py_lo + 1); /* pixel centres in the clipped box */
    if (cost > *budget)
        return 0; /* a face mesh never gets here: its triangles are a few pixels each */
    *budget -= cost;
    const int64_t orientation = area > 0 ? 1 : -1; /* accept both windings */
    area *= orientation;

    /* Edge i is opposite vertex i, so w_i / area is the barycentric weight of i. */
    const edge e0 = make_edge(s1, s2, orientation);
    const edge e1 = make_edge(s2, s0, orientation);
    const edge e2 = make_edge(s0, s1, orientation);
    const double z0 = s0->z, z1 = s1->z, z2 = s2->z;
    const double inv_area = 1.0 / (double)area;

    /* Edge functions at the first pixel centre, then exact integer steps. */
    const int64_t r0 = edge_at(&e0, px_lo * S, py_lo * S);
    const int64_t r1 = edge_at(&e1, px_lo * S, py_lo * S);
    const int64_t r2 = edge_at(&e2, px_lo * S, py_lo * S);
    const int64_t sx0 = -e0.dy * S, sx1 = -e1.dy * S, sx2 = -e2.dy * S; /* per pixel to the right */
    const int64_t sy0 = e0.dx * S, sy1 = e1.dx * S, sy2 = e2.dx * S;    /* per row down */
    const int64_t first = (py_lo - wy0) * tg->width + (px_lo - wx0); /* buffer index of (px_lo, py_lo) */

    if (px_hi - px_lo <= 1 && py_hi - py_lo <= 1) {
        /* Most dense-mesh triangles have at most 2 x 2 pixel centres in their box,
         * and whether each is inside is a coin flip that defeats the branch
         * predictor. So the inside tests of all four are gathered into a bit mask
         * without branches, and only the covered centres are visited. */
        const int64_t cols = px_hi - px_lo, rows = py_hi - py_lo; /* 0 or 1 */
        /* Biased edge functions at the four centres (x, y), (x+1, y), (x, y+1), (x+1, y+1). */
        const int64_t a0 = r0 + e0.bias, a1 = r1 + e1.bias, a2 = r2 + e2.bias;
        const int64_t b0 = a0 + sx0, b1 = a1 + sx1, b2 = a2 + sx2;
        const int64_t c0 = a0 + sy0, c1 = a1 + sy1, c2 = a2 + sy2;
        const int64_t d0 = c0 + sx0, d1 = c1 + sx1, d2 = c2 + sx2;
        unsigned mask = (unsigned)((a0 | a1 | a2) >= 0);
        mask |= (unsigned)(((b0 | b1 | b2) >= 0) & (cols > 0)) << 1;
        mask |= (unsigned)(((c0 | c1 | c2) >= 0) & (rows > 0)) << 2;
        mask |= (unsigned)(((d0 | d1 | d2) >= 0) & (cols > 0) & (rows > 0)) << 3;
        while (mask) {
            const int k = __builtin_ctz(mask); /* GCC/Clang builtin: index of the lowest set bit */
            mask &= mask - 1;
            const int64_t cx = k & 1, cy = k >> 1;
            depth_test(tg, first + cy * tg->width + cx, r0 + cx * sx0 + cy * sy0, r1 + cx * sx1 + cy * sy1,
                       r2 + cx * sx2 + cy * sy2, inv_area, z0, z1, z2, id);
        }
        return 1;
    }

    int64_t q0 = r0, q1 = r1, q2 = r2;
    for (int64_t py = py_lo, row = first; py <= py_hi; py++, row += tg->width, q0 += sy0, q1 += sy1, q2 += sy2) {
        int64_t w0 = q0, w1 = q1, w2 = q2;
        for (int64_t i = row; i <= row + (px_hi - px_lo); i++, w0 += sx0, w1 += sx1, w2 += sx2) {
            /* All three biased edge functions >= 0 <=> the OR has no sign bit. */
            if (((w0 + e0.bias) | (w1 + e1.bias) | (w2 + e2.bias)) >= 0)
                depth_test(tg, i, w0, w1, w2, inv_area, z0, z1, z2, id);
        }
    }
    return 1;
}

int64_t rc_rasterize(rc_gbuffer *gb, const float *verts, int32_t n_faces, int32_t n_verts,
                     const int32_t *tris, int32_t n_tris)
{
    if (gb->width <= 0 || gb->height <= 0 || n_verts <= 0 || n_tris <= 0 || n_faces <= 0)
        return 0;
    if ((int64_t)n_faces * n_tris > INT32_MAX)
        return RC_ERR_ARG;
    snapped_vertex *snapped = malloc((size_t)n_verts * sizeof *snapped);
    if (!snapped)
        return RC_ERR_NOMEM;
    const target tg = {gb->x0, gb->y0, (int64_t)gb->x0 + gb->width - 1, (int64_t)gb->y0 + gb->height - 1,
                       gb->width, gb->depth, gb->tri_id, gb->bary};
    int64_t drawn = 0;
    for (int32_t f = 0; f < n_faces; f++) {
        int64_t budget = RC_WORK_PER_WINDOW_PIXEL * (int64_t)gb->width * gb->height +
                         RC_WORK_PER_TRIANGLE * (int64_t)n_tris;
        snap_vertices(verts + (int64_t)f * n_verts * 3, n_verts, snapped);
        const int32_t id_base = f * n_tris; /* fits: checked above */
        for (int32_t t = 0; t < n_tris; t++) {
            const int32_t *tri = tris + 3 * (int64_t)t;
            /* Unsigned comparison also rejects negative indices. */
            if ((uint32_t)tri[0] >= (uint32_t)n_verts || (uint32_t)tri[1] >= (uint32_t)n_verts ||
                (uint32_t)tri[2] >= (uint32_t)n_verts)
                continue;
            const snapped_vertex *s0 = &snapped[tri[0]], *s1 = &snapped[tri[1]], *s2 = &snapped[tri[2]];
            if (!(s0->ok & s1->ok & s2->ok))
                continue;
            drawn += draw_triangle(&tg, s0, s1, s2, id_base + t, &budget);
        }
    }
    free(snapped);
    return drawn;
}

static int triangle_indices_ok(const int32_t *tri, int32_t n_verts)
{
    return (uint32_t)tri[0] < (uint32_t)n_verts && (uint32_t)tri[1] < (uint32_t)n_verts &&
           (uint32_t)tri[2] < (uint32_t)n_verts;
}

/* Sums the area-weighted face normals of the triangles around each vertex into
 * acc (3 floats per vertex, zeroed here). */
static void accumulate_normals(const float *verts, int32_t n_verts, const int32_t *tris, int32_t n_tris,
                               float *acc)
{
    /* Absurd but finite coordinates may overflow a float sum to inf or NaN; such
     * vertices fall back to the default normal when normalised. */
    memset(acc, 0, (size_t)(n_verts > 0 ? n_verts : 0) * 3 * sizeof *acc);
    for (int32_t t = 0; t < n_tris; t++) {
        const int32_t *tri = tris + 3 * (int64_t)t;
        if (!triangle_indices_ok(tri, n_verts))
            continue;
        const float *a = verts + 3 * (int64_t)tri[0];
        const float *b = verts + 3 * (int64_t)tri[1];
        const float *c = verts + 3 * (int64_t)tri[2];
        const float ux = b[0] - a[0], uy = b[1] - a[1], uz = b[2] - a[2];
        const float vx = c[0] - a[0], vy = c[1] - a[1], vz = c[2] - a[2];
        /* Unnormalised cross product: its length is twice the area, which gives the
         * area weighting for free. */
        const float nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
        if (!(isfinite(nx) && isfinite(ny) && isfinite(nz)))
            continue; /* a NaN/inf vertex must not poison its neighbours */
        for (int k = 0; k < 3; k++) {
            float *n = acc + 3 * (int64_t)tri[k];
            n[0] += nx;
            n[1] += ny;
            n[2] += nz;
        }
    }
}

/* Vertices are lit in blocks: each step below is then a short branch-free loop
 * over the block that the compiler vectorises, where the per-vertex version
 * (a data-dependent exponent loop, clamping branches) ran scalar. */
#define SHADE_BLOCK 64

/* Unit normals (in place) from the accumulated sums of m <= SHADE_BLOCK
 * vertices. A zero, overflowing (inf) or NaN sum gets the default normal
 * (0, 0, 1); tiny sums (below ~1e-30) would lose precision in float, so they do
 * too. Written as steps that vectorise: the
 * square roots go through SSE where available, because sqrtf's errno handling
 * keeps the compiler from vectorising it (sqrtps, like sqrtss, is correctly
 * rounded, so the result is the same). */
static void normalize_block(float *n, int32_t m)
{
    float len[SHADE_BLOCK];
    for (int32_t j = 0; j < m; j++) {
        const float *v = n + 3 * j;
        const float len2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
        len[j] = len2 > 1e-30f && len2 <= FLT_MAX ? len2 : 0.0f; /* 0: default normal */
    }
    int32_t j = 0;
#if defined(__SSE2__)
    for (; j + 4 <= m; j += 4)
        _mm_storeu_ps(len + j, _mm_sqrt_ps(_mm_loadu_ps(len + j)));
#endif
    for (; j < m; j++)
        len[j] = sqrtf(len[j]);
    for (j = 0; j < m; j++) {
        float *v = n + 3 * j;
        const int ok = len[j] > 0.0f;
        const float inv = 1.0f / (ok ? len[j] : 1.0f);
        v[0] = ok ? v[0] * inv : 0.0f;
        v[1] = ok ? v[1] * inv : 0.0f;
        v[2] = ok ? v[2] * inv : 1.0f;
    }
}

int rc_vertex_normals(const float *verts, int32_t n_verts, const int32_t *tris, int32_t n_tris,
                      float *normals)
{
    /* Accumulate straight into the output (no scratch allocation: this runs every frame). */
    accumulate_normals(verts, n_verts, tris, n_tris, normals);
    for (int32_t i = 0; i < n_verts; i += SHADE_BLOCK)
        normalize_block(normals + 3 * (int64_t)i, n_verts - i < SHADE_BLOCK ? n_verts - i : SHADE_BLOCK);
    return RC_OK;
}

/* x^e for x in [0, 1] and a non-negative exponent, 0^0 taken as 1. */
static float pow_unit(float x, float e)
{
    if (x <= 0.0f)
        return e == 0.0f ? 1.0f : 0.0f;
    if (e <= 64.0f && e == floorf(e)) {
        /* Integer exponents (the usual case) by squaring: several times cheaper
         * than powf, which dominated the per-vertex lighting. */
        float r = 1.0f;
        for (int k = (int)e; k > 0; k >>= 1, x *= x)
            if (k & 1)
                r *= x;
        return r;
    }
    return powf(x, e);
}

static float clamp_unit(float v)
{
    /* Written so that NaN maps to 0 (every comparison with NaN is false), with
     * selects that vectorise. */
    return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
}

/* The light, prepared once per call. */
typedef struct {
    float lx, ly, lz; /* towards the light */
    float hx, hy, hz; /* Blinn-Phong half vector */
    float ambient, diffuse, specular, shininess;
    int spec_mode; /* 0: no specular term, 1: integer exponent (by squaring), 2: powf */
    int exponent;  /* spec_mode 1 */
} light_setup;

static void prepare_light(const rc_light *light, light_setup *ls)
{
    ls->lx = light->dir[0];
    ls->ly = light->dir[1];
    ls->lz = light->dir[2];
    /* Blinn-Phong half vector between the light and the view direction (0, 0, 1). */
    float hx = ls->lx, hy = ls->ly, hz = ls->lz + 1.0f;
    const float hlen = sqrtf(hx * hx + hy * hy + hz * hz);
    if (hlen > 0.0f) {
        hx /= hlen;
        hy /= hlen;
        hz /= hlen;
    }
    ls->hx = hx;
    ls->hy = hy;
    ls->hz = hz;
    ls->ambient = light->ambient;
    ls->diffuse = light->diffuse;
    ls->specular = light->specular;
    ls->shininess = light->shininess;
    const float e = light->shininess;
    ls->exponent = 0;
    if (light->specular == 0.0f) {
        ls->spec_mode = 0;
    } else if (e >= 0.0f && e <= 64.0f && e == floorf(e)) {
        ls->spec_mode = 1;
        ls->exponent = (int)e;
    } else {
        ls->spec_mode = 2;
    }
}


/* Lights m <= SHADE_BLOCK vertices with unit normals nrm (3 per vertex) into out
 * (3 per vertex; may be nrm itself: every normal is read before the first write).
 * albedo points at the block's first vertex (albedo_stride floats per vertex).
 * The float operations are those of the per-vertex formula in rasterize.h. */
static void shade_block(const float *nrm, int32_t m, const float *albedo, int32_t albedo_stride,
                        const light_setup *ls, float *out)
{
    float shade[SHADE_BLOCK], nh[SHADE_BLOCK], spec[SHADE_BLOCK];
    const float lx = ls->lx, ly = ls->ly, lz = ls->lz, hx = ls->hx, hy = ls->hy, hz = ls->hz;
    const float ambient = ls->ambient, diffuse = ls->diffuse, specular = ls->specular;
    for (int32_t j = 0; j < m; j++) {
        const float *n = nrm + 3 * j;
        /* Two-sided lighting: the visible side of a surface faces the camera. */
        const float s = n[2] < 0.0f ? -1.0f : 1.0f;
        const float nx = s * n[0], ny = s * n[1], nz = s * n[2];
        const float ndotl = nx * lx + ny * ly + nz * lz;
        shade[j] = ambient + diffuse * (ndotl > 0.0f ? ndotl : 0.0f);
        nh[j] = nx * hx + ny * hy + nz * hz;
    }
    if (ls->spec_mode == 1) {
        /* max(0, nh)^e by squaring, the same multiplications for every vertex
         * (several times cheaper than powf); 0^0 is 1. */
        float r[SHADE_BLOCK], x[SHADE_BLOCK];
        for (int32_t j = 0; j < m; j++) {
            r[j] = 1.0f;
            x[j] = nh[j];
        }
        for (int k = ls->exponent; k > 0; k >>= 1) {
            if (k & 1)
                for (int32_t j = 0; j < m; j++)
                    r[j] *= x[j];
            for (int32_t j = 0; j < m; j++)
                x[j] *= x[j];
        }
        const float at_zero = ls->exponent == 0 ? 1.0f : 0.0f;
        for (int32_t j = 0; j < m; j++)
            spec[j] = specular * (nh[j] <= 0.0f ? at_zero : r[j]);
    } else if (ls->spec_mode == 2) {
        for (int32_t j = 0; j < m; j++)
            spec[j] = specular * pow_unit(nh[j], ls->shininess);
    } else {
        for (int32_t j = 0; j < m; j++)
            spec[j] = 0.0f;
    }
    if (albedo_stride == 0) { /* one colour (the usual case): a loop that vectorises */
        const float a0 = albedo[0], a1 = albedo[1], a2 = albedo[2];
        for (int32_t j = 0; j < m; j++) {
            float *c = out + 3 * j;
            c[0] = clamp_unit(a0 * shade[j] + spec[j]);
            c[1] = clamp_unit(a1 * shade[j] + spec[j]);
            c[2] = clamp_unit(a2 * shade[j] + spec[j]);
        }
        return;
    }
    for (int32_t j = 0; j < m; j++) {
        const float *a = albedo + (int64_t)albedo_stride * j;
        float *c = out + 3 * j;
        c[0] = clamp_unit(a[0] * shade[j] + spec[j]);
        c[1] = clamp_unit(a[1] * shade[j] + spec[j]);
        c[2] = clamp_unit(a[2] * shade[j] + spec[j]);
    }
}

void rc_shade_vertices(const float *normals, int32_t n_verts, const float *albedo,
                       int32_t albedo_stride, const rc_light *light, float *colors)
{
    light_setup ls;
    prepare_light(light, &ls);
    for (int32_t i = 0; i < n_verts; i += SHADE_BLOCK) {
        const int32_t m = n_verts - i < SHADE_BLOCK ? n_verts - i : SHADE_BLOCK;
        shade_block(normals + 3 * (int64_t)i, m, albedo + (int64_t)albedo_stride * i, albedo_stride, &ls,
                    colors + 3 * (int64_t)i);
    }
}

int rc_shade_mesh(const float *verts, int32_t n_verts, const int32_t *tris, int32_t n_tris,
                  const float *albedo, int32_t albedo_stride, const rc_light *light, float *colors)
{
    light_setup ls;
    prepare_light(light, &ls);
    /* colors holds the normal sums first; each block is normalised and lit in
     * place while it is in the L1 cache. */
    accumulate_normals(verts, n_verts, tris, n_tris, colors);
    for (int32_t i = 0; i < n_verts; i += SHADE_BLOCK) {
        const int32_t m = n_verts - i < SHADE_BLOCK ? n_verts - i : SHADE_BLOCK;
        float *c = colors + 3 * (int64_t)i;
        normalize_block(c, m);
        shade_block(c, m, albedo + (int64_t)albedo_stride * i, albedo_stride, &ls, c);
    }
    return RC_OK;
}

/* Vertex indices of the triangle that won a pixel, or NULL when the id is not
 * usable (so damaged buffers are ignored rather than followed). */
static const int32_t *winner(int32_t id, const int32_t *tris, int32_t n_tris, int32_t n_verts,
                             int32_t n_faces, int32_t *face)
{
    if (id < 0 || (int64_t)id >= (int64_t)n_faces * n_tris)
        return NULL;
    /* Integer division costs more than the rest of a pixel's shading, and most
     * frames hold one face, whose ids are plain triangle indices. */
    int32_t f = 0, t = id;
    if (id >= n_tris) {
        f = id / n_tris;
        t = id - f * n_tris;
    }
    const int32_t *tri = tris + 3 * (int64_t)t;
    if (!triangle_indices_ok(tri, n_verts))
        return NULL;
    *face = f;
    return tri;
}

static uint8_t to_u8(float v)
{
    /* Ternaries rather than branches or fminf/fmaxf (library calls unless
     * -ffinite-math-only): they compile to maxss/minss, and NaN maps to 0. */
    v = v > 0.0f ? v : 0.0f;
    v = v < 255.0f ? v : 255.0f;
    return (uint8_t)(v + 0.5f);
}

/* px[k] = to_u8(px[k] + alpha * (col[k] - px[k])) for k < n. The compiler does
 * not vectorise to_u8's NaN-safe clamps, so SSE2 does it by hand: maxps(v, 0)
 * and minps(v, 255) return their second operand for NaN exactly like to_u8's
 * ternaries, so the bytes are the same as the scalar loop's. */
static void blend_bytes(uint8_t *px, const float *col, int32_t n, float alpha)
{
    int32_t k = 0;
#if defined(__SSE2__)
    const __m128 va = _mm_set1_ps(alpha), lo = _mm_setzero_ps(), hi = _mm_set1_ps(255.0f);
    const __m128 half = _mm_set1_ps(0.5f);
    const __m128i zero = _mm_setzero_si128();
    for (; k + 16 <= n; k += 16) {
        const __m128i bytes = _mm_loadu_si128((const __m128i *)(px + k));
        const __m128i w_lo = _mm_unpacklo_epi8(bytes, zero), w_hi = _mm_unpackhi_epi8(bytes, zero);
        const __m128i d[4] = {_mm_unpacklo_epi16(w_lo, zero), _mm_unpackhi_epi16(w_lo, zero),
                              _mm_unpacklo_epi16(w_hi, zero), _mm_unpackhi_epi16(w_hi, zero)};
        __m128i q[4];
        for (int g = 0; g < 4; g++) {
            const __m128 p = _mm_cvtepi32_ps(d[g]);
            __m128 v = _mm_add_ps(p, _mm_mul_ps(va, _mm_sub_ps(_mm_loadu_ps(col + k + 4 * g), p)));
            v = _mm_min_ps(_mm_max_ps(v, lo), hi);
            q[g] = _mm_cvttps_epi32(_mm_add_ps(v, half));
        }
        /* Values are in [0, 255]: the saturating packs are plain narrowings. */
        _mm_storeu_si128((__m128i *)(px + k),
                         _mm_packus_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3])));
    }
#endif
    for (; k < n; k++)
        px[k] = to_u8((float)px[k] + alpha * (col[k] - (float)px[k]));
}

int rc_blend_colors(const rc_gbuffer *gb, const int32_t *tris, int32_t n_tris, int32_t n_verts,
                    int32_t n_faces, const float *colors, int64_t color_face_stride, float alpha,
                    uint8_t *frame, int32_t frame_width, int32_t frame_height)
{
    if (gb->x0 < 0 || gb->y0 < 0 || (int64_t)gb->x0 + gb->width > frame_width ||
        (int64_t)gb->y0 + gb->height > frame_height)
        return RC_ERR_ARG;
    if (n_tris <= 0)
        return RC_OK;
    /* Two steps per chunk of a row: gather the interpolated colours (scalar:
     * every pixel reads its own triangle), then blend the whole chunk in a loop
     * the compiler vectorises. Uncovered pixels get their own frame value as
     * colour, which the blend returns unchanged (p + alpha * 0 = p). */
    enum { CHUNK = 128 };
    float col[3 * CHUNK];
    for (int32_t r = 0; r < gb->height; r++) {
        const int64_t gb_row = (int64_t)r * gb->width;
        uint8_t *out_row = frame + (((int64_t)gb->y0 + r) * frame_width + gb->x0) * 3;
        for (int32_t c0 = 0; c0 < gb->width; c0 += CHUNK) {
            const int32_t n = gb->width - c0 < CHUNK ? gb->width - c0 : CHUNK;
            uint8_t *px = out_row + 3 * (int64_t)c0;
            int any = 0;
            for (int32_t j = 0; j < n; j++) {
                const int64_t i = gb_row + c0 + j;
                float *cj = col + 3 * j;
                int32_t f;
                const int32_t *tri = winner(gb->tri_id[i], tris, n_tris, n_verts, n_faces, &f);
                if (!tri) {
                    cj[0] = (float)px[3 * j];
                    cj[1] = (float)px[3 * j + 1];
                    cj[2] = (float)px[3 * j + 2];
                    continue;
                }
                any = 1;
                const float b1 = gb->bary[2 * i], b2 = gb->bary[2 * i + 1], b0 = 1.0f - b1 - b2;
                const float *fc = colors + color_face_stride * f;
                const float *v0 = fc + 3 * (int64_t)tri[0];
                const float *v1 = fc + 3 * (int64_t)tri[1];
                const float *v2 = fc + 3 * (int64_t)tri[2];
                for (int k = 0; k < 3; k++)
                    cj[k] = 255.0f * (b0 * v0[k] + b1 * v1[k] + b2 * v2[k]);
            }
            if (!any)
                continue;
            blend_bytes(px, col, 3 * n, alpha);
        }
    }
    return RC_OK;
}

int rc_interpolate(const rc_gbuffer *gb, const int32_t *tris, int32_t n_tris, int32_t n_verts,
                   int32_t n_faces, const float *attrs, int64_t attr_face_stride, int32_t n_channels,
                   float *out)
{
    if (n_tris <= 0 || n_channels <= 0)
        return RC_OK;
    const int64_t n = (int64_t)gb->width * gb->height;
    for (int64_t i = 0; i < n; i++) {
        int32_t f;
        const int32_t *tri = winner(gb->tri_id[i], tris, n_tris, n_verts, n_faces, &f);
        if (!tri)
            continue;
        const float b1 = gb->bary[2 * i], b2 = gb->bary[2 * i + 1], b0 = 1.0f - b1 - b2;
        const float *fa = attrs + attr_face_stride * f;
        const float *a0 = fa + (int64_t)n_channels * tri[0];
        const float *a1 = fa + (int64_t)n_channels * tri[1];
        const float *a2 = fa + (int64_t)n_channels * tri[2];
        float *o = out + i * n_channels;
        for (int32_t k = 0; k < n_channels; k++)
            o[k] = b0 * a0[k] + b1 * a1[k] + b2 * a2[k];
    }
    return RC_OK;
}

/* Bilinear sample of a 3-channel uint8 image at (x, y), pixel centres on integers,
 * coordinates clamped to the image so edge pixels repeat. x, y must be finite. */
static void sample_bilinear(const uint8_t *img, int32_t w, int32_t h, double x, double y, uint8_t out[3])
{
    x = x < 0.0 ? 0.0 : (x > w - 1 ? w - 1 : x);
    y = y < 0.0 ? 0.0 : (y > h - 1 ? h - 1 : y);
    const int64_t xa = (int64_t)floor(x), ya = (int64_t)floor(y);
    const int64_t xb = xa + 1 < w ? xa + 1 : xa, yb = ya + 1 < h ? ya + 1 : ya;
    const float fx = (float)(x - (double)xa), fy = (float)(y - (double)ya);
    const uint8_t *p00 = img + (ya * w + xa) * 3, *p01 = img + (ya * w + xb) * 3;
    const uint8_t *p10 = img + (yb * w + xa) * 3, *p11 = img + (yb * w + xb) * 3;
    for (int k = 0; k < 3; k++) {
        const float top = p00[k] + fx * ((float)p01[k] - p00[k]);
        const float bottom = p10[k] + fx * ((float)p11[k] - p10[k]);
        out[k] = to_u8(top + fy * (bottom - top));
    }
}

int64_t rc_sample_texture(const rc_gbuffer *uv_gb, const rc_gbuffer *frame_gb,
                          const float *verts, int32_t n_verts, const int32_t *tris, int32_t n_tris,
                          const uint8_t *frame, int32_t frame_width, int32_t frame_height,
                          float depth_eps, float min_facing, uint8_t *texture, uint8_t *mask)
{
    if (frame_gb->x0 < 0 || frame_gb->y0 < 0 || (int64_t)frame_gb->x0 + frame_gb->width > frame_width ||
        (int64_t)frame_gb->y0 + frame_gb->height > frame_height)
        return RC_ERR_ARG;
    if (n_tris <= 0 || frame_width <= 0 || frame_height <= 0)
        return 0;
    int64_t visible = 0;
    const int64_t n = (int64_t)uv_gb->width * uv_gb->height;
    for (int64_t i = 0; i < n; i++) {
        int32_t f;
        const int32_t *tri = winner(uv_gb->tri_id[i], tris, n_tris, n_verts, 1, &f);
        if (!tri)
            continue;
        const double b1 = uv_gb->bary[2 * i], b2 = uv_gb->bary[2 * i + 1], b0 = 1.0 - b1 - b2;
        const float *v0 = verts + 3 * (int64_t)tri[0];
        const float *v1 = verts + 3 * (int64_t)tri[1];
        const float *v2 = verts + 3 * (int64_t)tri[2];
        /* Facing: |z| of the triangle's unit normal (NaN for degenerate or
         * non-finite triangles, which the negated test then rejects). */
        const double ux = (double)v1[0] - v0[0], uy = (double)v1[1] - v0[1], uz = (double)v1[2] - v0[2];
        const double wx = (double)v2[0] - v0[0], wy = (double)v2[1] - v0[1], wz = (double)v2[2] - v0[2];
        const double nx = uy * wz - uz * wy, ny = uz * wx - ux * wz, nz = ux * wy - uy * wx;
        if (!(fabs(nz) >= min_facing * sqrt(nx * nx + ny * ny + nz * nz)))
            continue;
        const double x = b0 * v0[0] + b1 * v1[0] + b2 * v2[0];
        const double y = b0 * v0[1] + b1 * v1[1] + b2 * v2[1];
        const double z = b0 * v0[2] + b1 * v1[2] + b2 * v2[2];
        if (!(isfinite(x) && isfinite(y) && isfinite(z)))
            continue;
        /* Nearest pixel, range-checked in double before converting to an integer. */
        const double cx = floor(x + 0.5) - frame_gb->x0, cy = floor(y + 0.5) - frame_gb->y0;
        if (!(cx >= 0.0 && cx < frame_gb->width && cy >= 0.0 && cy < frame_gb->height))
            continue;
        const int64_t p = (int64_t)cy * frame_gb->width + (int64_t)cx;
        if (frame_gb->tri_id[p] < 0 || z < (double)frame_gb->depth[p] - depth_eps)
            continue; /* occluded, or the pixel shows no face */
        sample_bilinear(frame, frame_width, frame_height, x, y, texture + 3 * i);
        mask[i] = 255;
        visible++;
    }
    return visible;
}
