/**
 * bench:filter — memory and speed of `distill filter` as the input grows. Prints JSON.
 *
 * Builds generations files of the requested sizes from built-in candidates (200 prompts × 4 at
 * temperature 0.8, copied with new prompt ids and a variant line in prompt and reasoning so that
 * copies are neither exact nor near duplicates of each other), then filters each in a fresh child
 * process and reports its peak RSS. The smallest size is the baseline of the same run: flat memory
 * means the peak at the largest size stays near it, apart from the deduplication state, which grows
 * with the number of distinct kept texts (reported as kept rows).
 *
 *   npm run bench:filter [-- --mb 16,64,256,1024] [--dedup all|none] [--max-old-space MiB] [--keep]
 *
 * `--dedup none` leaves out the one state that grows with the data, to show what the streaming alone costs.
 * `--max-old-space 512` caps the child's V8 heap: peak RSS counts garbage V8 has not yet collected, so a
 * run of the largest size that completes under the cap of the smallest is the proof of flat memory.
 */
import { spawnSync } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generate } from "../src/generate/generate.ts";
import { hashSeed, seededRandom } from "../src/util/random.ts";

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};

if (process.argv[2] === "--child") {
  // child: filter one file and report its own peak memory
  const { filter } = await import("../src/filter/filter.ts");
  const started = performance.now();
  const dedup = (process.argv[5] ?? "all") as "all" | "prompts" | "responses" | "none";
  const funnel = await filter({ in: process.argv[3], out: process.argv[4], dedup, quiet: true });
  const usage = process.resourceUsage();
  // what is still alive at the end (deduplication state, the language model, code), garbage collected
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  const liveHeapMiB = Math.round(memory.heapUsed / 1024 / 1024);
  // typed arrays (the deduplication tables and signatures) live outside the V8 heap
  const arrayBuffersMiB = Math.round(memory.arrayBuffers / 1024 / 1024);
  process.stdout.write(
    JSON.stringify({
      seconds: (performance.now() - started) / 1000,
      maxRssMiB: Math.round(usage.maxRSS / 1024),
      liveHeapMiB,
      arrayBuffersMiB,
      candidates: funnel.candidates,
      kept: funnel.kept,
      prompts: funnel.prompts,
    }),
  );
  process.exit(0);
}

const sizes = (arg("mb") ?? "16,64,256,1024").split(",").map(Number);
const dir = mkdtempSync(path.join(os.tmpdir(), "bench-filter-"));
await generate({
  prompts: "builtin:equations",
  teacher: "builtin:equations",
  limit: 200,
  samplesPerPrompt: 4,
  temperature: 0.8,
  out: path.join(dir, "gen"),
  quiet: true,
});
const base = readFileSync(path.join(dir, "gen", "generations.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));

const vocabulary = (
  "apple river stone cloud number table garden silver orange pencil rocket bridge summer forest candle " +
  "button castle dragon marble puzzle violin harbor window yellow planet jungle ladder mirror meadow"
).split(" ");

/**
 * Twelve seeded words: a copy's prompt and responses share under half their shingles with another
 * copy's, so copies stay distinct for deduplication and its state grows as it would with real data.
 */
function variantLine(copy: number, sample: number): string {
  const random = seededRandom(hashSeed("bench-filter", copy, sample));
  return Array.from({ length: 12 }, () => vocabulary[Math.floor(random() * vocabulary.length)]).join(" ");
}

/** Write copies of the base candidates until the file reaches `mb` MiB. */
async function build(file: string, mb: number): Promise<void> {
  const out = createWriteStream(file);
  let bytes = 0;
  for (let copy = 0; bytes < mb * 1024 * 1024; copy++) {
    const lines: string[] = [];
    for (const r of base) {
      const variant = variantLine(copy, r.sample_index);
      const line = JSON.stringify({
        ...r,
        prompt_id: `${r.prompt_id}~${copy}`,
        prompt: `${r.prompt}\n${variantLine(copy, -1)}`,
        completion: r.completion.replace("<think>\n", `<think>\n${variant}\n`),
        reasoning: r.reasoning === null ? null : `${variant}\n${r.reasoning}`,
      });
      lines.push(line);
      bytes += Buffer.byteLength(line) + 1;
    }
    if (!out.write(`${lines.join("\n")}\n`))
      await new Promise<void>((resolve) => out.once("drain", () => resolve()));
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
}

const self = fileURLToPath(import.meta.url);
const runs = [];
for (const mb of sizes) {
  const file = path.join(dir, `gen-${mb}.jsonl`);
  await build(file, mb);
  const child = spawnSync(
    process.execPath,
    [
      "--expose-gc",
      ...(arg("max-old-space") ? [`--max-old-space-size=${arg("max-old-space")}`] : []),
      "--import",
      "tsx",
      self,
      "--child",
      file,
      path.join(dir, `out-${mb}`),
      arg("dedup") ?? "all",
    ],
    {
      encoding: "utf8",
      maxBuffer: 1 << 20,
    },
  );
  if (child.status !== 0) throw new Error(`filter failed on ${mb} MiB: ${child.stderr}`);
  const result = JSON.parse(child.stdout);
  runs.push({
    inputMiB: Math.round(statSync(file).size / 1024 / 1024),
    ...result,
    candidatesPerSecond: Math.round(result.candidates / result.seconds),
  });
  rmSync(file);
  rmSync(path.join(dir, `out-${mb}`), { recursive: true, force: true });
  process.stderr.write(`bench:filter ${JSON.stringify(runs.at(-1))}\n`);
}
if (!process.argv.includes("--keep")) rmSync(dir, { recursive: true, force: true });
const first = runs[0];
const last = runs.at(-1)!;
process.stdout.write(
  `${JSON.stringify(
    {
      node: process.version,
      dedup: arg("dedup") ?? "all",
      maxOldSpaceMiB: arg("max-old-space") ?? null,
      cpus: os.cpus().length,
      runs,
      inputGrowth: Math.round((last.inputMiB / first.inputMiB) * 10) / 10,
      peakRssGrowth: Math.round((last.maxRssMiB / first.maxRssMiB) * 100) / 100,
    },
    null,
    2,
  )}\n`,
);
