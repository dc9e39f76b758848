import type { Batch } from "../engine/batch.ts";
import type { TeacherTopK } from "../engine/distill.ts";
import type { Example } from "./data.ts";

/**
 * Sequence packing: examples laid end to end in rows of `context` tokens, each example its own
 * attention segment (the engine's attention never crosses segments, and RoPE positions restart at
 * each), so packed examples cannot see each other. `planRows` decides which examples share a row; one
 * longer than `context` is cut (and counted).
 *
 * Targets are next tokens within the same example; the weight of a target is the example's mask at
 * that next token, so only assistant tokens are predicted with loss.
 */
export interface PackedRows {
  rows: number;
  context: number;
  tokens: Int32Array; // (rows, context)
  targets: Int32Array; // (rows, context)
  weights: Float32Array; // (rows, context)
  segments: Int32Array; // (rows, context)
  /** Examples cut to fit the context. */
  truncated: number;
  /** Non-padding tokens. */
  realTokens: number;
  /** With `--kd topk`: the teacher's top-k at each target, (rows, context)·k. */
  teacher?: TeacherTopK;
}

/**
 * Which examples go in which row, in `order`; cheap (no token copies), so step counts are known up front.
 *
 * Best fit over a window of open rows (TRL's "bfd" packing does the same over the whole set): each
 * example goes into the open row it fills most tightly, and when no open row has room and `window` rows
 * are open, the oldest is closed. Laid end to end instead, the demo's reasoning rows (median 128 tokens
 * in a 256-token context) left a third of every batch as padding; the window keeps the epoch's shuffled
 * order at the scale of a few steps, and rows close in that order. Deterministic for a given order.
 */
export function planRows(
  examples: Example[],
  order: readonly number[],
  context: number,
  window = 64,
): { rows: RowPlan[]; truncated: number } {
  const rows: RowPlan[] = [];
  const open: { items: RowPlan; used: number }[] = [];
  let truncated = 0;
  const close = (at: number) => rows.push(open.splice(at, 1)[0].items);
  for (const index of order) {
    let length = examples[index].ids.length;
    if (length > context) {
      length = context;
      truncated++;
    }
    let best = -1;
    for (let r = 0; r < open.length; r++) {
      const room = context - open[r].used;
      if (room >= length && (best < 0 || room < context - open[best].used)) best = r;
    }
    if (best < 0) {
      if (open.length >= window) close(0); // the oldest: no example waits long for its turn
      open.push({ items: [], used: 0 });
      best = open.length - 1;
    }
    open[best].items.push({ example: index, length });
    open[best].used += length;
    if (open[best].used === context) close(best);
  }
  while (open.length > 0) close(0);
  return { rows, truncated };
}

type RowPlan = { example: number; length: number }[];

export function packExamples(
  examples: Example[],
  order: readonly number[],
  context: number,
  padId: number,
  /** Alternatives per position of the examples' teacher distributions (0: none are packed). */
  teacherK = 0,
): PackedRows {
  const { rows: rowsOf, truncated } = planRows(examples, order, context);
  const n = rowsOf.length * context;
  const tokens = new Int32Array(n).fill(padId);
  const targets = new Int32Array(n).fill(padId);
  const weights = new Float32Array(n);
  const segments = new Int32Array(n);
  const teacher = teacherK > 0 ? emptyTeacher(n, teacherK) : undefined;
  let segment = 0;
  let realTokens = 0;
  for (const [r, items] of rowsOf.entries()) {
    let at = r * context;
    for (const { example, length } of items) {
      const { ids, mask } = examples[example];
      segment++;
      for (let j = 0; j < length; j++) {
        tokens[at + j] = ids[j];
        segments[at + j] = segment;
        if (j + 1 < length) {
          targets[at + j] = ids[j + 1];
          weights[at + j] = mask[j + 1];
          // the distribution the next token was drawn from belongs to this target
          if (teacher) copyTeacher(examples[example].teacher, j + 1, teacher, at + j);
        }
      }
      at += length;
      realTokens += length;
    }
    // padding: a segment of its own, no loss
    segment++;
    segments.fill(segment, at, (r + 1) * context);
  }
  return {
    rows: rowsOf.length,
    context,
    tokens,
    targets,
    weights,
    segments,
    truncated,
    realTokens,
    ...(teacher ? { teacher } : {}),
  };
}

function emptyTeacher(n: number, k: number): TeacherTopK {
  return { k, ids: new Int32Array(n * k).fill(-1), probs: new Float32Array(n * k), has: new Uint8Array(n) };
}

function copyTeacher(from: Example["teacher"], j: number, to: TeacherTopK, at: number): void {
  if (!from?.has[j]) return;
  const { k } = to;
  to.has[at] = 1;
  to.ids.set(from.ids.subarray(j * k, (j + 1) * k), at * k);
  to.probs.set(from.probs.subarray(j * k, (j + 1) * k), at * k);
}

/** Rows [from, to) of a packing as one engine batch. */
export function batchOf(p: PackedRows, from: number, to: number): Batch {
  const a = from * p.context;
  const b = to * p.context;
  return {
    batch: to - from,
    time: p.context,
    tokens: p.tokens.subarray(a, b),
    targets: p.targets.subarray(a, b),
    weights: p.weights.subarray(a, b),
    segments: p.segments.subarray(a, b),
    ...(p.teacher
      ? {
          teacher: {
            k: p.teacher.k,
            ids: p.teacher.ids.subarray(a * p.teacher.k, b * p.teacher.k),
            probs: p.teacher.probs.subarray(a * p.teacher.k, b * p.teacher.k),
            has: p.teacher.has.subarray(a, b),
          },
        }
      : {}),
  };
}
