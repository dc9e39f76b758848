import { readFileSync } from "node:fs";

/** For tests: the JSON lines of a run's file, or none when it was never written. */
export function readLines<T>(file: string): T[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}
