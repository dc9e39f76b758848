import { Command } from "commander";
import { resolveOptions } from "../config/recipe.ts";
import { withFolderLock } from "../util/lock.ts";
import { merge, mergeOptionsSchema } from "./merge.ts";

export const mergeCommand = new Command("merge")
  .description(
    "combine the run folders of `distill generate --shard i/n` into one; refuses mismatched or overlapping shards, lists gaps",
  )
  .option("--in <dirs...>", "the shard run folders")
  .option("--out <dir>", "the merged run folder (new)")
  .option("--quiet", "no report")
  .action(async (flags: Record<string, unknown>) => {
    const options = resolveOptions(mergeOptionsSchema, flags);
    const s = await withFolderLock(options.out, "distill merge", () => merge(options));
    const report = (line: string) => options.quiet || process.stderr.write(line);
    const expected = s.expected === undefined ? "" : ` of ${s.expected}`;
    report(
      `merge: ${s.candidates}${expected} candidates from shards ${s.shards.join(", ")} in ${s.out}/generations.jsonl | ` +
        `${s.failed} failed | ${s.gaps} prompts with missing candidates (gaps.jsonl)\n`,
    );
    if (s.missingShards.length > 0) report(`merge: missing shards ${s.missingShards.join(", ")}\n`);
    if (s.note) report(`merge: ${s.note}\n`);
    if (s.gaps > 0 || s.missingShards.length > 0) {
      report(
        "merge: incomplete; run `distill generate` with the same settings (no --shard) on the merged folder to fill the gaps\n",
      );
      process.exitCode = 1;
    }
  });
