import { closeSync, openSync, readFileSync, rmdirSync, rmSync, statSync, writeSync } from "node:fs";
import path from "node:path";
import { UserError } from "./errors.ts";
import { prepareOutDir } from "./outputs.ts";

/**
 * One process per run folder. A stage that writes a folder holds `<dir>/.distill.lock`, a small JSON
 * file `{"pid": 4242, "command": "distill generate", "started": "2026-12-03T21:05:00.000Z"}` created
 * with O_EXCL, so of two processes started on the same folder exactly one gets it; the other is
 * refused with a message naming the holder. A lock whose process is gone (killed, crashed) is taken
 * over. Folders inside a locked folder count as in use too (a stage started inside a running demo),
 * except by the holder itself and the processes it starts (whose parent it is).
 */
export const lockName = ".distill.lock";

export interface LockInfo {
  pid: number;
  command: string;
  /** ISO time the holder took the lock. */
  started: string;
}

export interface FolderLock {
  readonly dir: string;
  /** Removes the lock (and the folder, when this lock made it and nothing was written into it). */
  release(): void;
}

/**
 * Takes the lock on `dir` for `command` (e.g. "distill generate"), making the folder when missing.
 * `flag` names the option the folder came from in messages. Released by `release()` or, failing that,
 * when the process exits.
 */
export function lockFolder(dir: string, command: string, flag = "--out"): FolderLock {
  refuseLockedAncestor(dir);
  const created = prepareOutDir(dir, flag);
  const file = path.join(dir, lockName);
  const mine: LockInfo = { pid: process.pid, command, started: new Date().toISOString() };
  // two tries: the second after taking over a lock whose holder is gone
  for (let attempt = 0; ; attempt++) {
    if (tryCreate(file, mine)) break;
    const holder = readLock(file);
    if (holder && isAlive(holder.pid)) throw inUse(dir, holder);
    if (attempt > 0) throw inUse(dir, holder ?? { pid: 0, command: "another process", started: "?" });
    takeOver(file, holder);
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off("exit", release);
    if (readLock(file)?.pid === process.pid) rmSync(file, { force: true });
    if (created) removeIfEmpty(dir);
  };
  process.on("exit", release);
  return { dir, release };
}

/** Runs `work` holding the lock on `dir`; the lock goes whatever `work` does. */
export async function withFolderLock<T>(
  dir: string,
  command: string,
  work: () => Promise<T>,
  flag = "--out",
): Promise<T> {
  const lock = lockFolder(dir, command, flag);
  try {
    return await work();
  } finally {
    lock.release();
  }
}

/** The lock's holder, or undefined when there is no lock (or it is unreadable: half written, removed). */
export function readLock(file: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(file, "utf8")) as LockInfo;
    return Number.isInteger(info.pid) && info.pid > 0 ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this id exists (EPERM: it does, under another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function tryCreate(file: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new UserError(`cannot lock the folder: ${(err as Error).message}`, { file: path.dirname(file) });
  }
  try {
    writeSync(fd, `${JSON.stringify(info)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Removes a dead holder's lock, unless it changed since it was read (another process took it over
 * first: removing that one would let both run). A lock being written right now reads as unreadable;
 * it is left alone when younger than a second.
 */
function takeOver(file: string, seen: LockInfo | undefined): void {
  const now = readLock(file);
  if (JSON.stringify(now) !== JSON.stringify(seen)) return;
  if (!seen) {
    try {
      if (Date.now() - statSync(file).mtimeMs < 1000) return;
    } catch {
      return;
    }
  }
  rmSync(file, { force: true });
}

/** Refuses a folder inside one a live process holds, unless that process is this one or its parent. */
function refuseLockedAncestor(dir: string): void {
  let at = path.dirname(path.resolve(dir));
  for (;;) {
    const holder = readLock(path.join(at, lockName));
    if (holder && holder.pid !== process.pid && holder.pid !== process.ppid && isAlive(holder.pid))
      throw inUse(dir, holder, at);
    const up = path.dirname(at);
    if (up === at) return;
    at = up;
  }
}

function inUse(dir: string, holder: LockInfo, ancestor?: string): UserError {
  const where = ancestor ? `is inside ${ancestor}, which is in use` : "is in use";
  return new UserError(
    `${where} by ${holder.command} (pid ${holder.pid}, since ${holder.started}); wait for it to finish or stop it`,
    { file: dir },
  );
}

function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (the stage wrote something) or already gone: either way, leave it
  }
}
