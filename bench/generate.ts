/**
 * Benchmark of the generator's own overhead: candidates per second through the whole path (prompt →
 * request through the openai-compatible teacher → parse → append to generations.jsonl) against a local
 * zero-latency endpoint at concurrency 64. Baselines in the same run, same endpoint and concurrency:
 * bare POSTs on node:http keep-alive with the body parsed (the HTTP ceiling: the teacher's own
 * transport with nothing else), through a web-`fetch` over the same sockets (what the `openai` client
 * sees when streaming), and through Node's built-in fetch (the client's default).
 * The endpoint runs in its own process, but on a 2-core machine its CPU competes with the one measured,
 * for the baselines as much as for the generator; the load average says how busy the machine was.
 * Usage: npm run bench:generate [-- candidates]   → one JSON line. Target: ≥ 2,000 candidates/s.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { generate } from "../src/generate/generate.ts";
import { createAgents, createHttpFetch, httpPost } from "../src/teachers/httpFetch.ts";

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

const body = JSON.stringify({
  model: "bench",
  messages: [{ role: "user", content: "Solve for x: 3x + 5 = 20" }],
});
const headers = { "content-type": "application/json" };

/** `n` requests, `concurrency` at a time, each one `request()` whose reply is parsed. */
async function baseline(n: number, request: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) await request();
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

const viaFetch = (fetchImpl: typeof fetch) => async () => {
  const res = await fetchImpl(`${baseURL}/chat/completions`, { method: "POST", body, headers });
  return res.json();
};

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
  const agents = createAgents();
  const url = new URL(`${baseURL}/chat/completions`);
  const viaHttp = async () => {
    const reply = await httpPost(agents, url, body, headers, { timeoutMs: 60_000 });
    return JSON.parse(reply.body.toString("utf8"));
  };
  await baseline(2000, viaHttp); // warm up sockets and JIT
  const baselineRate = await baseline(candidates, viaHttp);
  const webFetchRate = await baseline(candidates / 4, viaFetch(createHttpFetch(agents)));
  const builtinFetchRate = await baseline(candidates / 4, viaFetch(fetch));
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
      web_fetch_over_http_requests_s: Math.round(webFetchRate),
      builtin_fetch_requests_s: Math.round(builtinFetchRate),
      ratio: Number((generatorRate / baselineRate).toFixed(3)),
      target_candidates_s: 2000,
      load_average_1min: Number(loadavg()[0].toFixed(2)),
      endpoint: "replay server in a separate process, sharing the machine's cores with this one",
    }),
  );
} finally {
  worker.kill("SIGTERM");
}
