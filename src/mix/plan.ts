import { UserError } from "../util/errors.ts";
import type { SourceSpec } from "./options.ts";

/**
 * How many rows to draw from each source. Sampling is without replacement, so no source may be asked
 * for more rows than it has; the error says how large a total the sources can give.
 * - counts (`:20000`) are taken as they are; a source without an amount is taken whole;
 * - shares (`:0.8`) are fractions of `total`, rounded by largest remainder so they add up exactly;
 *   without `total`, shares must sum to 1 and the total is the largest the sources allow.
 */
export function planCounts(sources: (SourceSpec & { available: number })[], total?: number): number[] {
  const fixed = sources.reduce((sum, s) => sum + (s.share === undefined ? (s.count ?? s.available) : 0), 0);
  const shared = sources.filter((s) => s.share !== undefined);
  const shareSum = shared.reduce((sum, s) => sum + s.share!, 0);
  if (shared.length > 0 && total === undefined) {
    if (fixed > 0) throw new UserError("sources with shares and sources with counts together need --total");
    if (Math.abs(shareSum - 1) > 1e-9)
      throw new UserError(`shares sum to ${round(shareSum)}, not 1: make them sum to 1 or give --total`);
    total = Math.floor(Math.min(...shared.map((s) => s.available / s.share!)) + 1e-9);
    while (total > 0 && apportion(shared, total).some((n, i) => n > shared[i].available)) total--;
    if (total === 0) throw new UserError("a source with a share is empty");
  }
  const shareCounts = shared.length > 0 ? apportion(shared, Math.round(shareSum * total!)) : [];
  const counts = sources.map((s) =>
    s.share === undefined ? (s.count ?? s.available) : shareCounts[shared.indexOf(s)],
  );
  const sum = counts.reduce((a, b) => a + b, 0);
  if (total !== undefined && sum !== total) {
    const parts = sources.map((s, i) => `${s.name} ${counts[i]}`).join(" + ");
    throw new UserError(`the sources add up to ${parts} = ${sum} rows, not --total ${total}`);
  }
  for (const [i, s] of sources.entries()) {
    if (counts[i] <= s.available) continue;
    const most = s.share === undefined ? s.available : Math.floor(s.available / s.share);
    throw new UserError(
      `source "${s.name}" has ${s.available} rows but ${counts[i]} are asked` +
        (s.share === undefined ? "" : ` (${round(s.share)} of ${total})`) +
        `; sampling is without replacement, so ${s.share === undefined ? `ask for at most ${most}` : `--total can be at most ${most}`} or add data`,
      { file: s.file },
    );
  }
  return counts;
}

/** Largest-remainder (Hamilton) apportionment of `total` by share: the parts add up to `total` exactly. */
export function apportion(sources: { share?: number }[], total: number): number[] {
  const sum = sources.reduce((a, s) => a + (s.share ?? 0), 0);
  const exact = sources.map((s) => ((s.share ?? 0) / sum) * total);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left-- <= 0) break;
    counts[i]++;
  }
  return counts;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
