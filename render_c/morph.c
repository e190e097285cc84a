/* Dense 3DMM reconstruction straight into image space.
 *
 * out[i] = A @ (mean[i] + sum_k W[i, :, k] * c[k]) + b, then z -= min(z).
 *
 * The (3n x 50) basis is 23 MB in float32, and a matrix-vector product over it is
 * bound by memory bandwidth, not arithmetic. Storing it as float16 halves the bytes
 * read per frame; per-column scales (folded into the coefficients by the caller)
 * keep every column inside float16's range, and its 11-bit mantissa keeps the error
 * near 1e-5 of the face size (hundredths of a pixel on a 700 px face). The layout is "structure of arrays" in groups
 * of 8 vertices: for group g and column c, the x rows of its 8 vertices, then the y
 * and the z rows, so one 8-wide FMA per axis updates 8 vertices without horizontal
 * sums, a group is one sequential 2,400-byte read (one stream, which the hardware
 * prefetcher follows: software prefetching measured slower),
 * and the affine map is applied in registers.
 */
#include "morph.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define GROUP 8

/* Portable float16 -> float32 (IEEE 754 binary16), used where F16C is missing. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exponent = 127 - 15 + 1;
            while ((mantissa & 0x400u) == 0) {
                mantissa <<= 1;
                exponent--;
            }
            mantissa &= 0x3ffu;
            bits = sign | (exponent << 23) | (mantissa << 13);
        }
    } else if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Reference path: any CPU. The same arithmetic, in the same order, as the SIMD path
 * per lane: two partial sums per axis (even and odd columns), added at the end. */
static void reconstruct_generic(const uint16_t *basis, const float *mean, int64_t n_groups, int32_t k,
                                const float *coef, const float *camera, float *out, int64_t n)
{
    for (int64_t g = 0; g < n_groups; g++) {
        const uint16_t *wg = basis + (size_t)g * (size_t)k * 3 * GROUP;
        const float *mg = mean + (size_t)g * 3 * GROUP;
        for (int lane = 0; lane < GROUP; lane++) {
            int64_t v = g * GROUP + lane;
            if (v >= n)
                break;
            float s[3];
            for (int axis = 0; axis < 3; axis++) {
                float even = mg[axis * GROUP + lane], odd = 0.0f;
                const uint16_t *w = wg + (size_t)axis * GROUP + lane;
                int32_t c = 0;
                for (; c + 1 < k; c += 2) {
                    even = fmaf(half_to_float(w[(size_t)c * 3 * GROUP]), coef[c], even);
                    odd = fmaf(half_to_float(w[(size_t)(c + 1) * 3 * GROUP]), coef[c + 1], odd);
                }
                if (c < k)
                    even = fmaf(half_to_float(w[(size_t)c * 3 * GROUP]), coef[c], even);
                s[axis] = even + odd;
            }
            for (int r = 0; r < 3; r++) {
                const float *row = camera + 4 * r;
                out[3 * v + r] = fmaf(row[0], s[0], fmaf(row[1], s[1], fmaf(row[2], s[2], row[3])));
            }
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c")))
static inline __m256 load_half8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

__attribute__((target("avx2,fma,f16c")))
static void reconstruct_avx2(const uint16_t *basis, const float *mean, int64_t n_groups, int32_t k,
                             const float *coef, const float *camera, float *out, int64_t n)
{
    __m256 cam[12];
    for (int i = 0; i < 12; i++)
        cam[i] = _mm256_set1_ps(camera[i]);
    const size_t group_halves = (size_t)k * 3 * GROUP;
    for (int64_t g = 0; g < n_groups; g++) {
        const uint16_t *wg = basis + (size_t)g * group_halves;
        const float *mg = mean + (size_t)g * 3 * GROUP;
        /* six independent FMA chains (x, y, z; even and odd columns) hide the FMA latency */
        __m256 ex = _mm256_loadu_ps(mg), ey = _mm256_loadu_ps(mg + GROUP), ez = _mm256_loadu_ps(mg + 2 * GROUP);
        __m256 ox = _mm256_setzero_ps(), oy = _mm256_setzero_ps(), oz = _mm256_setzero_ps();
        int32_t c = 0;
        for (; c + 1 < k; c += 2) {
            const uint16_t *w = wg + (size_t)c * 3 * GROUP;
            __m256 ce = _mm256_set1_ps(coef[c]), co = _mm256_set1_ps(coef[c + 1]);
            ex = _mm256_fmadd_ps(load_half8(w), ce, ex);
            ey = _mm256_fmadd_ps(load_half8(w + GROUP), ce, ey);
            ez = _mm256_fmadd_ps(load_half8(w + 2 * GROUP), ce, ez);
            ox = _mm256_fmadd_ps(load_half8(w + 3 * GROUP), co, ox);
            oy = _mm256_fmadd_ps(load_half8(w + 4 * GROUP), co, oy);
            oz = _mm256_fmadd_ps(load_half8(w + 5 * GROUP), co, oz);
        }
        if (c < k) {
            const uint16_t *w = wg + (size_t)c * 3 * GROUP;
            __m256 ce = _mm256_set1_ps(coef[c]);
            ex = _mm256_fmadd_ps(load_half8(w), ce, ex);
            ey = _mm256_fmadd_ps(load_half8(w + GROUP), ce, ey);
            ez = _mm256_fmadd_ps(load_half8(w + 2 * GROUP), ce, ez);
        }
        __m256 s[3] = {_mm256_add_ps(ex, ox), _mm256_add_ps(ey, oy), _mm256_add_ps(ez, oz)};
        float res[3][GROUP];
        for (int r = 0; r < 3; r++) {
            __m256 v = _mm256_fmadd_ps(cam[4 * r], s[0],
                       _mm256_fmadd_ps(cam[4 * r + 1], s[1],
                       _mm256_fmadd_ps(cam[4 * r + 2], s[2], cam[4 * r + 3])));
            _mm256_storeu_ps(res[r], v);
        }
        int64_t base = g * GROUP;
        int lanes = (int)((n - base) < GROUP ? (n - base) : GROUP);
        for (int lane = 0; lane < lanes; lane++) {
            out[3 * (base + lane) + 0] = res[0][lane];
            out[3 * (base + lane) + 1] = res[1][lane];
            out[3 * (base + lane) + 2] = res[2][lane];
        }
    }
}

static int cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
#endif

int morph_simd_available(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return cpu_has_avx2();
#else
    return 0;
#endif
}

int morph_reconstruct(const uint16_t *basis, const float *mean, int64_t n, int32_t k, const float *coef,
                      const float *camera, int use_simd, float *out)
{
    if (n <= 0 || k <= 0)
        return -1;
    int64_t n_groups = (n + GROUP - 1) / GROUP;
#if defined(__x86_64__) || defined(__i386__)
    if (use_simd && cpu_has_avx2())
        reconstruct_avx2(basis, mean, n_groups, k, coef, camera, out, n);
    else
        reconstruct_generic(basis, mean, n_groups, k, coef, camera, out, n);
#else
    (void)use_simd;
    reconstruct_generic(basis, mean, n_groups, k, coef, camera, out, n);
#endif
    /* Upstream convention: depth is shifted so the nearest-to-back point has z = 0. */
    float zmin = FLT_MAX;
    for (int64_t v = 0; v < n; v++)
        zmin = out[3 * v + 2] < zmin ? out[3 * v + 2] : zmin;
    for (int64_t v = 0; v < n; v++)
        out[3 * v + 2] -= zmin;
    return 0;
}
