/*
 * PCEN, dB and clamp (SPEC §3.6, 3.8, 3.9) on frame-major powers, for stft_fftw's "pcen-db" mode:
 * the native peer of sonotile's PCEN + dB + clamp pipeline, with SPEC §2's PCEN defaults and the
 * dB range [−100, 0].
 *
 * Compiled on its own with -ffast-math (scripts/build_fftw_bench.sh): that is what lets GCC call
 * glibc's vector math (libmvec: powf, log10f, eight lanes with AVX2) in these loops instead of
 * scalar libm — what a native program at its best does. The program is linked without it, so the
 * FFT and the rest keep IEEE semantics (no flush-to-zero).
 *
 * The same algebra as sonotile's kernels (assembly/pcen.ts): (eps + M)^−gain as one power, and at
 * power 0.5 expm1(log1p(a)/2) = a / (√(1 + a) + 1), a square root and a division.
 */
#include "pcen_db.h"
#include <math.h>

#define SMOOTH 0.025f
#define GAIN 0.98f
#define BIAS 2.0f
#define POWER 0.5f
#define EPS 1e-6f
#define DB_FLOOR 1e-10f
#define MIN_DB -100.0f
#define MAX_DB 0.0f

void pcen_init(const float *powers, float *state, long bins) {
  for (long k = 0; k < bins; k++) state[k] = powers[k];
}

void pcen_db_frame(float *powers, float *state, long bins) {
  const float offset = sqrtf(BIAS); /* bias^power */
  for (long k = 0; k < bins; k++) {
    float s = powers[k];
    float m = (1.0f - SMOOTH) * state[k] + SMOOTH * s;
    state[k] = m;
    float a = s * powf(EPS + m, -GAIN) / BIAS;
    float p = offset * (a / (sqrtf(1.0f + a) + 1.0f));
    float db = 10.0f * log10f(fmaxf(p, DB_FLOOR));
    powers[k] = fminf(fmaxf(db, MIN_DB), MAX_DB);
  }
}
