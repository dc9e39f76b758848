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
        format: `${label} {bar} {percentage}% | {value}/{total}${unit} | {rate}/s | ETA {eta_formatted}{extras}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 200,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: "0", extras: "" });
    return {
      tick(n = 1, c) {
        value += n;
        if (c) counters = c;
        bar.update(value, { rate: rate(value, started), extras: extras() });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const interval = options.intervalMs ?? 5000;
  let lastLine = Date.now();
  const line = () => {
    const r = value / Math.max(1e-3, (Date.now() - started) / 1000);
    const eta = r > 0 ? Math.round((total - value) / r) : Number.NaN;
    process.stderr.write(
      `${label} ${value}/${total}${unit} (${Math.floor((100 * value) / total)}%) | ${r.toFixed(1)}/s | ETA ${eta}s${extras()}\n`,
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

function rate(value: number, started: number): string {
  return (value / Math.max(1e-3, (Date.now() - started) / 1000)).toFixed(1);
}
