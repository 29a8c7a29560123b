#!/usr/bin/env node
/**
 * Writes assembly/fft/stages.generated.ts (run by `npm run build:wasm`; the output is not kept in
 * git): the radix-4 and radix-8 stages of the complex FFTs behind the real lengths 256 … 8192 and
 * a few common others (LENGTHS) — the middle stages, and the first, which reads the packed real
 * input — each specialised to its geometry, with every stride written as the offset immediate of
 * its load or store.
 *
 * Why a generator: a WebAssembly address is a 32-bit sum that wraps, so V8 computes
 * `base + r·stride` with a separate instruction before every access of the generic stage loops
 * (assembly/fft/stockham.ts), and the radix-8 butterfly, whose sixteen input vectors already fill
 * the SIMD registers, spills those addresses. An offset immediate is added without wrapping and
 * folds into the x64 addressing mode. AssemblyScript accepts only a literal there, and binaryen folds
 * a constant added to an address only below 1 KB, where these strides start (bench/PERFORMANCE.md).
 *
 * The stage is the Stockham DIF step of stockham.ts with radix P, stride s ≥ 4 and span m' ≥ 2:
 *     a_r = x[q + s·(p + m'·r)],  y[q + s·(P·p + k)] = W^{p·k} · Σ_r a_r W_P^{r·k},
 * four q at a time, twiddles W^{p·k} shared by the four lanes. The first stage (s = 1) runs four p
 * at a time instead, reading a_j = x[2j] + i·x[2j+1] from the packed input and transposing its
 * outputs into whole vectors (PACKED mode); each such stage also comes windowed, multiplying the
 * input by a window as it loads it, so the STFT (assembly/stft.ts) transforms its frames straight
 * from the signal without writing each windowed frame first. The butterflies are those of
 * assembly/fft/butterfly.ts (radix4, radix8), written out here at the complex level.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Complex lengths m = n/2 of the real lengths n = 256 … 8192, and of the 25 ms windows (Whombat's
 * default) at 48, 96, 192 and 384 kHz: n = 1200, 2400, 4800, 9600, whose radix-4 and radix-8 stages
 * are generated while their radix-3 and radix-5 stages stay generic.
 */
const LENGTHS = [128, 256, 512, 1024, 2048, 4096, 600, 1200, 2400, 4800];

/** The radix order of stockham.ts `radices()` (the same rules; see there why). */
function radices(m) {
  const out = [];
  let rest = m;
  while (rest % 4 === 0) { out.push(4); rest /= 4; }
  if (rest % 2 === 0) {
    rest /= 2;
    if (out.length === 0) out.push(2);
    else if (out.length === 1) out[0] = 8;
    else out[1] = 8;
  }
  for (let p = 3; p <= rest; p += 2) {
    while (rest % p === 0) { out.push(p); rest /= p; }
  }
  if (out.length > 1 && out[0] < 4) {
    let big = 0;
    for (let i = 1; i < out.length; i++) if (out[i] > out[big]) big = i;
    [out[0], out[big]] = [out[big], out[0]];
  }
  return out;
}

/** The (P, span) of every radix-4 or radix-8 first stage on packed input (span ≥ 4, as `Stockham.packable`). */
function packedStages() {
  const seen = new Map();
  for (const m of LENGTHS) {
    const P = radices(m)[0];
    if ((P === 4 || P === 8) && m / P >= 4) seen.set(`${P}_${m / P}`, { P, span: m / P });
  }
  return [...seen.values()];
}

/** The (P, s, span) of every radix-4 or radix-8 stage the generic loops would run in VEC mode with twiddles (s a multiple of 4). */
function specialisedStages() {
  const seen = new Map();
  for (const m of LENGTHS) {
    let s = 1;
    for (const P of radices(m)) {
      const span = m / (s * P);
      if ((P === 4 || P === 8) && s % 4 === 0 && span >= 2) seen.set(`${P}_${s}_${span}`, { P, s, span });
      s *= P;
    }
  }
  return [...seen.values()];
}

/**
 * A tiny complex-vector vocabulary: a value `v` is the pair of f32x4 locals `vr`, `vi`; each call
 * returns the statement declaring its result.
 */
