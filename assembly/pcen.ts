// Per-channel energy normalization (SPEC §3.6; Wang et al., "Trainable frontend for robust
// and far-field keyword spotting", ICASSP 2017, eq. 1–2):
//   M[t] = (1 − s)·M[t−1] + s·S[t]
//   P[t] = bias^power · expm1(power · log1p(S[t] · (eps + M[t])^(−gain) / bias))
// The expm1/log1p form equals (S/(eps+M)^gain + bias)^power − bias^power without the
// cancellation that form suffers for small S.
//
// The smoother state M (one value per bin) lives with the caller, so a recording can be
// processed in blocks — or resumed from a checkpoint — with the result of one pass.

/** M[k] = S[0][k]: the steady state on the first frame (SPEC: M[−1] = S[0], no bright onset). */
export function pcenInitState(spectrum: usize, bins: i32, state: usize): void {
  memory.copy(state, spectrum, <usize>bins << 2);
}

/**
 * Applies PCEN in place to `frames` frame-major rows of `bins` values at `spectrum`, carrying
 * the smoother `state` (bins f32) from the previous block and leaving it at the last frame.
 */
export function pcenApply(spectrum: usize, frames: i32, bins: i32, state: usize, smooth: f32, gain: f32, bias: f32, power: f32, eps: f32): void {
  const keep: f32 = 1 - smooth;
  const offset: f32 = Mathf.pow(bias, power);
  const invBias: f32 = 1 / bias;
  for (let t = 0; t < frames; t++) {
    const row = spectrum + ((<usize>t * <usize>bins) << 2);
    for (let k = 0; k < bins; k++) {
      const s = load<f32>(row + (<usize>k << 2));
      const m = keep * load<f32>(state + (<usize>k << 2)) + smooth * s;
      store<f32>(state + (<usize>k << 2), m);
      const agc = s * Mathf.exp(-gain * Mathf.log(eps + m)) * invBias;
      store<f32>(row + (<usize>k << 2), offset * Mathf.expm1(power * Mathf.log1p(agc)));
    }
  }
}
