/* Dense 3DMM reconstruction into image space from a float16 basis (see morph.c). */
#ifndef RENDER_C_MORPH_H
#define RENDER_C_MORPH_H

#include <stdint.h>

/* basis: (ceil(n/8), k, 3, 8) float16 bits; mean: (ceil(n/8), 3, 8) float32;
 * coef: (k,) float32 already multiplied by the per-column scales;
 * camera: (3, 4) float32 row-major, model -> image; out: (n, 3) float32.
 * Returns 0, or -1 on invalid sizes. use_simd = 0 forces the portable path. */
int morph_reconstruct(const uint16_t *basis, const float *mean, int64_t n, int32_t k, const float *coef,
                      const float *camera, int use_simd, float *out);

/* 1 when this CPU runs the AVX2/F16C path. */
int morph_simd_available(void);

#endif
