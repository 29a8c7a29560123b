/*
 * Native FFTW reference for sonotile's benchmark (SPEC §9, issue 7): the STFT power pipeline of
 * scipy.signal.stft(x, fs, "hann", nperseg, noverlap, boundary="zeros", padded=True,
 * scaling="psd") followed by |Z|², single precision, one thread.
 *
 * Same work as the JavaScript pipelines in bench/: frame i reads x[i·hop − nperseg/2 + j]
 * (zeros outside the signal), multiplies by the periodic Hann window pre-scaled by
 * sqrt(1 / (fs · Σw²)) (scipy's "psd" scaling), runs an FFTW r2c transform (FFTW_MEASURE
 * plan), and writes |X_k|² to out[k · frames + i] — the [bins][frames] layout of sonotile.
 *
 * The layout change goes through a cache-sized chunk, as in sonotile's core (src/engine/analysis.ts,
 * CHUNK_VALUES): the powers of 2^17 / bins frames are kept frame-major, then copied out a row at a
 * time. Storing each frame's powers straight into the output's rows, one store per row and frame
 * (this program's first version), took 1.0–1.9× as long at N = 1024 and 1.4–2.8× at N = 9600 in
 * four alternated pairs of runs on a noisy VM (600 s at 48 kHz: 0.091–0.123 s against 0.064–0.095
 * s; 60 s at 384 kHz: 0.114–0.174 s against 0.061–0.095 s).
 *
 * The output is allocated once and touched by an untimed warm-up run: on this VM first-touching
 * fresh memory costs about as much as the whole STFT, and every pipeline is timed writing into
 * a buffer it already owns.
 *
 * With MODE "pcen-db" each chunk's powers then go through PCEN, dB and clamp (bench/native/pcen_db.c)
 * before the copy out, the smoother state carried from chunk to chunk: the native peer of
 * sonotile's PCEN + dB + clamp pipeline.
 *
 * Usage: stft_fftw SIGNAL.f32 SAMPLERATE NPERSEG HOP REPEATS [power|pcen-db]
 *   SIGNAL.f32  raw little-endian float32 mono samples
 * Prints one JSON line: {"frames", "bins", "plan_s", "times_s": [...], "checksum"}.
 */
#define PROGRAM "stft_fftw"
#include "bench.h"
#include "pcen_db.h"
#include <fftw3.h>
#include <math.h>
#include <string.h>

/* Frame count of scipy.signal.stft with boundary="zeros", padded=True (src/engine/geometry.ts). */
static long frame_count(long samples, long nperseg, long hop) {
  long half = nperseg / 2;
  long padded = samples + 2 * half;
  long extra = ((-(padded - nperseg)) % hop + hop) % hop;
  extra %= nperseg;
  padded += extra;
  return (padded - nperseg) / hop + 1;
}

/* Values per chunk of frames (the core's CHUNK_VALUES): a chunk's powers are still in cache when copied out. */
#define CHUNK_VALUES 131072

/*
 * One STFT power pass over the whole signal into out[bins][frames], through chunk[chunk_frames][bins];
 * with a PCEN smoother `state` (bins floats), PCEN + dB + clamp on each frame's powers as well.
 */
