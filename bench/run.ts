/**
 * `npm run bench` — sonotile beside its peers, measured in the same run (SPEC §9, issue 7).
 *
 *   npm run bench                      everything, full rounds
 *   npm run bench -- --quick           fewer rounds and shorter benchmark.js cycles
 *   npm run bench -- --only fft        one part: fft | stft | pcen | whombat | pool | stats | tiles | batch | batch-short (comma list)
 *   npm run bench -- --json            also write bench/results/<date>.json
 *   npm run bench -- --json -          JSON on stdout, the table on stderr
 *
 * What is measured and how: bench/README.md.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { runBatch, runShortItems } from "./batch.js";
import { runFft } from "./fft.js";
import { CASES, runCase, type CaseResult } from "./stft.js";
import { loadAverage } from "./lib/measure.js";
import { runPool } from "./pool.js";
import { runStatsPasses } from "./stats.js";
import { runTiles, tileTargets } from "./tiles.js";
import { awkwardCosts, caseTable, fmtRate, fftTable, fftTargets, pcenNativeLine, pcenTargets, stftTargets, targetLines, type Target } from "./report.js";

const PARTS = ["fft", "stft", "pcen", "whombat", "pool", "stats", "tiles", "batch", "batch-short"] as const;
type Part = (typeof PARTS)[number];

interface Args { quick: boolean; only: Set<Part>; json: string | null }

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: new Set(PARTS), json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") args.quick = true;
    else if (a === "--only" || a.startsWith("--only=")) {
      const list = a.includes("=") ? a.slice(7) : argv[++i];
      const parts = (list ?? "").split(",").filter(Boolean);
      const bad = parts.filter((p) => !(PARTS as readonly string[]).includes(p));
      if (parts.length === 0 || bad.length) usage(`--only takes a comma list of ${PARTS.join(", ")}; got "${list ?? ""}"`);
      args.only = new Set(parts as Part[]);
    } else if (a === "--json") {
      args.json = argv[i + 1] === "-" ? (i++, "-") : "";
    } else if (a === "--help" || a === "-h") usage();
    else usage(`unknown option "${a}"`);
  }
  return args;
}

function usage(error?: string): never {
  const text = `usage: npm run bench -- [--quick] [--only ${PARTS.join(",")}] [--json [-]]`;
  if (error) {
    console.error(`bench: ${error}\n${text}`);
    process.exit(2);
  }
  console.log(text);
  process.exit(0);
}

const repo = fileURLToPath(new URL("../", import.meta.url));

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const out: string[] = [];
  const toJson = args.json === "-";
  // Progress and the table go to stderr when stdout carries JSON.
  const print = (line: string) => (toJson ? console.error(line) : console.log(line));
  const log = (line: string) => console.error(line);
  const emit = (lines: string[]) => { for (const l of lines) { out.push(l); print(l); } };

  const date = new Date();
  const machine = {
    date: date.toISOString(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    cpus: os.cpus().length,
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    v8: process.versions.v8,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    quick: args.quick,
  };
  emit([
    `sonotile bench — ${machine.date} — ${machine.cpu}, ${machine.cpus} CPUs, ${machine.memory_gb} GB, node ${machine.node}, ${machine.os}${args.quick ? " — QUICK mode" : ""}`,
    `load average (1/5/15 min) at start: ${loadAverage().join(" ")} — figures are noisy when this is high on a ${machine.cpus}-core machine`,
    "",
  ]);

  const results: Record<string, unknown> = { machine };
  const targets: Target[] = [];
  const fftOpts = args.quick ? { rounds: 3, maxTime: 0.08 } : { rounds: 7, maxTime: 0.15 };
  // The neighbours' load slows every pipeline of this process by a third to a half for seconds at
  // a time (bench/README.md, the STFT part): five rounds so that one slow round cannot set a ratio.
  const stftOpts = args.quick ? { rounds: 1, repeats: 2 } : { rounds: 5, repeats: 3 };
  // The pool's ratio swings most with the neighbours' load (single rounds 1.3–2.4×): more rounds.
  const poolOpts = args.quick ? { rounds: 2, repeats: 2 } : { rounds: 7, repeats: 3 };

  if (args.only.has("fft")) {
    const { rows, load } = await runFft(fftOpts, log);
    emit([...fftTable(rows), `  load average at start ${load[0].join(" ")}, at end ${load[1].join(" ")}`, ""]);
    emit(["Awkward sizes: sonotile per-sample cost relative to the nearest power of two (target ≤ 2×)",
      ...awkwardCosts(rows).map((a) => `  n=${a.n} (${fmtRate(a.rate)}/s) vs n=${a.ref} (${fmtRate(a.refRate)}/s, same rounds): ${a.cost === null ? "—" : `${a.cost.toFixed(2)}×`}` +
        (a.fftwCost === null ? "" : ` (native FFTW's own: ${a.fftwCost.toFixed(2)}×)`)), ""]);
    targets.push(...fftTargets(rows));
    results.fft = { options: fftOpts, rows, load };
  }
  const cases: CaseResult[] = [];
  for (const part of ["stft", "pcen", "whombat"] as const) {
    if (!args.only.has(part)) continue;
    const c = await runCase(CASES[part], stftOpts, log);
    cases.push(c);
    emit([...caseTable(c), ...(part === "pcen" ? pcenNativeLine(c) : []), ""]);
    if (part === "stft") targets.push(...stftTargets(c));
    if (part === "pcen") targets.push(...pcenTargets(c));
  }
  if (cases.length) results.pipelines = { options: stftOpts, cases };
  if (args.only.has("pool")) {
    const { lines, result } = await runPool(poolOpts, log);
    emit([...lines, ""]);
    results.pool = { options: poolOpts, ...result };
    targets.push({ name: "pool scaling 1 → 2 threads (STFT pipeline)", value: result.shared.scaling, goal: "≥ 1.8×", ok: result.shared.scaling >= 1.8 });
  }
  if (args.only.has("stats")) {
    const { lines, result } = await runStatsPasses(args.quick, log);
    emit([...lines, ""]);
    results.stats = result;
  }
  if (args.only.has("tiles")) {
    const { lines, result } = await runTiles(args.quick, log);
    emit([...lines, ""]);
    results.tiles = result;
    targets.push(...tileTargets(result));
  }
  if (args.only.has("batch")) {
    const { lines, result } = await runBatch(args.quick, log);
    emit([...lines, ""]);
    results.batch = result;
  }
  if (args.only.has("batch-short")) {
    const { lines, result } = await runShortItems(args.quick, log);
    emit([...lines, ""]);
    results.batch_short = result;
  }
  emit(["Issue 7 targets (✓ met, ✗ missed, ? not measured) — ratios from this run", ...targetLines(targets)]);
  emit([`load average at end: ${loadAverage().join(" ")}`]);
  results.targets = targets;

  if (args.json !== null) {
    const text = JSON.stringify(results, null, 2);
    if (toJson) console.log(text);
    else {
      mkdirSync(`${repo}bench/results`, { recursive: true });
      const file = `${repo}bench/results/${date.toISOString().replace(/[:.]/g, "-")}.json`;
      writeFileSync(file, text + "\n");
      console.log(`wrote ${file.slice(repo.length)}`);
    }
  }
}

await main();