const c = {
  add: (out, a, b) => `const ${out}r = f32x4.add(${a}r, ${b}r), ${out}i = f32x4.add(${a}i, ${b}i);`,
  sub: (out, a, b) => `const ${out}r = f32x4.sub(${a}r, ${b}r), ${out}i = f32x4.sub(${a}i, ${b}i);`,
  /** a − i·b */
  subJ: (out, a, b) => `const ${out}r = f32x4.add(${a}r, ${b}i), ${out}i = f32x4.sub(${a}i, ${b}r);`,
  /** a + i·b */
  addJ: (out, a, b) => `const ${out}r = f32x4.sub(${a}r, ${b}i), ${out}i = f32x4.add(${a}i, ${b}r);`,
};

/** Loads a_r, r < P, from X (re) and X + IM (im) — here separate base pointers Xr, Xi. */
function loads(P, is) {
  return Array.from({ length: P }, (_, r) => `const a${r}r = v128.load(Xr, ${r * is}), a${r}i = v128.load(Xi, ${r * is});`);
}

/** Stores Y_0 = y0 untwiddled and Y_k = y_k · W^{p·k} for k ≥ 1 (twiddle k at byte (k − 1)·ts). */
function stores(P, os, ts) {
  const lines = ["v128.store(Yr, y0r, 0);", "v128.store(Yi, y0i, 0);"];
  for (let k = 1; k < P; k++) {
    lines.push(`{ const wr = v128.load32_splat(Tr, ${(k - 1) * ts}), wi = v128.load32_splat(Ti, ${(k - 1) * ts});`);
    lines.push(`  v128.store(Yr, f32x4.sub(f32x4.mul(y${k}r, wr), f32x4.mul(y${k}i, wi)), ${k * os});`);
    lines.push(`  v128.store(Yi, f32x4.add(f32x4.mul(y${k}r, wi), f32x4.mul(y${k}i, wr)), ${k * os}); }`);
  }
  return lines;
}

/** Radix 4: Y_0 = t0 + t2, Y_1 = t1 − i·t3, Y_2 = t0 − t2, Y_3 = t1 + i·t3. */
function radix4() {
  return [
    c.add("t0", "a0", "a2"), c.sub("t1", "a0", "a2"), c.add("t2", "a1", "a3"), c.sub("t3", "a1", "a3"),
    c.add("y0", "t0", "t2"), c.subJ("y1", "t1", "t3"), c.sub("y2", "t0", "t2"), c.addJ("y3", "t1", "t3"),
  ];
}

/**
 * Radix 8 as butterfly.ts radix8: a radix-2 step on (a_r, a_{r+4}), the differences d_r turned by
 * W_8^r (c_2 and c_3 with negated imaginary parts n2i, n3i, so no vector negation is needed), then
 * DFT4 of the sums → Y_{2k} and DFT4 of the turned differences → Y_{2k+1}.
 */
function radix8() {
  return [
    "const h = v128.load32_splat(SQRT_HALF);",
    c.add("b0", "a0", "a4"), c.sub("c0", "a0", "a4"), c.add("b1", "a1", "a5"), c.sub("d1", "a1", "a5"),
    c.add("b2", "a2", "a6"), c.sub("d2", "a2", "a6"), c.add("b3", "a3", "a7"), c.sub("d3", "a3", "a7"),
    "const c1r = f32x4.mul(f32x4.add(d1r, d1i), h), c1i = f32x4.mul(f32x4.sub(d1i, d1r), h);",
    "const c2r = d2i, n2i = d2r;",
    "const c3r = f32x4.mul(f32x4.sub(d3i, d3r), h), n3i = f32x4.mul(f32x4.add(d3r, d3i), h);",
    c.add("t0", "b0", "b2"), c.sub("t1", "b0", "b2"), c.add("t2", "b1", "b3"), c.sub("t3", "b1", "b3"),
    "const u0r = f32x4.add(c0r, c2r), u0i = f32x4.sub(c0i, n2i), u1r = f32x4.sub(c0r, c2r), u1i = f32x4.add(c0i, n2i);",
    "const u2r = f32x4.add(c1r, c3r), u2i = f32x4.sub(c1i, n3i), u3r = f32x4.sub(c1r, c3r), u3i = f32x4.add(c1i, n3i);",
    c.add("y0", "t0", "t2"), c.add("y1", "u0", "u2"), c.subJ("y2", "t1", "t3"), c.subJ("y3", "u1", "u3"),
    c.sub("y4", "t0", "t2"), c.sub("y5", "u0", "u2"), c.addJ("y6", "t1", "t3"), c.addJ("y7", "u1", "u3"),
  ];
}

