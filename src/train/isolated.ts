import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { UserError } from "../util/errors.ts";
import type { TrainOptions } from "./options.ts";
import type { TrainSummary } from "./train.ts";

/**
 * `train()` in a fresh Node process, for callers that have done other work first (the demo: generate,
 * filter, mix). Why: the engine's steps make short-lived garbage that V8 promotes to the old generation,
 * so every few steps a major GC marks the whole heap; after the filter stage that heap holds eld's
 * language dictionary and the checks' caches (~170 MB of small objects) and marking never stops —
 * measured in the demo: four GC threads busy all along and 3–4k tokens/s instead of 10k in a fresh
 * process. A child starts with a small heap and ends with its memory returned.
 */
export function trainIsolated(options: TrainOptions): Promise<TrainSummary> {
  const tsx = import.meta.resolve("tsx"); // absolute, so it works from any working directory
  const main = fileURLToPath(new URL("./isolatedMain.ts", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", tsx, main], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const last = out.trim().split("\n").at(-1) ?? "";
      let reply: { summary?: TrainSummary; userError?: string; error?: string } = {};
      try {
        reply = JSON.parse(last);
      } catch {
        // no reply: the child died (the code or signal says how)
      }
      if (reply.summary) resolve(reply.summary);
      else if (reply.userError) reject(new UserError(reply.userError));
      else reject(new Error(reply.error ?? `training process ended with ${signal ?? `exit code ${code}`}`));
    });
    child.stdin.end(JSON.stringify(options));
  });
}
