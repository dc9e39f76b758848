/**
 * The recipes in examples/recipes: each validates against the schema of every stage it names (a typo
 * fails), its stages are wired output → input, and the GSM8K recipe runs end to end through the stage
 * commands on a handful of GSM8K questions, with two stand-ins a user would not have offline:
 * - the teacher: a loopback server speaking DeepSeek's chat-completions protocol (streamed
 *   `reasoning_content`, then `content`, usage last), answering each question from its GSM8K solution,
 *   one candidate in four with a wrong final number, so correctness against the gold has work to do;
 * - the student: a tiny Qwen2-architecture Hugging Face folder (random weights, a real BPE tokenizer and
 *   ChatML template) in place of ./Qwen2.5-0.5B-Instruct.
 * Only the teacher's URL, the prompt limit, the student checkpoint and the eval limit are overridden by
 * flags; everything else comes from the recipe file.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { Command } from "commander";
import { parse } from "yaml";
import type { z } from "zod";
import { loadRecipe, resolveOptions } from "../src/config/recipe.ts";
import { evalOptionsSchema } from "../src/evaluate/options.ts";
import { filterCommand } from "../src/filter/command.ts";
import { filterOptionsSchema } from "../src/filter/options.ts";
import { generateCommand } from "../src/generate/command.ts";
import { generateOptionsSchema } from "../src/generate/options.ts";
import { mixCommand } from "../src/mix/command.ts";
import { mixOptionsSchema, parseSourceSpec } from "../src/mix/options.ts";
import { gsm8kGold, sharedDataDir } from "../src/tasks/sources.ts";
import { trainCommand } from "../src/train/command.ts";
import { trainOptionsSchema } from "../src/train/options.ts";
import { UserError } from "../src/util/errors.ts";
import { type ReplayRequest, startReplayServer } from "./support/replayServer.ts";
import { writeTinyGgufModel } from "./support/tinyGguf.ts";

const repo = path.resolve(import.meta.dirname, "..");
const recipes = path.join(repo, "examples", "recipes");
const gsm8kRecipe = path.join(recipes, "gsm8k-deepseek.yaml");
const demoRecipe = path.join(recipes, "demo.yaml");

const stageSchemas: Record<string, z.ZodType> = {
  generate: generateOptionsSchema,
  filter: filterOptionsSchema,
  mix: mixOptionsSchema,
  train: trainOptionsSchema,
  eval: evalOptionsSchema,
};

/** Every section is a stage, and each validates exactly as `distill <stage> --recipe file` does. */
function validateRecipe(file: string): Record<string, Record<string, unknown>> {
  const root = parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  const unknown = Object.keys(root).filter((key) => !(key in stageSchemas));
  assert.deepEqual(unknown, [], `${file}: sections that no stage reads`);
  const resolved: Record<string, Record<string, unknown>> = {};
  for (const stage of Object.keys(root)) {
    resolved[stage] = resolveOptions(stageSchemas[stage], {}, { file, stage }) as Record<string, unknown>;
  }
  return resolved;
}

/** Each stage reads what the one before it wrote, and the benchmark is decontaminated from training. */
function assertWired(stages: Record<string, Record<string, unknown>>) {
  const { generate, filter, mix, train } = stages;
  const evaluate = stages.eval;
  assert.equal(path.normalize(String(filter.in)), path.join(String(generate.out), "generations.jsonl"));
  const files = (mix.source as string[]).map((s) => path.normalize(parseSourceSpec(s).file));
  assert.ok(
    files.includes(path.join(String(filter.out), "kept.jsonl")),
    `mix reads ${filter.out}/kept.jsonl`,
  );
  assert.equal(path.normalize(String(train.data)), path.join(String(mix.out), "train.jsonl"));
  assert.equal(path.normalize(String(evaluate.model)), path.normalize(String(train.out)));
  assert.ok(
    (filter.decontaminate as string[]).includes(String(evaluate.benchmark)),
    "the benchmark the student is evaluated on is decontaminated from its training data",
  );
}