function packedName({ P, span }, windowed) {
  return `packedRadix${P}Span${span}${windowed ? "Windowed" : ""}`;
}

/**
 * The first stage on the packed input: butterflies p … p+3 in the lanes, a_r from two loads of
 * interleaved (re, im) split by shuffles, twiddles W^{p·k} one per lane, and the P outputs of each
 * butterfly, y[P·p …], stored as whole vectors after 4×4 transposes. When 4 ∤ span the last step
 * overlaps the one before (p = span − 4), as in stockham.ts. `windowed`: each input vector is
 * multiplied by the window's at the same offset as it is loaded.
 */
function packedStageFunction({ P, span }, windowed) {
  if (P !== 4 && P !== 8) throw new Error(`packed first stage of radix ${P}: not generated`);
  const is = 8 * span, ts = 4 * span, row = 4 * P;
  const load = (offset) => (windowed ? `f32x4.mul(v128.load(X, ${offset}), v128.load(W, ${offset}))` : `v128.load(X, ${offset})`);
  // Outputs k … k+3 of the four butterflies: lane j (butterfly p + j) goes to bytes row·j + 4k.
  const transposeStore = (base, k, a, b, cc, d) => [
    `{ const ab0 = v128.shuffle<f32>(${a}, ${b}, 0, 4, 1, 5), ab1 = v128.shuffle<f32>(${a}, ${b}, 2, 6, 3, 7);`,
    `  const cd0 = v128.shuffle<f32>(${cc}, ${d}, 0, 4, 1, 5), cd1 = v128.shuffle<f32>(${cc}, ${d}, 2, 6, 3, 7);`,
    `  v128.store(${base}, v128.shuffle<f32>(ab0, cd0, 0, 1, 4, 5), ${4 * k});`,
    `  v128.store(${base}, v128.shuffle<f32>(ab0, cd0, 2, 3, 6, 7), ${4 * k + row});`,
    `  v128.store(${base}, v128.shuffle<f32>(ab1, cd1, 0, 1, 4, 5), ${4 * k + 2 * row});`,
    `  v128.store(${base}, v128.shuffle<f32>(ab1, cd1, 2, 3, 6, 7), ${4 * k + 3 * row}); }`,
  ];
  const out = (k, part) => (k === 0 ? `y0${part}` : `z${k}${part}`);
  const groups = Array.from({ length: P / 4 }, (_, g) => 4 * g);
  const body = [
    ...Array.from({ length: P }, (_, r) => `const lo${r} = ${load(r * is)}, hi${r} = ${load(r * is + 16)};`),
    ...Array.from({ length: P }, (_, r) => `const a${r}r = v128.shuffle<f32>(lo${r}, hi${r}, 0, 2, 4, 6), a${r}i = v128.shuffle<f32>(lo${r}, hi${r}, 1, 3, 5, 7);`),
    ...(P === 8 ? radix8() : radix4()),
    ...Array.from({ length: P - 1 }, (_, j) => `const w${j + 1}r = v128.load(Tr, ${j * ts}), w${j + 1}i = v128.load(Ti, ${j * ts});`),
    ...Array.from({ length: P - 1 }, (_, j) => {
      const k = j + 1;
      return `const z${k}r = f32x4.sub(f32x4.mul(y${k}r, w${k}r), f32x4.mul(y${k}i, w${k}i)), z${k}i = f32x4.add(f32x4.mul(y${k}r, w${k}i), f32x4.mul(y${k}i, w${k}r));`;
    }),
    ...groups.flatMap((k) => ["r", "i"].flatMap((part) =>
      transposeStore(part === "r" ? "Yr" : "Yi", k, out(k, part), out(k + 1, part), out(k + 2, part), out(k + 3, part)))),
  ];
  const step = span % 4 === 0
    ? [`  for (let p: usize = 0; p < ${span}; p += 4) {`]
    : [`  for (let q: usize = 0; q < ${span}; q += 4) {`, `    const p = min<usize>(q, ${span - 4});`];
  return [
    `/** First stage, radix ${P} on packed input${windowed ? " times the window at w" : ""}, span ${span}: inputs ${is} B apart, twiddles ${ts} B. */`,
    `function ${packedName({ P, span }, windowed)}(x: usize, ${windowed ? "w: usize, " : ""}yr: usize, yi: usize, twr: usize, twi: usize): void {`,
    ...step,
    `    const X = x + (p << 3), ${windowed ? "W = w + (p << 3), " : ""}Tr = twr + (p << 2), Ti = twi + (p << 2);`,
    `    const Yr = yr + (p << ${2 + Math.log2(P)}), Yi = yi + (p << ${2 + Math.log2(P)});`,
    ...body.map((line) => `    ${line}`),
    "  }",
    "}",
  ].join("\n");
}

