// Analysis windows, exactly scipy.signal.get_window(name, n) with its default fftbins=True
// (SPEC §3.5): the *periodic* window, i.e. scipy's symmetric window of length M = n + 1 with
// the last sample dropped (scipy.signal.windows._extend / _truncate). Every formula below is
// scipy 1.10's scipy/signal/windows/_windows.py evaluated at that M, in f64, stored as f32.

// `kind` is the index into WINDOWS of src/engine/params.ts; keep both lists in the same order.
const BOXCAR = 0;
const TRIANG = 1;
const BARTLETT = 2;
const FLATTOP = 3;
const PARZEN = 4;
const BOHMAN = 5;
const BLACKMAN = 6;
const BLACKMANHARRIS = 7;
const NUTTALL = 8;
const BARTHANN = 9;
const HAMMING = 10;
const HANN = 11;
const KAISER = 12;

/**
 * Writes the periodic window `kind` of length `n` (≥ 1) as n f32 at `output`.
 * `beta` is the kaiser shape parameter (ignored by the other windows).
 * scipy returns ones for n = 1 (windows._len_guards); so do we, for every kind.
 */
export function windowFill(kind: i32, n: i32, beta: f64, output: usize): void {
  checkWindow(kind, n);
  for (let i = 0; i < n; i++) {
    store<f32>(output + (<usize>i << 2), n == 1 ? 1.0 : <f32>windowValue(kind, i, n + 1, beta));
  }
}

/**
 * Writes window `kind` of length `n` as n f64 at `output`: periodic as windowFill, or the
 * symmetric form (scipy's sym=True / get_window(..., fftbins=False)) if `symmetric` is non-zero,
 * which is what FIR design (scipy.signal.firwin) uses.
 */
export function windowFillF64(kind: i32, n: i32, beta: f64, symmetric: i32, output: usize): void {
  checkWindow(kind, n);
  const m = symmetric ? n : n + 1;
  for (let i = 0; i < n; i++) {
    store<f64>(output + (<usize>i << 3), n == 1 ? 1.0 : windowValue(kind, i, m, beta));
  }
}

function checkWindow(kind: i32, n: i32): void {
  assert(n >= 1, "window length must be >= 1");
  assert(kind >= BOXCAR && kind <= KAISER, "unknown window kind");
}

/** Sample i of scipy's symmetric window of length m ≥ 2. */
function windowValue(kind: i32, i: i32, m: i32, beta: f64): f64 {
  const x = <f64>i;
  const last = <f64>(m - 1);
  switch (kind) {
    case BOXCAR: return 1.0;
    case TRIANG: return triang(i, m);
    case BARTLETT: // 2n/(M-1) up to the middle, 2 - 2n/(M-1) after
      return x <= last / 2 ? 2 * x / last : 2 - 2 * x / last;
    case FLATTOP: return generalCosine5(x, last, 0.21557895, 0.41663158, 0.277263158, 0.083578947, 0.006947368);
    case PARZEN: return parzen(x, m);
    case BOHMAN: return bohman(i, m);
    case BLACKMAN: return generalCosine5(x, last, 0.42, 0.5, 0.08, 0, 0);
    case BLACKMANHARRIS: return generalCosine5(x, last, 0.35875, 0.48829, 0.14128, 0.01168, 0);
    case NUTTALL: return generalCosine5(x, last, 0.3635819, 0.4891775, 0.1365995, 0.0106411, 0);
    case BARTHANN: { // 0.62 - 0.48|n/(M-1) - 1/2| + 0.38 cos(2π |n/(M-1) - 1/2|)
      const f = Math.abs(x / last - 0.5);
      return 0.62 - 0.48 * f + 0.38 * Math.cos(2 * Math.PI * f);
    }
    case HAMMING: return generalCosine5(x, last, 0.54, 0.46, 0, 0, 0);
    case HANN: return generalCosine5(x, last, 0.5, 0.5, 0, 0, 0);
    default: return kaiser(x, last, beta);
  }
}

/**
 * scipy.signal.windows.general_cosine: Σ a_k cos(k·f) with f = linspace(-π, π, M)[i]
 * (numpy's linspace: start + i·step). Unused coefficients are 0.
 */
function generalCosine5(x: f64, last: f64, a0: f64, a1: f64, a2: f64, a3: f64, a4: f64): f64 {
  const f = -Math.PI + x * (2 * Math.PI / last);
  return a0 + a1 * Math.cos(f) + a2 * Math.cos(2 * f) + a3 * Math.cos(3 * f) + a4 * Math.cos(4 * f);
}

/** scipy triang: (2k-1)/M (M even) or 2k/(M+1) (M odd) for k = 1..ceil(M/2), mirrored. */
function triang(i: i32, m: i32): f64 {
  const half = (m + 1) / 2; // entries in the rising half
  const k = i < half ? i + 1 : m - i; // 1-based position counted from the nearer end
  return (m & 1) == 0 ? (2.0 * k - 1.0) / m : 2.0 * k / (m + 1.0);
}

