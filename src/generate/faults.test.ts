import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import {
  type FaultServer,
  mixedFaultRates as faultRates,
  startFaultServer,
} from "../../test/support/faultServer.ts";
import { readLines } from "../../test/support/readLines.ts";
import type { FailureRecord, GenerationRecord } from "./generate.ts";
import { generate } from "./generate.ts";

const tmp = () => mkdtempSync(path.join(tmpdir(), "distill-faults-"));

describe("generation against faulty endpoints", () => {
  it("1,000 candidates over two faulty endpoints: each completed or failed with its error, none twice, every request accounted for", async () => {
    const servers: FaultServer[] = await Promise.all([
      startFaultServer({ seed: 1, rates: faultRates, stallMs: 5000 }),
      startFaultServer({ seed: 2, rates: faultRates, stallMs: 5000 }),
    ]);
    try {
      const out = tmp();
      const summary = await generate({
        prompts: "builtin:equations?count=250",
        teacher: `openai:fault-test@${servers.map((s) => s.baseURL).join(",")}`,
        out,
        samplesPerPrompt: 4,
        endpointConcurrency: 16,
        retryBaseMs: 2,
        requestTimeout: 0.3,
        quiet: true,
      });
      const records = readLines<GenerationRecord>(path.join(out, "generations.jsonl"));
      const failed = readLines<FailureRecord>(path.join(out, "failed.jsonl"));
      const keys = (rows: { prompt_id: string; sample_index: number }[]) =>
        rows.map((r) => `${r.prompt_id}#${r.sample_index}`);
      assert.equal(new Set(keys(records)).size, records.length, "no candidate written twice");
      assert.equal(new Set(keys(failed)).size, failed.length, "no candidate failed twice");
      const all = new Set([...keys(records), ...keys(failed)]);
      assert.equal(all.size, 1000, "every candidate ended completed or failed");
      assert.equal(records.length + failed.length, 1000, "none both completed and failed");
      assert.equal(summary.written, records.length);
      assert.ok(failed.length > 0 && failed.length < 50, `${failed.length} failed`);
      for (const f of failed) {
        assert.ok(f.error.length > 0);
        assert.ok(f.status === 400 || f.attempts === 6, `${f.error} after ${f.attempts} attempts`);
      }
      // every request the servers saw is an attempt the log accounts for
      const attempts = [...records, ...failed].reduce((sum, r) => sum + r.attempts, 0);
      const seen = servers.reduce((sum, s) => sum + s.requests, 0);
      assert.ok(seen <= attempts, `servers saw ${seen} requests, the log accounts for ${attempts}`);
      assert.equal(attempts - 1000, summary.retries);
      // both endpoints served, and every fault kind was met
      const endpoints = new Set(records.map((r) => r.teacher_meta?.endpoint));
      assert.equal(endpoints.size, 2);
      for (const kind of Object.keys(faultRates)) {
        const met = servers.reduce((sum, s) => sum + (s.byKind[kind] ?? 0), 0);
        assert.ok(met > 0, `no ${kind}`);
      }
      assert.ok(records.every((r) => r.answer === "x = 5" && r.conforms));
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});
