#!/bin/sh
# Builds the native FFTW peers of `npm run bench` (SPEC §9) — bench/native/stft_fftw.c (the
# STFT power pipeline) and bench/native/fft_fftw.c (single transforms), both with
# bench/native/bench.h — next to their sources (git-ignored build output). Needs a C compiler
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

for name in stft_fftw fft_fftw; do
  src=bench/native/$name.c
  out=bench/native/$name
  if [ -x "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt bench/native/bench.h ] && [ "$out" -nt "$0" ]; then continue; fi
  # -march=native: FFTW's own kernels pick AVX/AVX2 at run time; this lets the framing and power
  # loops of the C programs use them too, as a native pipeline would.
  ${CC:-cc} -O3 -march=native -o "$out" "$src" -lfftw3f -lm
  echo "built $out" >&2
done
