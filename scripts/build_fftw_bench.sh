#!/bin/sh
# Builds the native FFTW peer of `npm run bench` (bench/native/stft_fftw.c, SPEC §9) into
# bench/native/stft_fftw (git-ignored build output). Needs a C compiler and Debian's
# libfftw3-dev (single-precision fftwf); installs the latter with apt-get when it is missing
# and we are root. Exit status 0 when the binary is up to date.
set -eu
cd "$(dirname "$0")/.."
src=bench/native/stft_fftw.c
out=bench/native/stft_fftw

if [ ! -f /usr/include/fftw3.h ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y libfftw3-dev >&2
  else
    echo "build_fftw_bench: libfftw3-dev is missing (apt-get install libfftw3-dev)" >&2
    exit 1
  fi
fi

if [ -x "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then exit 0; fi
# -march=native: FFTW's own kernels pick AVX/AVX2 at run time; this lets the framing and power
# loops of the C program use them too, as a native pipeline would.
${CC:-cc} -O3 -march=native -o "$out" "$src" -lfftw3f -lm
echo "built $out" >&2
