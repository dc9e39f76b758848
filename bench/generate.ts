/**
 * Benchmark of the generator's own overhead: candidates per second through the whole path (prompt →
 * request through the `openai` client → parse → append to generations.jsonl) against a local
 * zero-latency endpoint at concurrency 64. Baselines in the same run, same endpoint and concurrency:
 * bare requests through the generator's own transport (node:http keep-alive, the HTTP ceiling for
 * this client) and through Node's built-in fetch (what the `openai` client would use by default).
 * Usage: npm run bench:generate [-- candidates]   → one JSON line. Target: ≥ 2,000 candidates/s.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { generate } from "../src/generate/generate.ts";
import { createHttpFetch } from "../src/teachers/httpFetch.ts";

const candidates = Number(process.argv[2] ?? 20_000);
const concurrency = 64;

const worker = spawn(
  process.execPath,
  ["--import", "tsx", path.join(import.meta.dirname, "replayWorker.ts")],
  {
    stdio: ["ignore", "pipe", "inherit"],
  },
);
const baseURL: string = await new Promise((resolve) => {
  createInterface({ input: worker.stdout! }).once("line", resolve);
});

async function baseline(n: number, fetchImpl: typeof fetch): Promise<number> {
  const body = JSON.stringify({
    model: "bench",
    messages: [{ role: "user", content: "Solve for x: 3x + 5 = 20" }],
  });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const res = await fetchImpl(`${baseURL}/chat/completions`, {
          method: "POST",
          body,
          headers: { "content-type": "application/json" },
        });
        await res.json();
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

async function generator(n: number): Promise<number> {
  const out = mkdtempSync(path.join(tmpdir(), "bench-gen-"));
  try {
    const summary = await generate({
      prompts: `builtin:equations?count=${n / 4}`,
      teacher: `openai:bench@${baseURL}`,
      out,
      samplesPerPrompt: 4,
      concurrency,
      quiet: true,
    });
    if (summary.written !== n) throw new Error(`wrote ${summary.written} of ${n}`);
    return summary.samplesPerSecond;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

try {
  const httpFetch = createHttpFetch();
  await baseline(2000, httpFetch); // warm up sockets and JIT
  const baselineRate = await baseline(candidates, httpFetch);
  const builtinFetchRate = await baseline(candidates / 4, fetch);
  const t0 = performance.now();
  const generatorRate = await generator(candidates);
  const wall = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      bench: "generate",
      candidates,
      concurrency,
      generator_candidates_s: Math.round(generatorRate),
      generator_wall_candidates_s: Math.round(candidates / wall),
      baseline_http_requests_s: Math.round(baselineRate),
      builtin_fetch_requests_s: Math.round(builtinFetchRate),
      ratio: Number((generatorRate / baselineRate).toFixed(3)),
      target_candidates_s: 2000,
    }),
  );
} finally {
  worker.kill("SIGTERM");
}
