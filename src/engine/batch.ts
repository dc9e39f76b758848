/**
 * A training batch as the engine's ops see it: B rows of T tokens, flattened row-major to B*T, with
 * per-token loss weights and packed-document segments. The decoder that consumes it lives in src/model.
 */
import type { TeacherTopK } from "./distill.ts";

/** B sequences of T tokens, flattened row-major to B*T. */
export interface Batch {
  batch: number;
  time: number;
  /** Input token ids [B*T]. */
  tokens: Int32Array;
  /** Next-token targets [B*T] (ignored where the weight is 0). */
  targets: Int32Array;
  /** Loss weight per target [B*T]: 0 masks a position (prompt, padding); default all 1. */
  weights?: Float32Array;
  /** Document id per token [B*T] for packed sequences: attention never crosses ids; default one per row. */
  segments?: Int32Array;
  /** RoPE positions [B*T]; default counts from 0 at the start of each row and each new segment. */
  positions?: Int32Array;
  /** The teacher's top-K distribution at each target [B*T]: the loss distils from it (distill.ts). */
  teacher?: TeacherTopK;
}

/** Default RoPE positions: 0, 1, 2… restarting at each row start and each segment change. */
export function defaultPositions(batch: number, time: number, segments?: Int32Array): Int32Array {
  const pos = new Int32Array(batch * time);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < time; t++) {
      const i = b * time + t;
      pos[i] = t === 0 || (segments && segments[i] !== segments[i - 1]) ? 0 : pos[i - 1]! + 1;
    }
  return pos;
}

/** Default segments: one document per row. */
export function defaultSegments(batch: number, time: number): Int32Array {
  const seg = new Int32Array(batch * time);
  for (let b = 0; b < batch; b++) seg.fill(b, b * time, b * time + time);
  return seg;
}