function stageName({ P, s, span }) {
  return `radix${P}Stride${s}Span${span}`;
}

/** One stage: span butterfly groups p, each s/4 vectors of four q, all offsets literal. */
function stageFunction(stage) {
  const { P, s, span } = stage;
  const is = 4 * s * span, os = 4 * s, ts = 4 * span;
  const body = [...loads(P, is), ...(P === 8 ? radix8() : radix4()), ...stores(P, os, ts)];
  return [
    `/** Radix ${P}, stride s = ${s}, span ${span}: inputs ${is} B apart, outputs ${os} B, twiddles ${ts} B. */`,
    `function ${stageName(stage)}(xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize): void {`,
    `  for (let p: usize = 0; p < ${span}; p++) {`,
    `    const Tr = twr + (p << 2), Ti = twi + (p << 2);`,
    `    for (let q: usize = 0; q < ${s}; q += 4) {`,
    `      const Xr = xr + ((${s} * p + q) << 2), Xi = xi + ((${s} * p + q) << 2);`,
    `      const Yr = yr + ((${s * P} * p + q) << 2), Yi = yi + ((${s * P} * p + q) << 2);`,
    ...body.map((line) => `      ${line}`),
    "    }",
    "  }",
    "}",
  ].join("\n");
}

function generate() {
  const stages = specialisedStages();
  const dispatch = stages.map((st) => `  if (P == ${st.P} && s == ${st.s} && span == ${st.span}) { ${stageName(st)}(xr, xi, yr, yi, twr, twi); return true; }`);
  const packed = packedStages();
  const packedDispatch = packed.map((st) => `  if (P == ${st.P} && span == ${st.span}) {
    if (window != 0) ${packedName(st, true)}(x, window, yr, yi, twr, twi);
    else ${packedName(st, false)}(x, yr, yi, twr, twi);
    return true;
  }`);
  const packedKnown = packed.map((st) => `  if (P == ${st.P} && span == ${st.span}) return true;`);
  return [
    "// Generated by scripts/gen-fft-stages.mjs (npm run build:wasm) — edit the generator, not this file.",
    "// Radix-4 and radix-8 Stockham stages specialised to the geometries of the complex",
    `// lengths ${LENGTHS.join(", ")}, strides as offset immediates; see the generator for why.`,
    "",
    "const SQRT_HALF = memory.data<f32>([0.7071067811865476]);",
    "",
    "/**",
    " * Runs the stage (radix P, stride s, span) of assembly/fft/stockham.ts from (xr, xi) to (yr, yi) with",
    " * twiddles at (twr, twi) if a specialised version exists; returns false otherwise.",
    " */",
    "export function runSpecialisedStage(P: i32, s: i32, span: i32, xr: usize, xi: usize, yr: usize, yi: usize, twr: usize, twi: usize): bool {",
    ...dispatch,
    "  return false;",
    "}",
    "",
    "/** True if the first stage (radix P, span) on packed input has a specialised version, and so a windowed one. */",
    "export function hasSpecialisedPackedStage(P: i32, span: i32): bool {",
    ...packedKnown,
    "  return false;",
    "}",
    "",
    "/**",
    " * Runs the first stage (radix P, span) of assembly/fft/stockham.ts on the packed real input at x —",
    " * times the window at `window` (same length) unless that is 0 — as `firstStagePacked` does, if a",
    " * specialised version exists; returns false otherwise.",
    " */",
    "export function runSpecialisedPackedStage(P: i32, span: i32, x: usize, window: usize, yr: usize, yi: usize, twr: usize, twi: usize): bool {",
    ...packedDispatch,
    "  return false;",
    "}",
    "",
    ...stages.map(stageFunction).flatMap((f) => [f, ""]),
    ...packed.flatMap((st) => [packedStageFunction(st, false), "", packedStageFunction(st, true), ""]),
  ].join("\n");
}

const target = fileURLToPath(new URL("../assembly/fft/stages.generated.ts", import.meta.url));
writeFileSync(target, generate());
