import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { loadModelFolder } from "../model/hfFolder.ts";
import { UserError } from "../util/errors.ts";
import { createTeacher, teacherFactories } from "./registry.ts";
import { parseTeacherSpec, teacherModelOf, teacherNameOf } from "./spec.ts";

const cli = path.join(import.meta.dirname, "..", "cli.ts");

describe("teacher specs", () => {
  it("parses every kind into a typed value", () => {
    assert.deepEqual(parseTeacherSpec("builtin:general"), {
      kind: "builtin",
      spec: "builtin:general",
      name: "general",
    });
    assert.deepEqual(parseTeacherSpec("openai:deepseek-r1:7b@http://a:8000/v1,https://b.example/v1"), {
      kind: "openai",
      spec: "openai:deepseek-r1:7b@http://a:8000/v1,https://b.example/v1",
      model: "deepseek-r1:7b",
      urls: ["http://a:8000/v1", "https://b.example/v1"],
    });
    assert.deepEqual(parseTeacherSpec("openai:deepseek-reasoner"), {
      kind: "openai",
      spec: "openai:deepseek-reasoner",
      model: "deepseek-reasoner",
      urls: [],
    });
    assert.deepEqual(parseTeacherSpec("gguf:./m.gguf"), {
      kind: "gguf",
      spec: "gguf:./m.gguf",
      path: "./m.gguf",
    });
    assert.deepEqual(parseTeacherSpec("model:runs/x"), {
      kind: "model",
      spec: "model:runs/x",
      dir: "runs/x",
    });
    assert.deepEqual(parseTeacherSpec("runs/x"), { kind: "model", spec: "runs/x", dir: "runs/x" });
    assert.deepEqual(parseTeacherSpec("mine:abc", ["mine"]), {
      kind: "custom",
      spec: "mine:abc",
      prefix: "mine",
      rest: "abc",
    });
  });

  it("refuses what a spec cannot mean, naming the forms it can take", () => {
    const refuses = (spec: string, pattern: RegExp) =>
      assert.throws(
        () => parseTeacherSpec(spec),
        (e: unknown) => e instanceof UserError && pattern.test(e.message),
      );
    refuses(
      "builtin:equation",
      /unknown built-in teacher "builtin:equation" \(builtin:equations, builtin:general\)/,
    );
    refuses("builtin:equations?cnt=5", /unknown built-in teacher/);
    refuses("openai:@http://a/v1", /must look like openai:<model>@<http\(s\):\/\/base-url>/);
    refuses("openai:m@ftp://a", /must look like/);
    refuses("openai:m@http://a/v1,http://", /"http:\/\/" in teacher .* is not an http\(s\) URL/);
    refuses("gguf:", /needs a path/);
    refuses("model:", /needs a folder/);
    refuses("deepseek-r1:7b", /unknown teacher kind "deepseek-r1:" .*openai:<model>@/);
  });

  it("gives a run's identity the model without its URLs (recorded specs too), and prices its name", () => {
    assert.equal(teacherModelOf("openai:m@https://a,https://b"), "openai:m");
    assert.equal(teacherModelOf("openai:m"), "openai:m");
    assert.equal(teacherModelOf("builtin:equations"), "builtin:equations");
    assert.equal(teacherModelOf("runs/student"), "runs/student");
    assert.equal(teacherNameOf("openai:deepseek-r1:7b@http://a/v1"), "deepseek-r1:7b");
    assert.equal(teacherNameOf("builtin:equations"), "equations");
    assert.equal(teacherNameOf("runs/student"), "runs/student");
  });

  it("makes teachers from the parsed value, and user adapters by prefix", async () => {
    assert.equal(createTeacher("builtin:equations").id.startsWith("builtin:equations"), true);
    assert.equal(
      createTeacher(parseTeacherSpec("openai:m@http://127.0.0.1:9/v1")).id,
      "openai:m@http://127.0.0.1:9/v1",
    );
    assert.throws(() => createTeacher("openai:m"), /needs a URL/);
    assert.throws(
      () => createTeacher("openai:m@http://127.0.0.1:1/v1,http://127.0.0.1:2/v1"),
      /lists 2 endpoints/,
    );
    teacherFactories.echo = (rest) => ({ id: `echo:${rest}`, sample: async () => [] });
    try {
      assert.equal(createTeacher("echo:hi").id, "echo:hi");
    } finally {
      delete teacherFactories.echo;
    }
    assert.throws(() => createTeacher("echo:hi"), /unknown teacher kind "echo:"/);
  });

  it("says a model folder is not found, and that a folder without config.json is not a model", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-spec-"));
    assert.throws(() => createTeacher(path.join(dir, "missing")), /missing: model folder not found/);
    mkdirSync(path.join(dir, "empty"));
    assert.throws(
      () => createTeacher(`model:${path.join(dir, "empty")}`),
      /not a model folder \(no config.json/,
    );
    assert.throws(() => loadModelFolder(path.join(dir, "missing")), /missing: model folder not found/);
  });

  it("the CLI reports a missing model folder in one line, exit 2", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-spec-cli-"));
    const missing = path.join(dir, "no-such-model");
    const run = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        cli,
        "generate",
        "--prompts",
        "builtin:equations?count=2",
        "--teacher",
        missing,
        "--out",
        path.join(dir, "out"),
      ],
      { encoding: "utf8" },
    );
    assert.equal(run.status, 2, run.stderr);
    assert.equal(run.stderr.trim(), `distill: ${missing}: model folder not found`);
  });
});