static void stft_power(const float *x, long samples, const float *window, long nperseg, long hop, long frames,
                       fftwf_plan plan, float *frame, fftwf_complex *spectrum, float *chunk, long chunk_frames,
                       float *state, float *out) {
  long bins = nperseg / 2 + 1, half = nperseg / 2;
  for (long i0 = 0; i0 < frames; i0 += chunk_frames) {
    long count = frames - i0 < chunk_frames ? frames - i0 : chunk_frames;
    for (long c = 0; c < count; c++) {
      long start = (i0 + c) * hop - half;
      if (start >= 0 && start + nperseg <= samples) {
        for (long j = 0; j < nperseg; j++) frame[j] = x[start + j] * window[j];
      } else {
        for (long j = 0; j < nperseg; j++) {
          long s = start + j;
          frame[j] = (s >= 0 && s < samples) ? x[s] * window[j] : 0.0f;
        }
      }
      fftwf_execute_dft_r2c(plan, frame, spectrum);
      float *powers = chunk + c * bins;
      for (long k = 0; k < bins; k++) {
        float re = spectrum[k][0], im = spectrum[k][1];
        powers[k] = re * re + im * im;
      }
      if (state) {
        if (i0 + c == 0) pcen_init(powers, state, bins);
        pcen_db_frame(powers, state, bins);
      }
    }
    for (long k = 0; k < bins; k++) {
      float *row = out + k * frames + i0;
      for (long c = 0; c < count; c++) row[c] = chunk[c * bins + k];
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 6 && argc != 7) die("usage: stft_fftw SIGNAL.f32 SAMPLERATE NPERSEG HOP REPEATS [power|pcen-db]");
  const char *mode = argc == 7 ? argv[6] : "power";
  if (strcmp(mode, "power") != 0 && strcmp(mode, "pcen-db") != 0) die("MODE must be power or pcen-db");
  int pcen_db = strcmp(mode, "pcen-db") == 0;
  double fs = atof(argv[2]);
  long nperseg = atol(argv[3]), hop = atol(argv[4]), repeats = atol(argv[5]);
  if (!(fs > 0) || nperseg < 2 || hop < 1 || hop > nperseg || repeats < 1) die("bad numeric argument");

  FILE *f = fopen(argv[1], "rb");
  if (!f) die("cannot open the signal file");
  fseek(f, 0, SEEK_END);
  long samples = ftell(f) / (long)sizeof(float);
  fseek(f, 0, SEEK_SET);
  if (samples < 1) die("empty signal file");
  float *x = malloc((size_t)samples * sizeof(float));
  if (!x || fread(x, sizeof(float), (size_t)samples, f) != (size_t)samples) die("cannot read the signal file");
  fclose(f);

  long bins = nperseg / 2 + 1, frames = frame_count(samples, nperseg, hop);
  /* Periodic Hann (scipy.signal.get_window("hann", n)), computed in double, pre-scaled for "psd". */
  float *window = fftwf_malloc((size_t)nperseg * sizeof(float));
  double *w = malloc((size_t)nperseg * sizeof(double)), energy = 0;
  for (long j = 0; j < nperseg; j++) {
    w[j] = 0.5 - 0.5 * cos(2.0 * M_PI * (double)j / (double)nperseg);
    energy += w[j] * w[j];
  }
  double scale = sqrt(1.0 / (fs * energy));
  for (long j = 0; j < nperseg; j++) window[j] = (float)(w[j] * scale);
  free(w);

  float *frame = fftwf_malloc((size_t)nperseg * sizeof(float));
  fftwf_complex *spectrum = fftwf_malloc((size_t)bins * sizeof(fftwf_complex));
  long chunk_frames = CHUNK_VALUES / bins > 1 ? CHUNK_VALUES / bins : 1;
  float *chunk = malloc((size_t)chunk_frames * (size_t)bins * sizeof(float));
  float *out = malloc((size_t)bins * (size_t)frames * sizeof(float));
  float *state = pcen_db ? malloc((size_t)bins * sizeof(float)) : NULL;
  if (!window || !frame || !spectrum || !chunk || !out || (pcen_db && !state)) die("out of memory");

  double t0 = now_s();
  fftwf_plan plan = fftwf_plan_dft_r2c_1d((int)nperseg, frame, spectrum, FFTW_MEASURE);
  double plan_s = now_s() - t0;

  stft_power(x, samples, window, nperseg, hop, frames, plan, frame, spectrum, chunk, chunk_frames, state, out); /* warm-up, first touch */
  printf("{\"frames\":%ld,\"bins\":%ld,\"plan_s\":%.6f,\"times_s\":[", frames, bins, plan_s);
  for (long r = 0; r < repeats; r++) {
    double t = now_s();
    stft_power(x, samples, window, nperseg, hop, frames, plan, frame, spectrum, chunk, chunk_frames, state, out);
    printf("%s%.6f", r ? "," : "", now_s() - t);
  }
  /* Σ_k (k+1)·Σ_i S[k][i], as checksum() in bench/lib/pipelines.ts (catches misplaced bins). */
  double checksum = 0;
  for (long k = 0; k < bins; k++) {
    double row = 0;
    for (long i = 0; i < frames; i++) row += out[k * frames + i];
    checksum += (double)(k + 1) * row;
  }
  printf("],\"checksum\":%.10e}\n", checksum);

  fftwf_destroy_plan(plan);
  fftwf_free(window); fftwf_free(frame); fftwf_free(spectrum);
  free(chunk); free(out); free(x); free(state);
  return 0;
}
