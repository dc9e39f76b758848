/**
 * bench:verify — answer-verification throughput on the 190 Math-Verify cases, single-threaded.
 * Prints JSON. The baseline in the same run (plain string equality of trimmed gold and pred, the
 * cheapest possible "verifier") makes the figure comparable across machines.
 *
 *   npm run bench:verify [-- --seconds 3]
 */
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { clearVerifyCache, isEquivalent } from "../src/verify/equivalent.ts";

const path = new URL("../../shared/data/verifier-cases/math-verify-test_all.jsonl", import.meta.url);
const secondsArg = process.argv.indexOf("--seconds");
const seconds = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 6;

interface Row {
  gold: string;
  pred: string;
  precision?: number;
  allow_set_relation_comp?: boolean;
}
if (!existsSync(path)) {
  process.stderr.write(`bench:verify needs ${fileURLToPath(path)} (../shared/data); it is absent here\n`);
  process.exit(2);
}
const rows = readFileSync(path, "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Row);

/** Pairs per second of one slice: repeated passes over all rows for `ms` milliseconds. */
function slice(pass: () => void, ms: number): number {
  const start = performance.now();
  let pairs = 0;
  while (performance.now() - start < ms) {
    pass();
    pairs += rows.length;
  }
  return pairs / ((performance.now() - start) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let sink = 0;
const verifyAll = () => {
  for (const r of rows)
    sink += isEquivalent(r.gold, r.pred, {
      precision: r.precision,
      allowSetRelationComparison: r.allow_set_relation_comp,
    })
      ? 1
      : 0;
};
verifyAll(); // warm-up: JIT, the LaTeX dictionary, the gold cache

// The three measurements are interleaved slice by slice, so load from other processes on a shared
// machine hits all of them alike; each figure is the median of its slices.
const rates = { baseline: [] as number[], cached: [] as number[], uncached: [] as number[] };
const slices = 9;
const ms = (seconds * 1000) / (3 * slices);
for (let k = 0; k < slices; k++) {
  rates.baseline.push(
    slice(() => {
      for (const r of rows) sink += r.gold.trim() === r.pred.trim() ? 1 : 0;
    }, ms),
  );
  rates.cached.push(slice(verifyAll, ms));
  rates.uncached.push(
    slice(() => {
      clearVerifyCache();
      verifyAll();
    }, ms),
  );
}
const baseline = median(rates.baseline);
const cached = median(rates.cached);
const uncached = median(rates.uncached);

process.stdout.write(
  `${JSON.stringify(
    {
      bench: "verify",
      cases: rows.length,
      threads: 1,
      pairs_per_s: Math.round(cached),
      pairs_per_s_uncached_gold: Math.round(uncached),
      baseline_string_equality_pairs_per_s: Math.round(baseline),
      ratio_to_baseline: Number((cached / baseline).toExponential(3)),
      target_pairs_per_s: 2000,
      meets_target: cached >= 2000,
      node: process.version,
      cpu: os.cpus()[0]?.model ?? "unknown",
      // Shared machines: a load above the core count slows every figure, the baseline included.
      load_average_1min: Number(os.loadavg()[0].toFixed(2)),
      cores: os.cpus().length,
      sink: sink > 0,
    },
    null,
    2,
  )}\n`,
);