describe("recipes validate against every stage they name", () => {
  test("gsm8k-deepseek.yaml: all five stages, wired output to input", () => {
    const stages = validateRecipe(gsm8kRecipe);
    assert.deepEqual(Object.keys(stages), ["generate", "filter", "mix", "train", "eval"]);
    assertWired(stages);
    assert.equal(stages.generate.apiKeyEnv, "DEEPSEEK_API_KEY");
    assert.doesNotMatch(readFileSync(gsm8kRecipe, "utf8"), /sk-[A-Za-z0-9]{8,}/, "no key in the recipe");
  });

  test("demo.yaml: all five stages, wired output to input", () => {
    const stages = validateRecipe(demoRecipe);
    assert.deepEqual(Object.keys(stages), ["generate", "filter", "mix", "train", "eval"]);
    assertWired(stages);
    assert.equal(stages.generate.teacher, "builtin:equations");
    assert.match(String(stages.train.init), /^new:1m/);
  });

  test("a misspelt option or section fails, naming the file and line", (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-recipe-typo-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const text = readFileSync(gsm8kRecipe, "utf8");
    const typo = path.join(dir, "typo.yaml");
    writeFileSync(typo, text.replace("  samplesPerPrompt: 4", "  samplesPerPromt: 4"));
    const line = text.split("\n").findIndex((l) => l.startsWith("  samplesPerPrompt:")) + 1;
    assert.throws(
      () => validateRecipe(typo),
      (err: unknown) =>
        err instanceof UserError &&
        err.message.startsWith(`${typo}:${line}`) &&
        /samplesPerPromt/.test(err.message),
    );
    writeFileSync(typo, text.replace("\nfilter:", "\nflter:"));
    assert.throws(() => validateRecipe(typo), /sections that no stage reads/);
    // the stage itself refuses it too: without its section it reads the top level, which is not options
    assert.throws(() => resolveOptions(filterOptionsSchema, {}, { file: typo, stage: "filter" }), UserError);
    writeFileSync(typo, text.replace("  temperature: 0.6", "  temperature: hot"));
    assert.throws(() => validateRecipe(typo), UserError);
    assert.equal(loadRecipe(gsm8kRecipe, "eval").values.benchmark, "gsm8k:test");
  });
});

const dataDir = sharedDataDir();
const gsm8kMissing =
  dataDir &&
  existsSync(path.join(dataDir, "gsm8k", "train.jsonl")) &&
  existsSync(path.join(dataDir, "gsm8k", "test.jsonl"))
    ? false
    : "GSM8K not found (../shared/data/gsm8k or $DISTILLERY_DATA/gsm8k): the recipe run is skipped";

