import { words } from "./text.ts";

/**
 * Rejection sampling: which of a prompt's candidates that passed every check to keep.
 * - `all-correct`: all of them (at most `k` when given, lowest sample_index first)
 * - `first-correct`: the one with the lowest sample_index
 * - `shortest-correct`: the shortest response (ties: lowest sample_index) — R1-style length control
 * - `k-diverse`: up to `k` (default 2), greedily most dissimilar: start from the first, then add the one
 *   whose highest word-3-gram Jaccard similarity to those already chosen is lowest
 */
export const policies = ["all-correct", "first-correct", "shortest-correct", "k-diverse"] as const;
export type Policy = (typeof policies)[number];

export interface PolicyCandidate {
  sampleIndex: number;
  /** The response as the student would learn it. */
  text: string;
}

/** Indices into `candidates` of those kept, in sample_index order. Never empty for a non-empty input. */
export function selectCandidates(candidates: PolicyCandidate[], policy: Policy, k?: number): number[] {
  const order = candidates
    .map((_, i) => i)
    .sort((a, b) => candidates[a].sampleIndex - candidates[b].sampleIndex);
  if (order.length === 0) return [];
  switch (policy) {
    case "all-correct":
      return k === undefined ? order : order.slice(0, k);
    case "first-correct":
      return [order[0]];
    case "shortest-correct": {
      let best = order[0];
      for (const i of order) if (candidates[i].text.length < candidates[best].text.length) best = i;
      return [best];
    }
    case "k-diverse":
      return mostDiverse(candidates, order, k ?? 2);
  }
}

function mostDiverse(candidates: PolicyCandidate[], order: number[], k: number): number[] {
  const sets = candidates.map((c) => shingleSet(c.text));
  const chosen = [order[0]];
  // closest[i]: highest similarity of candidate i to any chosen one
  const closest = new Map(order.slice(1).map((i) => [i, jaccard(sets[i], sets[order[0]])]));
  while (chosen.length < k && closest.size > 0) {
    let pick = -1;
    let pickSim = Number.POSITIVE_INFINITY;
    for (const [i, sim] of closest) if (sim < pickSim) [pick, pickSim] = [i, sim];
    chosen.push(pick);
    closest.delete(pick);
    for (const [i, sim] of closest) closest.set(i, Math.max(sim, jaccard(sets[i], sets[pick])));
  }
  return chosen.sort((a, b) => candidates[a].sampleIndex - candidates[b].sampleIndex);
}

function shingleSet(text: string): Set<string> {
  const tokens = words(text);
  const out = new Set<string>();
  for (let i = 0; i + 3 <= Math.max(tokens.length, 3); i++) out.add(tokens.slice(i, i + 3).join(" "));
  return out;
}

export function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let both = 0;
  for (const x of a) if (b.has(x)) both++;
  return both / (a.size + b.size - both);
}
