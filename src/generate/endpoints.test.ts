import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { resolveOptions } from "../config/recipe.ts";
import { UserError } from "../util/errors.ts";
import { priceFor } from "./budget.ts";
import { createRunTeacher, endpointsOf, runConcurrencyOf } from "./endpoints.ts";
import { generateOptionsSchema } from "./options.ts";

describe("teacher endpoints", () => {
  it("reads several base URLs from the spec and limits from a recipe's endpoints and prices", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-endpoints-"));
    const recipe = path.join(dir, "recipe.yaml");
    writeFileSync(
      recipe,
      [
        "generate:",
        "  prompts: builtin:equations",
        "  teacher: openai:deepseek-reasoner@http://10.0.0.1:8000/v1,http://10.0.0.2:8000/v1",
        "  out: runs/r1",
        "  endpointConcurrency: 32",
        "  endpoints:",
        "    - url: http://10.0.0.2:8000/v1",
        "      concurrency: 64",
        "      requestsPerMinute: 600",
        "    - url: https://api.deepseek.com",
        "      concurrency: 8",
        "      tokensPerMinute: 1000000",
        "  prices:",
        "    deepseek-reasoner: { input: 0.55, output: 2.19 }",
        "",
      ].join("\n"),
    );
    const options = resolveOptions(generateOptionsSchema, {}, { file: recipe, stage: "generate" });
    const endpoints = endpointsOf(options.teacher, options, options.concurrency);
    assert.deepEqual(
      endpoints.map((e) => [e.spec, e.limits]),
      [
        [
          "openai:deepseek-reasoner@http://10.0.0.1:8000/v1",
          { concurrency: 32, requestsPerMinute: undefined, tokensPerMinute: undefined },
        ],
        [
          "openai:deepseek-reasoner@http://10.0.0.2:8000/v1",
          { concurrency: 64, requestsPerMinute: 600, tokensPerMinute: undefined },
        ],
        [
          "openai:deepseek-reasoner@https://api.deepseek.com",
          { concurrency: 8, requestsPerMinute: undefined, tokensPerMinute: 1_000_000 },
        ],
      ],
    );
    assert.equal(runConcurrencyOf(options.teacher, options, options.concurrency), 104);
    assert.deepEqual(priceFor(options.prices, "openai:deepseek-reasoner"), { input: 0.55, output: 2.19 });

    writeFileSync(
      recipe,
      "generate:\n  prompts: builtin:equations\n  teacher: openai:m\n  out: r\n  endpoints:\n    - url: ftp://x\n",
    );
    assert.throws(
      () => resolveOptions(generateOptionsSchema, {}, { file: recipe, stage: "generate" }),
      (e: unknown) =>
        e instanceof UserError &&
        /recipe\.yaml:5, field "endpoints\.0\.url": must be an http\(s\) URL/.test(e.message),
    );
  });

  it("uses the plain adapter for one endpoint given no endpoint settings, a pool otherwise", () => {
    const plain = createRunTeacher("openai:m@http://127.0.0.1:1/v1", {}, 8, {});
    assert.equal("stats" in plain, false);
    const pooled = createRunTeacher("openai:m@http://127.0.0.1:1/v1,http://127.0.0.1:2/v1", {}, 8, {});
    assert.equal(pooled.id, "openai:m@http://127.0.0.1:1/v1,http://127.0.0.1:2/v1");
    assert.ok("stats" in pooled && pooled.stats().length === 2);
    const limited = createRunTeacher("openai:m@http://127.0.0.1:1/v1", { requestsPerMinute: 60 }, 8, {});
    assert.ok("stats" in limited);
    const adaptive = createRunTeacher("openai:m@http://127.0.0.1:1/v1", { endpointConcurrency: 8 }, 8, {});
    assert.ok(
      "stats" in adaptive && adaptive.stats()[0].window === 8,
      "one endpoint given a limit adapts too",
    );
    assert.throws(
      () => endpointsOf("builtin:equations", { endpoints: [{ url: "http://x" }] }, 8),
      /takes no endpoints/,
    );
  });
});