describe("gsm8k-deepseek.yaml runs stage by stage", { skip: gsm8kMissing }, () => {
  const questions = 6;
  const key = "test-key-9f3c1e7a";
  let work = "";
  let cwd = "";
  let env: Record<string, string | undefined> = {};
  let teacher: Awaited<ReturnType<typeof startReplayServer>>;
  let student = "";

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), "distill-recipe-gsm8k-"));
    env = { DISTILLERY_DATA: process.env.DISTILLERY_DATA, DEEPSEEK_API_KEY: process.env.DEEPSEEK_API_KEY };
    process.env.DISTILLERY_DATA = dataDir!;
    process.env.DEEPSEEK_API_KEY = key;
    teacher = await startReplayServer(deepseekLike(readTrainQuestions(questions + 4), key));
    student = writeTinyGgufModel(path.join(work, "tiny-qwen2"), { arch: "qwen2", contextLength: 1024 }).dir;
    cwd = process.cwd();
    process.chdir(work); // the recipe's relative paths (runs/gsm8k/…) land in the scratch folder
  });
  after(async () => {
    process.chdir(cwd);
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await teacher?.close();
    rmSync(work, { recursive: true, force: true });
  });

  test("generate → filter → mix → train → eval write their outputs", async () => {
    // generate: DeepSeek's protocol on loopback; the key comes from the variable the recipe names
    await run(generateCommand, [
      "--teacher",
      `openai:deepseek-reasoner@${teacher.baseURL.replace(/\/v1$/, "")}`,
      "--limit",
      String(questions),
    ]);
    const generations = readJsonl(path.join(work, "runs/gsm8k/generate/generations.jsonl"));
    assert.equal(generations.length, questions * 4, "samplesPerPrompt: 4 from the recipe");
    assert.equal(teacher.requests.length, questions * 4);
    for (const r of teacher.requests) {
      assert.equal(r.headers.authorization, `Bearer ${key}`);
      assert.equal(r.body.model, "deepseek-reasoner");
      assert.equal(r.body.stream, true, "stream: true from the recipe");
      assert.equal(r.body.temperature, 0.6);
    }
    for (const g of generations) {
      assert.equal(g.source, "gsm8k:train");
      assert.ok(String(g.reasoning).length > 20, "reasoning_content folded into the template");
      assert.ok(g.gold !== undefined);
    }

    // general data, as the README makes it (no recipe: another teacher and prompt set)
    await run(generateCommand, [
      "--prompts",
      "builtin:general?count=40&seed=1",
      "--teacher",
      "builtin:general",
      "--samples-per-prompt",
      "1",
      "--out",
      "runs/gsm8k/general",
    ]);
    await run(filterCommand, [
      "--in",
      "runs/gsm8k/general/generations.jsonl",
      "--out",
      "runs/gsm8k/general/filter",
      "--policy",
      "first-correct",
    ]);

    // filter: one candidate in four is wrong; k-diverse keeps the two different correct ones
    await run(filterCommand, []);
    const funnel = JSON.parse(readFileSync(path.join(work, "runs/gsm8k/filter/funnel.json"), "utf8"));
    const removed = (step: string) => funnel.steps.find((s: { step: string }) => s.step === step)?.removed;
    assert.equal(removed("correctness"), questions, "the wrong final numbers are caught against the gold");
    assert.ok(funnel.steps.some((s: { step: string }) => s.step.startsWith("decontamination")));
    const kept = readJsonl(path.join(work, "runs/gsm8k/filter/kept.jsonl"));
    assert.equal(kept.length, questions * 2, "maxPerPrompt: 2");
    for (const k of kept) assert.equal(String(k.answer).replace(/\\boxed\{(.*)\}/, "$1"), k.gold);
    assert.ok(existsSync(path.join(work, "runs/gsm8k/filter/rejected.jsonl")));

    // mix: reasoning and general data at 0.8 / 0.2 (the recipe's 2% validation share of 15 rows would be
    // no row at all, and train refuses an empty validation.jsonl)
    await run(mixCommand, ["--validation", "0.2"]);
    const stats = JSON.parse(readFileSync(path.join(work, "runs/gsm8k/mix/stats.json"), "utf8"));
    const train = readJsonl(path.join(work, "runs/gsm8k/mix/train.jsonl"));
    const validation = readJsonl(path.join(work, "runs/gsm8k/mix/validation.jsonl"));
    const rows = [...train, ...validation];
    const count = (source: string) => rows.filter((r) => r.source === source).length;
    assert.equal(count("reasoning"), questions * 2);
    assert.equal(count("general"), (questions * 2) / 4, "0.2 of the rows are general data");
    for (const r of train) assert.equal((r.messages as { role: string }[]).at(-1)?.role, "assistant");
    assert.ok(stats, "stats.json");

    // train: the tiny stand-in for ./Qwen2.5-0.5B-Instruct, with the recipe's schedule and context
    await run(trainCommand, ["--init", student]);
    const out = path.join(work, "runs/gsm8k/student");
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
      assert.ok(existsSync(path.join(out, f)), `student/${f}`);
    const config = JSON.parse(readFileSync(path.join(out, "config.json"), "utf8"));
    assert.equal(config.model_type, "qwen2", "the student keeps the checkpoint's architecture");
    const metrics = readJsonl(path.join(out, "metrics.jsonl")).filter((m) => m.loss !== undefined);
    assert.ok(metrics.length >= 2, "epochs: 2 from the recipe");
    assert.ok(metrics.every((m) => Number.isFinite(m.loss)));

    // eval, through the distill command itself: the trained student on the first GSM8K test questions
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        "--import",
        import.meta.resolve("tsx"),
        path.join(repo, "src/cli.ts"),
        "eval",
        "--recipe",
        gsm8kRecipe,
      ].concat(["--limit", "3", "--max-tokens", "16", "--quiet"]),
      { cwd: work },
    );
    assert.match(stdout, /runs\/gsm8k\/student on gsm8k:test: accuracy/);
    const summary = JSON.parse(readFileSync(path.join(work, "runs/gsm8k/eval/summary.json"), "utf8"));
    assert.equal(summary.benchmark, "gsm8k:test");
    assert.equal(summary.model, "runs/gsm8k/student");
    assert.equal(summary.n, 3);
    const results = readJsonl(path.join(work, "runs/gsm8k/eval/results.jsonl"));
    assert.equal(results.length, 3);
    assert.ok(results.every((r) => r.source === "gsm8k:test" && "correct" in r));

    // the key was only ever in the environment and the Authorization header
    for (const file of filesUnder(work)) {
      assert.ok(!readFileSync(file).includes(key), `the API key leaked into ${file}`);
    }
  });
});

