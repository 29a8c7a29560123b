// Zero-phase IIR filtering with second-order sections, exactly as scipy.signal.sosfiltfilt
// (padtype="odd") computes it (SPEC §3.4). The recursion runs in f64: Butterworth poles sit
// close to the unit circle and an f32 state would drift by far more than f32 precision.
//
// One buffer, filtered in place: [padStart slots | n samples | padEnd slots]. A pad > 0 is
// scipy's odd extension of that end of the recording (scipy.signal._arraytools.odd_ext); a
// pad of 0 means "the recording continues beyond this buffer" and the pass simply starts
// there, from the steady state of the edge sample, which is what lets a long recording be
// filtered piece by piece with enough context around each piece (src/engine/filter.ts).

/**
 * Forward-backward filtering of `data` in place.
 * @param sos `sections` rows of 6 f64 [b0 b1 b2 a0 a1 a2], a0 = 1 (scipy.signal.butter output)
 * @param zi `sections` rows of 2 f64: scipy.signal.sosfilt_zi(sos), the state after a unit step
 * @param data f32 buffer of padStart + n + padEnd samples; the signal is at [padStart, padStart + n)
 * @param padStart odd-extension length before the signal (0: none), < n
 * @param padEnd odd-extension length after the signal (0: none), < n
 * @param state scratch of 2·sections f64
 */
export function sosFiltFilt(sos: usize, sections: i32, zi: usize, data: usize, padStart: i32, n: i32, padEnd: i32, state: usize): void {
  assert(n >= 1 && padStart >= 0 && padEnd >= 0 && padStart < n && padEnd < n, "padding must be shorter than the signal");
  oddExtend(data, padStart, n, padEnd);
  const length = padStart + n + padEnd;
  // scipy: y = sosfilt(sos, ext, zi=zi·ext[0]); y = sosfilt(sos, y[::-1], zi=zi·y[-1])[::-1]
  const last = sosPass(sos, sections, zi, state, data, length, load<f32>(data), false);
  sosPass(sos, sections, zi, state, data, length, last, true);
}

/** scipy odd_ext: 2·x[0] − x[k] before the signal and 2·x[n−1] − x[n−1−k] after, k = 1…pad. */
function oddExtend(data: usize, padStart: i32, n: i32, padEnd: i32): void {
  const x = data + (<usize>padStart << 2);
  const first = load<f32>(x);
  for (let k = 1; k <= padStart; k++) {
    store<f32>(x - (<usize>k << 2), 2 * first - load<f32>(x + (<usize>k << 2)));
  }
  const end = x + (<usize>(n - 1) << 2);
  const lastValue = load<f32>(end);
  for (let k = 1; k <= padEnd; k++) {
    store<f32>(end + (<usize>k << 2), 2 * lastValue - load<f32>(end - (<usize>k << 2)));
  }
}

/**
 * One sosfilt pass over `length` samples (backwards if `reverse`), in place, starting from
 * the state zi·x0. Direct form II transposed per section, as scipy's _sosfilt.pyx:
 *   y = b0·x + z0;  z0 = b1·x − a1·y + z1;  z1 = b2·x − a2·y.
 * Returns the last output in f64 (sosfiltfilt seeds the backward pass with it).
 */
function sosPass(sos: usize, sections: i32, zi: usize, state: usize, data: usize, length: i32, x0: f64, reverse: bool): f64 {
  for (let i = 0; i < sections * 2; i++) {
    store<f64>(state + (<usize>i << 3), load<f64>(zi + (<usize>i << 3)) * x0);
  }
  let y: f64 = 0;
  for (let j = 0; j < length; j++) {
    const p = data + (<usize>(reverse ? length - 1 - j : j) << 2);
    y = <f64>load<f32>(p);
    for (let s = 0; s < sections; s++) {
      const c = sos + (<usize>s * 48);
      const z = state + (<usize>s << 4);
      const x = y;
      y = load<f64>(c) * x + load<f64>(z);
      store<f64>(z, load<f64>(c, 8) * x - load<f64>(c, 32) * y + load<f64>(z, 8));
      store<f64>(z, load<f64>(c, 16) * x - load<f64>(c, 40) * y, 8);
    }
    store<f32>(p, <f32>y);
  }
  return y;
}
