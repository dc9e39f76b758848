import type { TeacherTopK } from "../../src/engine/distill.ts";
import { uniformArray } from "./gradcheck.ts";

/**
 * A seeded teacher distribution over `rows` rows for loss tests: each row gets `k` distinct ids
 * (`(r·rowStride + j·idStride) mod vocab`) whose probabilities take shares of `mass` and leave a tail —
 * except rows `without` (no distribution), rows `few` (two alternatives), rows `whole` (no tail left).
 */
export function syntheticTeacher(o: {
  rows: number;
  k: number;
  vocab: number;
  seed: number;
  mass: number;
  rowStride: number;
  idStride: number;
  without: (r: number) => boolean;
  few: (r: number) => boolean;
  whole?: (r: number) => boolean;
}): TeacherTopK {
  const { rows, k: K, vocab } = o;
  const u = uniformArray(rows * K, o.seed);
  const ids = new Int32Array(rows * K).fill(-1);
  const probs = new Float32Array(rows * K);
  const has = new Uint8Array(rows).fill(1);
  for (let r = 0; r < rows; r++) {
    if (o.without(r)) {
      has[r] = 0;
      continue;
    }
    const n = o.few(r) ? 2 : K;
    const whole = o.whole?.(r) ?? false;
    let mass = whole ? 1 : o.mass;
    for (let j = 0; j < n; j++) {
      ids[r * K + j] = (r * o.rowStride + j * o.idStride) % vocab;
      const p = whole && j === n - 1 ? mass : mass * (0.5 + 0.2 * u[r * K + j]!);
      probs[r * K + j] = p;
      mass -= p;
    }
  }
  return { k: K, ids, probs, has };
}