/** Run one stage's command as `distill <stage> --recipe gsm8k-deepseek.yaml <flags> --quiet` does. */
async function run(command: Command, flags: string[]) {
  const recipe = flags.includes("--out") ? [] : ["--recipe", gsm8kRecipe];
  await command.exitOverride().parseAsync([...recipe, ...flags, "--quiet"], { from: "user" });
}

interface TrainQuestion {
  question: string;
  gold: string;
  solution: string;
}

function readTrainQuestions(n: number): TrainQuestion[] {
  const lines = readFileSync(path.join(dataDir!, "gsm8k", "train.jsonl"), "utf8")
    .split("\n")
    .slice(0, n);
  return lines.map((line) => {
    const row = JSON.parse(line) as { question: string; answer: string };
    const solution = row.answer
      .split("####")[0]
      .replace(/<<[^>]*>>/g, "")
      .trim();
    return { question: row.question.trim(), gold: gsm8kGold(row.answer)!, solution };
  });
}

/**
 * deepseek-reasoner's wire format: reasoning_content deltas, then content deltas, usage in the last chunk.
 * The n-th request for a question gets reply n mod 4: a wrong final number, the worked solution, the
 * same again (a duplicate), and a differently worded one.
 */
function deepseekLike(questions: TrainQuestion[], key: string) {
  const seen = new Map<string, number>();
  return (request: ReplayRequest) => {
    if (request.headers.authorization !== `Bearer ${key}`)
      return {
        status: 401,
        body: { error: { message: "Authentication Fails", type: "authentication_error" } },
      };
    const messages = request.body.messages as { role: string; content: string }[];
    const prompt = messages.at(-1)!.content;
    const q = questions.find((item) => prompt.startsWith(item.question));
    if (!q)
      return { status: 400, body: { error: { message: "unknown question", type: "invalid_request_error" } } };
    const n = seen.get(q.question) ?? 0;
    seen.set(q.question, n + 1);
    const [reasoning, answer] = [
      [`Let me work through it.\n\n${q.solution}`, String(Number(q.gold) + 1)],
      [`Let me work through it.\n\n${q.solution}`, q.gold],
      [`Let me work through it.\n\n${q.solution}`, q.gold],
      [
        `Restating the problem: ${q.question}\n\nPutting these quantities together as described gives ${q.gold}.`,
        `\\boxed{${q.gold}}`,
      ],
    ][n % 4];
    const chunk = (delta: object, extra: object = {}) =>
      `data: ${JSON.stringify({ id: `r${request.index}`, object: "chat.completion.chunk", model: "deepseek-reasoner", choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
    const completionTokens = Math.ceil((reasoning.length + answer.length) / 4);
    const body =
      chunk({ role: "assistant", content: null, reasoning_content: "" }) +
      chunk({ content: null, reasoning_content: reasoning }) +
      chunk({ content: `<answer>${answer}`, reasoning_content: null }) +
      `data: ${JSON.stringify({
        id: `r${request.index}`,
        object: "chat.completion.chunk",
        model: "deepseek-reasoner",
        choices: [{ index: 0, delta: { content: "</answer>" }, finish_reason: "stop" }],
        usage: { prompt_tokens: Math.ceil(prompt.length / 4), completion_tokens: completionTokens },
      })}\n\ndata: [DONE]\n\n`;
    return { body };
  };
}

function readJsonl(file: string): Record<string, unknown>[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}
