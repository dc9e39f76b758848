/**
 * How a student was prompted in training, kept with it so that it is scored and served with exactly
 * that prompt however it is reached: `distill_prompt.json` in its model folder (written by `distill
 * train`), the GGUF key `distill.instruction` (written by `distill export`), and the `distill` field of
 * its entry in `distill serve`'s `/v1/models`. Shape: `{ "instruction": "none" | "template" }` — whether
 * the user turn carried the template instruction (src/template/render.ts) after the problem.
 */
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { endsWithInstruction } from "../template/render.ts";
import { UserError } from "../util/errors.ts";
import { readJsonFile } from "./hfFolder.ts";

export type InstructionMode = "none" | "template";
export interface PromptRecord {
  instruction: InstructionMode;
}

export const promptRecordFile = "distill_prompt.json";
export const ggufInstructionKey = "distill.instruction";

/** The record of a model folder, or null when it has none (a checkpoint not trained by this project). */
export function readPromptRecord(dir: string): PromptRecord | null {
  const file = path.join(dir, promptRecordFile);
  if (!existsSync(file)) return null;
  const instruction = (readJsonFile(file) as { instruction?: unknown } | null)?.instruction;
  if (!isInstructionMode(instruction))
    throw new UserError(`must be "none" or "template", not ${JSON.stringify(instruction)}`, {
      file,
      field: "instruction",
    });
  return { instruction };
}

export function writePromptRecord(dir: string, record: PromptRecord): void {
  writeFileSync(path.join(dir, promptRecordFile), `${JSON.stringify(record, null, 2)}\n`);
}

export function isInstructionMode(value: unknown): value is InstructionMode {
  return value === "none" || value === "template";
}

/** How training rows prompt: "template" when most last user turns end with the instruction. */
export function promptRecordOf(rows: { messages: { role: string; content: string }[] }[]): PromptRecord {
  let withInstruction = 0;
  for (const row of rows) {
    const user = row.messages.findLast((m) => m.role === "user");
    if (user && endsWithInstruction(user.content)) withInstruction++;
  }
  return { instruction: withInstruction * 2 > rows.length ? "template" : "none" };
}
