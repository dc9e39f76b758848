import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";

const repo = path.resolve(import.meta.dirname, "../..");

/** Lines in a file so far (0 while it does not exist). */
export const lineCount = (file: string) => {
  try {
    return readFileSync(file, "utf8").split("\n").length - 1;
  } catch {
    return 0;
  }
};

/**
 * `distill generate …` as its own process, the way a user runs it. `light` runs the same generate command
 * without loading the other stages (the full CLI takes seconds to start on a loaded 2-core machine).
 */
export function spawnGenerate(args: string[], env: NodeJS.ProcessEnv = process.env, light = false) {
  const entry = light
    ? [
        "--input-type=module",
        "-e",
        `const { generateCommand } = await import(${JSON.stringify(path.join(repo, "src/generate/command.ts"))});
         await generateCommand.parseAsync(process.argv.slice(1), { from: "user" });`,
        "--",
      ]
    : [path.join(repo, "src/cli.ts"), "generate"];
  const child = spawn(process.execPath, ["--import", "tsx", ...entry, ...args], {
    cwd: repo,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d) => {
    output.stdout += d;
  });
  child.stderr!.on("data", (d) => {
    output.stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output, exited };
}

/** Resolves once `condition` holds, checking every 5 ms; rejects if the child exits first. */
export function waitFor(condition: () => boolean, child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (condition()) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
    child.once("exit", () => {
      clearInterval(timer);
      if (!condition()) reject(new Error("the run ended before the condition held"));
    });
  });
}
