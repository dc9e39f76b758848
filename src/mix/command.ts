import { Command, Option } from "commander";
import { resolveStageOptions } from "../config/recipe.ts";
import { withFolderLock } from "../util/lock.ts";
import { mix } from "./mix.ts";
import { mixOptionsSchema } from "./options.ts";

export const mixCommand = new Command("mix")
  .description(
    "mix filtered sources by share or count → <out>/train.jsonl, validation.jsonl (+ .parquet) in chat format, stats.json",
  )
  .option(
    "--source <specs...>",
    "name=path[:share|:count], e.g. reasoning=runs/eq/kept.jsonl:0.8 (share of --total), general=gen.jsonl:20000 (rows), or name=path (all rows)",
  )
  .option("--out <dir>", "output folder")
  .option("--total <n>", "rows in all (train + validation); needed when shares and counts are mixed")
  .option("--seed <s>", "seed of sampling and shuffling (default 0)")
  .option("--validation <share>", "share of rows held out for validation, by prompt (default 0.05)")
  .addOption(new Option("--no-parquet", "write JSONL only"))
  .option("--recipe <file.yaml>", "read these options from a YAML recipe (flags override it)")
  .addOption(new Option("--quiet", "no progress output"))
  // commander errors reach cli.ts, which exits 2 like every usage error (addCommand does not inherit it)
  .action(async (flags: Record<string, unknown>) => {
    const options = resolveStageOptions(mixOptionsSchema, flags, "mix");
    const s = await withFolderLock(options.out, "distill mix", () => mix(options));
    const drawn = Object.entries(s.drawn)
      .map(([name, d]) => `${name} ${d.drawn}/${d.available}`)
      .join(", ");
    process.stderr.write(
      `mix: ${s.train} train + ${s.validation} validation rows (${drawn}) → ${s.out}/{${s.files.join(",")}}\n`,
    );
  });
