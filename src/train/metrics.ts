import { existsSync, readFileSync, writeFileSync } from "node:fs";

/** After a resume, forget metrics of steps the checkpoint does not hold, so the curve has no repeats. */
export function keepMetricsUpTo(file: string, step: number): void {
  if (!existsSync(file)) return;
  const kept = readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        return JSON.parse(line).step <= step;
      } catch {
        return false; // a torn last line
      }
    });
  writeFileSync(file, kept.map((l) => `${l}\n`).join(""));
}

export function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
