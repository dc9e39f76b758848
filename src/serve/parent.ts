import { readFileSync } from "node:fs";

/**
 * Call `onGone` once the process that started this one goes away, so a server does not outlive the
 * command that launched it. `npx distill serve` runs as npm exec → `sh -c distill …` → node: a SIGTERM
 * to npm kills the shell and leaves the server to init; a SIGKILL to npm leaves the shell and the
 * server. So the watch covers the parent and, through every `sh -c` wrapper, the process above it:
 * whenever one of them gets a new parent, the chain is broken. Checked every `intervalMs` (unref'd:
 * it keeps nothing alive). A process already adopted by init (pid 1) has no launcher to watch.
 * Reads /proc where there is one (Linux); elsewhere only the direct parent is watched.
 * Returns a function that stops watching.
 */
export function onParentGone(onGone: () => void, intervalMs = 1000): () => void {
  const chain = launcherChain();
  if (chain.length === 0) return () => {};
  const timer = setInterval(() => {
    const broken = chain.some(({ pid, parent }) => parentOf(pid) !== parent);
    if (!broken) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Each link: a process and the parent it had when the server started, from this process up. */
function launcherChain(): { pid: number; parent: number }[] {
  const chain: { pid: number; parent: number }[] = [];
  let pid = process.pid;
  let parent = process.ppid;
  while (parent > 1) {
    chain.push({ pid, parent });
    if (!isShellWrapper(parent)) break;
    const above = parentOf(parent);
    if (above === undefined) break;
    pid = parent;
    parent = above;
  }
  return chain;
}

/** The parent pid of `pid` ("pid (comm) state ppid …" in /proc/<pid>/stat); undefined when unreadable. */
function parentOf(pid: number): number | undefined {
  if (pid === process.pid) return process.ppid;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may hold spaces and parentheses: the fields after it start at the last ")"
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a shell run as `sh -c <command>`, which only waits for its command. */
function isShellWrapper(pid: number): boolean {
  try {
    const [shell = "", flag] = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return /(^|\/)(sh|dash|bash|zsh)$/.test(shell) && flag === "-c";
  } catch {
    return false;
  }
}
