#!/usr/bin/python3
"""Coefficients of the log2 and 2^y kernels in assembly/vmath.ts (log2f4, exp2f4).

Both are minimax fits, made by Lawson's iteratively reweighted least squares on Chebyshev-spaced
points, minimising the largest relative error of the function itself; the float32-rounded
coefficients are what the kernels use, so their errors are checked after rounding.

- log2: with x = 2^e·(1 + t), t ∈ [√½ − 1, √2 − 1], and s = t/(2 + t), |s| ≤ (√2 − 1)/(√2 + 1),
      log2(1 + t) = log2((1 + s)/(1 − s)) = (2/ln 2)·atanh(s) = (2/ln 2)·s + s³·Q(s²)
  (the reduction of fdlibm's e_log.c, Sun Microsystems 1993); Q is a quadratic in z = s².
- 2^r for r ∈ [−½, ½] (y = n + r, n = round(y)): a degree-6 polynomial P with P(0) = 1.

Both errors (≈ 1e-9 and 2e-8) are below float32's 6e-8, so the kernels' errors are those of
rounding their few operations. Run: /usr/bin/python3 scripts/fit_vmath_polys.py
"""
import numpy as np


def lawson(x: np.ndarray, target: np.ndarray, weight: np.ndarray, degree: int) -> np.ndarray:
    """Polynomial coefficients (lowest degree first) minimising max |weight·(p(x) − target)|."""
    basis = np.vander(x, degree + 1, increasing=True)
    reweight = np.ones_like(x)
    for _ in range(300):
        coef = np.linalg.lstsq(basis * (weight * reweight)[:, None], target * weight * reweight, rcond=None)[0]
        err = np.abs((basis @ coef - target) * weight)
        reweight = np.maximum(reweight * err / err.mean(), 1e-12)
    return coef


def chebyshev_points(lo: float, hi: float, count: int = 4001) -> np.ndarray:
    return lo + (hi - lo) * (1 - np.cos(np.linspace(0, np.pi, count))) / 2


S_MAX = (np.sqrt(2) - 1) / (np.sqrt(2) + 1)
LOG_SCALE = 2 / np.log(2)


def log2_q() -> tuple[np.ndarray, float]:
    z = chebyshev_points(0, S_MAX**2)[1:]
    s = np.sqrt(z)
    # The error of s³·Q relative to log2(1 + t) ≈ (2/ln 2)·s is z·ΔQ/(2/ln 2).
    q = lawson(z, (LOG_SCALE * np.arctanh(s) - LOG_SCALE * s) / s**3, z / LOG_SCALE, 2).astype(np.float32)
    s = np.linspace(-S_MAX, S_MAX, 400001)
    s = s[s != 0]
    approx = LOG_SCALE * s + s**3 * np.polyval(q[::-1].astype(np.float64), s * s)
    return q, float(np.max(np.abs(approx / (LOG_SCALE * np.arctanh(s)) - 1)))


def exp2_p() -> tuple[np.ndarray, float]:
    r = chebyshev_points(-0.5, 0.5)
    p = lawson(r, 2.0**r, 2.0**-r, 6).astype(np.float32)
    p[0] = 1  # the fit gives 1 to float32 precision; exactly 1 keeps 2^0 = 1
    r = np.linspace(-0.5, 0.5, 400001)
    return p, float(np.max(np.abs(np.polyval(p[::-1].astype(np.float64), r) / 2.0**r - 1)))


if __name__ == "__main__":
    for name, (coef, err) in (("LOG2_Q", log2_q()), ("EXP2_P", exp2_p())):
        print(f"{name}, highest degree first: [{', '.join(f'{c:.10e}' for c in coef[::-1])}]")
        print(f"  largest relative error: {err:.2e}")
