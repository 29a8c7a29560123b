#!/bin/sh
# Builds the native FFTW peers of `npm run bench` (SPEC §9) — bench/native/stft_fftw.c (the
# STFT power pipeline, and with bench/native/pcen_db.c its PCEN + dB + clamp mode) and
# bench/native/fft_fftw.c (single transforms), both with bench/native/bench.h — next to their
# sources (git-ignored build output). Needs a C compiler
# and Debian's libfftw3-dev (single-precision fftwf); installs the latter with apt-get when it
# is missing and we are root. Exit status 0 when both binaries are up to date.
set -eu
cd "$(dirname "$0")/.."

if [ ! -f /usr/include/fftw3.h ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y libfftw3-dev >&2
  else
    echo "build_fftw_bench: libfftw3-dev is missing (apt-get install libfftw3-dev)" >&2
    exit 1
  fi
fi

# Whether the binary $1 is missing or older than any file after it, bench/native/bench.h or this script.
stale() {
  out=$1; shift
  [ -x "$out" ] || return 0
  for f in "$@" bench/native/bench.h "$0"; do [ "$out" -nt "$f" ] || return 0; done
  return 1
}

# -march=native: FFTW's own kernels pick AVX/AVX2 at run time; this lets the framing and power
# loops of the C programs use them too, as a native pipeline would. pcen_db.c alone gets
# -ffast-math, which is what lets GCC call glibc's vector powf/log10f (libmvec) there; the
# programs are linked without it, so nothing else runs with flush-to-zero.
native="bench/native"
if stale $native/stft_fftw $native/stft_fftw.c $native/pcen_db.c $native/pcen_db.h; then
  ${CC:-cc} -O3 -march=native -ffast-math -c -o $native/pcen_db.o $native/pcen_db.c
  ${CC:-cc} -O3 -march=native -o $native/stft_fftw $native/stft_fftw.c $native/pcen_db.o -lfftw3f -lm
  rm -f $native/pcen_db.o
  echo "built $native/stft_fftw" >&2
fi
if stale $native/fft_fftw $native/fft_fftw.c; then
  ${CC:-cc} -O3 -march=native -o $native/fft_fftw $native/fft_fftw.c -lfftw3f -lm
  echo "built $native/fft_fftw" >&2
fi
