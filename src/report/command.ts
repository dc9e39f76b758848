import { Command } from "commander";

export const reportCommand = new Command("report")
  .description(
    "write <run>/report.html: results table, funnel, loss curves, accuracy by band, lengths, side-by-side examples (self-contained, opens from disk)",
  )
  .requiredOption(
    "--run <dir>",
    "run folder (summary.json, eval/<model>/, models/<model>/, filter/funnel.json)",
  )
  .option("--out <file>", "where to write the page (default <run>/report.html)")
  .action(async (flags: { run: string; out?: string }) => {
    const { report } = await import("./report.ts");
    const out = await report({ run: flags.run, out: flags.out });
    process.stdout.write(`report → ${out}\n`);
  });
