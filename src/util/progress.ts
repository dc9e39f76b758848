import cliProgress from "cli-progress";

export interface Progress {
  /** Advance by `n` and refresh the extra counters shown after the bar. */
  tick(n?: number, counters?: Record<string, number | string>): void;
  stop(): void;
}

/**
 * A progress bar with rate and ETA on a terminal; on a pipe or in CI, one plain line every
 * `intervalMs` instead of redrawing. Writes to stderr so stdout stays clean for data.
 */
export function createProgress(
  label: string,
  total: number,
  options: { quiet?: boolean; intervalMs?: number; unit?: string } = {},
): Progress {
  if (options.quiet || total === 0) return { tick() {}, stop() {} };
  // what is counted, after the totals: "filter 1200/5000 candidates"
  const unit = options.unit ? ` ${options.unit}` : "";
  const started = Date.now();
  let value = 0;
  let counters: Record<string, number | string> = {};
  // " | failed 0 | tokens 519", or nothing when there are no counters
  const extras = () =>
    Object.entries(counters)
      .map(([k, v]) => ` | ${k} ${v}`)
      .join("");
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} {bar} {percentage}% | {value}/{total}${unit} | {rate} | ETA {eta}{extras}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 200,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: "?/s", eta: "?", extras: "" });
    return {
      tick(n = 1, c) {
        value += n;
        if (c) counters = c;
        bar.update(value, { rate: rate(value, started), eta: eta(value, total, started), extras: extras() });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const interval = options.intervalMs ?? 5000;
  let lastLine = Date.now();
  const line = () => {
    process.stderr.write(
      `${label} ${value}/${total}${unit} (${Math.floor((100 * value) / total)}%) | ${rate(value, started)} | ETA ${eta(value, total, started)}${extras()}\n`,
    );
  };
  return {
    tick(n = 1, c) {
      value += n;
      if (c) counters = c;
      if (Date.now() - lastLine >= interval) {
        lastLine = Date.now();
        line();
      }
    },
    stop() {
      line();
    },
  };
}

/** "12.3/s"; below one a second, the seconds each takes ("45.2 s each": a 0.5B student's train steps). */
export function rate(value: number, started: number): string {
  const perSecond = value / Math.max(1e-3, (Date.now() - started) / 1000);
  if (perSecond >= 0.95 || !(perSecond > 0)) return `${perSecond.toFixed(1)}/s`;
  return `${(1 / perSecond).toFixed(1)} s each`;
}

/** Time left at the rate so far, "1h 02m", "3m 05s" or "42s"; "?" until anything is done (no rate yet). */
export function eta(value: number, total: number, started: number): string {
  const perSecond = value / Math.max(1e-3, (Date.now() - started) / 1000);
  if (!(perSecond > 0)) return "?";
  const s = Math.max(0, Math.round((total - value) / perSecond));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}
