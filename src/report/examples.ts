import type { EvaluatedRecord } from "../evaluate/evaluate.ts";

/** One held-out item as each model answered it (its first sample), and why it was picked. */
export interface Example {
  promptId: string;
  prompt: string;
  gold?: string;
  band?: string;
  why: string;
  answers: { model: string; record: EvaluatedRecord | null }[];
}

/** How the focus model (distilled) and the baseline (base) compare on the items both answered. */
export interface ExampleTally {
  focus: string;
  baseline: string;
  both: number;
  /** Focus right, baseline wrong. */
  wins: number;
  /** Focus wrong, baseline right. */
  losses: number;
}

/**
 * Pick the side-by-side examples: up to `wins` items where `distilled` is right and `base` wrong (one
 * band after another, so they are not all the easiest kind; other items where there are too few),
 * plus one where `distilled` is wrong, so the page does not only show its successes. Each is labelled
 * with both verdicts. Runs without both models get the first items instead.
 * Deterministic: items are taken in prompt_id order.
 */
export function pickExamples(
  results: Record<string, EvaluatedRecord[]>,
  models: string[],
  wins = 3,
): { examples: Example[]; tally: ExampleTally | null } {
  const answered = models.filter((m) => results[m]?.length);
  if (answered.length === 0) return { examples: [], tally: null };
  const firstSample = new Map<string, Map<string, EvaluatedRecord>>();
  for (const model of answered) {
    const byItem = new Map<string, EvaluatedRecord>();
    for (const r of results[model]) {
      const seen = byItem.get(r.prompt_id);
      if (!seen || r.sample_index < seen.sample_index) byItem.set(r.prompt_id, r);
    }
    firstSample.set(model, byItem);
  }
  // Prefer items every model answered; a run evaluated on different sets still gets examples.
  const all = [...(firstSample.get(answered[0])?.keys() ?? [])].sort();
  const everywhere = all.filter((id) => answered.every((m) => firstSample.get(m)?.has(id)));
  const pool = everywhere.length ? everywhere : all;
  const record = (model: string, id: string) => firstSample.get(model)?.get(id) ?? null;
  const bandOf = (id: string) => answered.map((m) => record(m, id)?.band).find((b) => b !== undefined);
  const example = (id: string, why: string): Example => {
    const any = answered.map((m) => record(m, id)).find((r) => r) as EvaluatedRecord;
    return {
      promptId: id,
      prompt: any.prompt,
      gold: any.gold,
      band: any.band,
      why,
      answers: answered.map((model) => ({ model, record: record(model, id) })),
    };
  };

  const focus = "distilled";
  const baseline = "base";
  if (!firstSample.has(focus) || !firstSample.has(baseline)) {
    return { examples: roundRobin(pool, bandOf, wins + 1).map((id) => example(id, "example")), tally: null };
  }
  const both = pool.filter((id) => record(focus, id) && record(baseline, id));
  const verdict = (model: string, id: string) => record(model, id)?.correct;
  const winIds = both.filter((id) => verdict(focus, id) === true && verdict(baseline, id) === false);
  const lossIds = both.filter((id) => verdict(focus, id) === false);
  const losses = lossIds.filter((id) => verdict(baseline, id) === true);
  const tally = { focus, baseline, both: both.length, wins: winIds.length, losses: losses.length };
  const word = (v: boolean | null | undefined) =>
    v === true ? "right" : v === false ? "wrong" : "unverified";
  const why = (id: string) =>
    `${focus} ${word(verdict(focus, id))}, ${baseline} ${word(verdict(baseline, id))}`;

  const ids = roundRobin(winIds, bandOf, wins);
  // Too few wins (an early or failed run): fill with other items rather than hide the comparison,
  // items distilled gets right first.
  for (const rest of [both.filter((id) => !lossIds.includes(id)), lossIds]) {
    const more = rest.filter((id) => !ids.includes(id));
    ids.push(...roundRobin(more, bandOf, wins - ids.length));
  }
  // The honest one: a distilled failure, from a band not shown yet where there is one.
  if (!ids.some((id) => lossIds.includes(id))) {
    const shownBands = new Set(ids.map(bandOf));
    const loss = lossIds.find((id) => !shownBands.has(bandOf(id))) ?? lossIds[0];
    if (loss) ids.push(loss);
  }
  return { examples: ids.map((id) => example(id, why(id))), tally };
}

/** Up to `count` ids, taking one per band in turn (bands in the order they first appear in `ids`). */
function roundRobin(ids: string[], bandOf: (id: string) => string | undefined, count: number): string[] {
  const byBand = new Map<string | undefined, string[]>();
  for (const id of ids) {
    const band = bandOf(id);
    byBand.set(band, [...(byBand.get(band) ?? []), id]);
  }
  const queues = [...byBand.values()];
  const out: string[] = [];
  for (let round = 0; out.length < count && queues.some((q) => q.length > round); round++) {
    for (const q of queues) if (q[round] && out.length < count) out.push(q[round]);
  }
  return out;
}
