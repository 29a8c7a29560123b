#!/usr/bin/env node
/**
 * Bundles the viewer page (web/) into dist/web/: web/main.ts → main.js (esbuild, one ES module
 * for current browsers, with the shared parameter schema of src/engine/params.ts inlined), and
 * index.html / style.css copied as they are. `buildWeb(outDir)` is exported for the browser
 * tests; run as a script it writes dist/web (npm run build:web).
 */
import { copyFile, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
export const DEFAULT_OUT = join(root, "dist", "web");

export async function buildWeb(outDir = DEFAULT_OUT) {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(root, "web", "main.ts")],
    outfile: join(outDir, "main.js"),
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: true,
    logLevel: "warning",
  });
  for (const file of ["index.html", "style.css"]) await copyFile(join(root, "web", file), join(outDir, file));
  return outDir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildWeb();
