import {
  closeSync,
  createReadStream,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  writeSync,
} from "node:fs";
import { createInterface } from "node:readline";
import { UserError } from "./errors.ts";

/**
 * JSON Lines, the format between stages: one object a line, UTF-8. Reading names the file and line of
 * anything malformed; writing appends one whole line per call, so a killed process leaves at most one
 * torn final line, which `repairTornTail` removes.
 */
export async function* readJsonl<T = Record<string, unknown>>(
  file: string,
): AsyncGenerator<{ value: T; line: number; bytes: number }> {
  const lines = createInterface({
    input: createReadStream(file, "utf8"),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let line = 0;
  try {
    for await (const text of lines) {
      line++;
      // bytes of the line and its newline, for progress over a file's size
      const bytes = Buffer.byteLength(text) + 1;
      if (text.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new UserError(`not valid JSON (${(err as Error).message})`, { file, line });
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new UserError("expected a JSON object", { file, line });
      }
      yield { value: value as T, line, bytes };
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UserError("file not found", { file });
    if (code === "EISDIR") throw new UserError("is a folder, not a file", { file });
    throw err;
  }
}

/** An append-only JSONL writer; each `write` is one `write(2)` of a whole line. */
export class JsonlAppender {
  private readonly fd: number;
  constructor(readonly file: string) {
    this.fd = openSync(file, "a");
  }
  write(record: unknown): void {
    writeSync(this.fd, `${JSON.stringify(record)}\n`);
  }
  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Appends JSONL records with one write(2) per event-loop turn instead of one per record: at a few
 * thousand records/s the syscalls cost more than parsing the replies (bench:generate). Every write
 * holds whole lines, so a kill leaves at most a torn last line (repaired on resume) and loses only the
 * records of the current turn (generate samples those again on resume, like requests in flight). A failed
 * write is thrown by the next `write` (and by `close` if no `write` came after it).
 */
export class BatchedJsonlAppender {
  private readonly fd: number;
  private pending: string[] = [];
  private error: unknown;
  private thrown = false;
  constructor(readonly file: string) {
    this.fd = openSync(file, "a");
  }
  write(record: unknown): void {
    if (this.error !== undefined) {
      this.thrown = true;
      throw this.error;
    }
    if (this.pending.length === 0) setImmediate(this.flush);
    this.pending.push(`${JSON.stringify(record)}\n`);
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
    if (this.error !== undefined && !this.thrown) throw this.error;
  }
  private readonly flush = () => {
    if (this.pending.length === 0) return;
    const text = this.pending.join("");
    this.pending = [];
    try {
      writeSync(this.fd, text);
    } catch (err) {
      this.error ??= err;
    }
  };
}

/**
 * Drop a final line that a kill cut short (no trailing newline). Returns the bytes removed.
 * Complete lines are never touched.
 */
export function repairTornTail(file: string): number {
  let fd: number;
  try {
    fd = openSync(file, "r+");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return 0;
    // scan back from the end for the last newline, 64 KiB at a time
    const chunk = Buffer.alloc(65536);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      readSync(fd, chunk, 0, end - start, start);
      const at = chunk.subarray(0, end - start).lastIndexOf(10);
      if (at >= 0) {
        const keep = start + at + 1;
        if (keep < size) ftruncateSync(fd, keep);
        return size - keep;
      }
      end = start;
    }
    ftruncateSync(fd, 0);
    return size;
  } finally {
    closeSync(fd);
  }
}
