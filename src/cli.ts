#!/usr/bin/env node
/**
 * The `distill` command line: one subcommand per pipeline stage. Thin by design: each stage's
 * `command.ts` parses its flags and calls the library; this file maps errors to exit codes.
 */
import { Command, CommanderError } from "commander";
import { demoCommand } from "./demo/command.ts";
import { evalCommand } from "./evaluate/command.ts";
import { exportCommand } from "./export/command.ts";
import { filterCommand } from "./filter/command.ts";
import { generateCommand } from "./generate/command.ts";
import { mergeCommand } from "./merge/command.ts";
import { mixCommand } from "./mix/command.ts";
import { reportCommand } from "./report/command.ts";
import { serveCommand } from "./serve/command.ts";
import { trainCommand } from "./train/command.ts";
import { UserError } from "./util/errors.ts";
import { systemReason } from "./util/outputs.ts";
import { verifyCommand } from "./verify/command.ts";

const program = new Command()
  .name("distill")
  .description(
    "Distil a reasoning teacher into a small student: generate → filter → mix → train → eval → export",
  )
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride();

// Stage commands are registered here, one line each, in pipeline order.
const stages: Command[] = [
  generateCommand,
  mergeCommand,
  verifyCommand,
  filterCommand,
  mixCommand,
  trainCommand,
  exportCommand,
  evalCommand,
  demoCommand,
  reportCommand,
  serveCommand,
];
// addCommand does not pass settings down: every stage reports usage errors the same way (exit 2)
for (const stage of stages) program.addCommand(stage.exitOverride().showHelpAfterError());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  if (err instanceof UserError) {
    process.stderr.write(`distill: ${err.message}\n`);
    process.exit(2);
  }
  // a file system refusal no stage named better (a folder where a file goes, a full disk): one line
  const fsError = fileSystemError(err);
  if (fsError) {
    process.stderr.write(`distill: ${fsError}\n`);
    process.exit(2);
  }
  throw err;
}

/** `<path>: <reason>` for Node's errors about a path the user gave; undefined for anything else (a bug). */
function fileSystemError(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException;
  const userCaused = ["ENOENT", "EISDIR", "ENOTDIR", "EEXIST", "EACCES", "EPERM", "EROFS", "ENOSPC"];
  if (!(err instanceof Error) || !e.path || !e.code || !userCaused.includes(e.code)) return undefined;
  const reasons: Record<string, string> = {
    ENOENT: "no such file or folder",
    EISDIR: "is a folder, not a file",
  };
  return `${e.path}: ${reasons[e.code] ?? systemReason(err)}`;
}