/**
 * scipy parzen on n = -(M-1)/2 … (M-1)/2: 1 - 6(|n|/(M/2))² + 6(|n|/(M/2))³ for |n| ≤ (M-1)/4,
 * 2(1 - |n|/(M/2))³ outside.
 */
function parzen(x: f64, m: i32): f64 {
  const a = Math.abs(x - (m - 1) / 2.0);
  const r = a / (m / 2.0);
  if (a <= (m - 1) / 4.0) return 1 - 6 * Math.pow(r, 2.0) + 6 * Math.pow(r, 3.0);
  return 2 * Math.pow(1 - r, 3.0);
}

/** scipy bohman: (1-f)cos(πf) + sin(πf)/π with f = |linspace(-1, 1, M)[i]|, zero at both ends. */
function bohman(i: i32, m: i32): f64 {
  if (i == 0 || i == m - 1) return 0;
  const f = Math.abs(-1.0 + <f64>i * (2.0 / <f64>(m - 1)));
  return (1 - f) * Math.cos(Math.PI * f) + Math.sin(Math.PI * f) / Math.PI;
}

/**
 * scipy kaiser: I0(β·sqrt(1 - ((n-α)/α)²)) / I0(β), α = (M-1)/2. Evaluated as
 * i0e(a)/i0e(β)·exp(a-β), which equals the ratio but stays finite for β beyond I0's f64 range.
 */
function kaiser(x: f64, last: f64, beta: f64): f64 {
  const alpha = last / 2;
  const r = (x - alpha) / alpha;
  const a = beta * Math.sqrt(Math.max(0, 1 - r * r));
  return i0e(a) / i0e(beta) * Math.exp(a - beta);
}

// Cephes i0e (Moshier), as numpy.i0 uses it: Chebyshev series for exp(-x)·I0(x) on [0, 8]
// and exp(-x)·sqrt(x)·I0(x) on (8, ∞). Coefficients from numpy/lib/function_base.py.
const I0E_A: StaticArray<f64> = [
  -4.41534164647933937950e-18, 3.33079451882223809783e-17, -2.43127984654795469359e-16,
  1.71539128555513303061e-15, -1.16853328779934516808e-14, 7.67618549860493561688e-14,
  -4.85644678311192946090e-13, 2.95505266312963983461e-12, -1.72682629144155570723e-11,
  9.67580903537323691224e-11, -5.18979560163526290666e-10, 2.65982372468238665035e-9,
  -1.30002500998624804212e-8, 6.04699502254191894932e-8, -2.67079385394061173391e-7,
  1.11738753912010371815e-6, -4.41673835845875056359e-6, 1.64484480707288970893e-5,
  -5.75419501008210370398e-5, 1.88502885095841655729e-4, -5.76375574538582365885e-4,
  1.63947561694133579842e-3, -4.32430999505057594430e-3, 1.05464603945949983183e-2,
  -2.37374148058994688156e-2, 4.93052842396707084878e-2, -9.49010970480476444210e-2,
  1.71620901522208775349e-1, -3.04682672343198398683e-1, 6.76795274409476084995e-1,
];
const I0E_B: StaticArray<f64> = [
  -7.23318048787475395456e-18, -4.83050448594418207126e-18, 4.46562142029675999901e-17,
  3.46122286769746109310e-17, -2.82762398051658348494e-16, -3.42548561967721913462e-16,
  1.77256013305652638360e-15, 3.81168066935262242075e-15, -9.55484669882830764870e-15,
  -4.15056934728722208663e-14, 1.54008621752140982691e-14, 3.85277838274214270114e-13,
  7.18012445138366623367e-13, -1.79417853150680611778e-12, -1.32158118404477131188e-11,
  -3.14991652796324136454e-11, 1.18891471078464383424e-11, 4.94060238822496958910e-10,
  3.39623202570838634515e-9, 2.26666899049817806459e-8, 2.04891858946906374183e-7,
  2.89137052083475648297e-6, 6.88975834691682398426e-5, 3.36911647825569408990e-3,
  8.04490411014108831608e-1,
];

/** Clenshaw evaluation of a Cephes Chebyshev series (chbevl). */
function chbevl(x: f64, c: StaticArray<f64>): f64 {
  let b0 = unchecked(c[0]);
  let b1 = 0.0;
  let b2 = 0.0;
  for (let i = 1; i < c.length; i++) {
    b2 = b1;
    b1 = b0;
    b0 = x * b1 - b2 + unchecked(c[i]);
  }
  return 0.5 * (b0 - b2);
}

/** exp(-|x|)·I0(x), the exponentially scaled modified Bessel function of order 0. */
function i0e(x: f64): f64 {
  const a = Math.abs(x);
  if (a <= 8) return chbevl(a / 2 - 2, I0E_A);
  return chbevl(32 / a - 2, I0E_B) / Math.sqrt(a);
}
