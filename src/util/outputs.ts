import { closeSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { UserError } from "./errors.ts";

/**
 * Where stages write. Folders are checked before anything is written (a file where a folder should be
 * is one message naming the flag, not a stack trace); whole files are written beside their final name
 * and renamed over it when complete, so a failed run leaves the previous file as it was and no partial
 * or empty one. Append-only files meant to be resumed (generate's generations.jsonl) are not these.
 */

/**
 * Makes the output folder `dir` (and its parents) unless it exists. Returns whether it was made, so a
 * failed run can take away a folder it made for nothing. `flag` names the option in messages.
 */
export function prepareOutDir(dir: string, flag = "--out"): boolean {
  const kind = kindOf(dir);
  if (kind === "folder") return false;
  if (kind === "file") throw new UserError(`${flag}: is a file, not a folder`, { file: dir });
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new UserError(`${flag}: cannot make the folder (${systemReason(err)})`, { file: dir });
  }
  return true;
}

/** Refuses an output file path that is a folder or whose folder is missing, before any work is done. */
export function checkOutFile(file: string, flag = "--out"): void {
  if (kindOf(file) === "folder") throw new UserError(`${flag}: is a folder, not a file`, { file });
  const parent = path.dirname(path.resolve(file));
  const kind = kindOf(parent);
  if (kind === "missing") throw new UserError(`${flag}: the folder ${parent} does not exist`, { file });
  if (kind === "file") throw new UserError(`${flag}: ${parent} is a file, not a folder`, { file });
}

/** Refuses an input path that is missing or a folder where a file is read. */
export function checkInFile(file: string, flag = "--in"): void {
  const kind = kindOf(file);
  if (kind === "missing") throw new UserError(`${flag}: file not found`, { file });
  if (kind === "folder") throw new UserError(`${flag}: is a folder, not a file`, { file });
}

/** Writes `data` to `file` all at once: a temporary file beside it, renamed over it when complete. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const temp = tempPathFor(file);
  try {
    writeFileSync(temp, data);
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/** A file being written: lines go to `fd`; `commit()` puts it in place, `discard()` drops it. */
export interface AtomicFile {
  readonly fd: number;
  /** Closes the temporary file and renames it over the final one. */
  commit(): void;
  /** Closes and removes the temporary file; the final one (if any) stays as it was. Does nothing after commit. */
  discard(): void;
}

/** Opens `<dir>/.<name>.tmp-<pid>` for a streaming write of `file` (see AtomicFile). */
export function openAtomic(file: string): AtomicFile {
  const temp = tempPathFor(file);
  const fd = openSync(temp, "w");
  let done = false;
  const finish = () => {
    done = true;
    process.off("exit", discard);
    closeSync(fd);
  };
  // a process that exits mid-write (an uncaught error, process.exit) leaves no temporary file
  const discard = () => {
    if (done) return;
    finish();
    rmSync(temp, { force: true });
  };
  process.on("exit", discard);
  return {
    fd,
    commit() {
      if (done) throw new Error(`${file}: already committed or discarded`);
      finish();
      renameSync(temp, file);
    },
    discard,
  };
}

/** `<dir>/.<name>.tmp-<pid>`: beside the file (so the rename stays on one file system), hidden, one a process. */
function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
}

type PathKind = "missing" | "file" | "folder";

function kindOf(p: string): PathKind {
  try {
    return statSync(p).isDirectory() ? "folder" : "file";
  } catch (err) {
    // ENOTDIR: a parent is a file, so the path cannot exist; mkdir will say so
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return "missing";
    throw new UserError(`cannot read (${systemReason(err)})`, { file: p });
  }
}

/** A system error as a few words: "permission denied", "a parent is a file", or Node's own text. */
export function systemReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const known: Record<string, string> = {
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    ENOTDIR: "a parent is a file, not a folder",
    EEXIST: "a file is in the way",
    EROFS: "read-only file system",
    ENOSPC: "no space left on the device",
  };
  return (e.code && known[e.code]) ?? e.message ?? String(err);
}
