/*
 * Native FFTW reference for the real-FFT part of sonotile's benchmark (issue 7 "within reach of
 * native code"): single-precision r2c transforms of one length, FFTW_MEASURE plans, one thread,
 * buffers allocated once — the counterpart of sonotile's "kernel" row (the transform alone on
 * buffers already in WebAssembly memory).
 *
 * Planning with FFTW_MEASURE takes up to a second at lengths like 7812, and the bench calls this
 * program once per round: the plans go to a wisdom file that the next call reads back, so only
 * the first call of a length plans.
 *
 * Usage: fft_fftw SECONDS WISDOM N...
 *   SECONDS  how long to time each length (after a warm-up of a tenth of that)
 *   WISDOM   FFTW wisdom file, read when it exists and rewritten with this call's plans
 * Prints one JSON line: {"rates": {"N": transforms per second, ...}, "plan_s": seconds planning}.
 */
#define PROGRAM "fft_fftw"
#include "bench.h"
#include <fftw3.h>
#include <math.h>

/* Transforms per second of `plan` over at least `seconds`, in batches that each take ≥ 1 ms. */
static double rate(fftwf_plan plan, double seconds) {
  long batch = 1, count = 0;
  double t0 = now_s(), elapsed;
  for (;;) {
    double b0 = now_s();
    for (long i = 0; i < batch; i++) fftwf_execute(plan);
    count += batch;
    elapsed = now_s() - t0;
    if (elapsed >= seconds) break;
    if (now_s() - b0 < 1e-3) batch *= 2;
  }
  return (double)count / elapsed;
}

int main(int argc, char **argv) {
  if (argc < 4) die("usage: fft_fftw SECONDS WISDOM N...");
  double seconds = atof(argv[1]);
  const char *wisdom = argv[2];
  if (!(seconds > 0)) die("SECONDS must be a positive number");
  for (int a = 3; a < argc; a++) if (atoi(argv[a]) < 2) die("every N must be an integer ≥ 2");
  fftwf_import_wisdom_from_filename(wisdom); /* 0 when the file does not exist yet: plan afresh */

  double plan_s = 0;
  printf("{\"rates\":{");
  for (int a = 3; a < argc; a++) {
    int n = atoi(argv[a]);
    float *in = fftwf_malloc((size_t)n * sizeof(float));
    fftwf_complex *out = fftwf_malloc((size_t)(n / 2 + 1) * sizeof(fftwf_complex));
    if (!in || !out) die("out of memory");
    double p0 = now_s();
    fftwf_plan plan = fftwf_plan_dft_r2c_1d(n, in, out, FFTW_MEASURE);
    plan_s += now_s() - p0;
    /* The bench's test frame (bench/fft.ts testInput), filled after planning: MEASURE overwrites. */
    for (int i = 0; i < n; i++) in[i] = (float)(sin(0.37 * i) + 0.25 * cos(1.7 * i));
    rate(plan, seconds / 10);
    printf("%s\"%d\":%.1f", a > 3 ? "," : "", n, rate(plan, seconds));
    fftwf_destroy_plan(plan);
    fftwf_free(in); fftwf_free(out);
  }
  printf("},\"plan_s\":%.6f}\n", plan_s);
  if (!fftwf_export_wisdom_to_filename(wisdom)) die("cannot write the wisdom file");
  return 0;
}
