/**
 * The loss of learning from a teacher's top-K distribution (`distill train --kd topk`), row by row over a
 * chunk of student logits. A row's teacher gives K alternatives with their probabilities; the mass they
 * leave, 1 − Σ p_k, is one more bucket, the tail. The student's distribution is bucketed the same way:
 * q_k = softmax(z)[id_k], q_tail = the rest of its vocabulary. Per row,
 *
 *   loss = α·CE(z, target) + (1 − α)·T²·D(p̃ ‖ q_T)
 *
 * with q_T = softmax(z / T) bucketed, p̃ the teacher's buckets raised to 1/T and renormalised (exact at
 * T = 1; with only K + 1 buckets known, the tail is tempered as one token), and D the forward KL
 * Σ p̃_b log(p̃_b / q_b) (`forward`, learning from teacher samples) or the reverse KL Σ q_b log(q_b / p̃_b)
 * (`reverse`, on-policy: the student's own tokens, graded by the teacher). T² keeps the gradient's size
 * comparable across temperatures (Hinton et al., 2015). Rows without a teacher distribution get the
 * cross-entropy alone. Gradients, with s = softmax(z / T) and b(j) the bucket of token j:
 *
 *   forward: ∂D/∂z_j = s_j · (1 − p̃_b(j) / q_b(j)) / T      (= (s_j − p̃_k) / T for the K ids)
 *   reverse: ∂D/∂z_j = s_j · (log q_b(j) − log p̃_b(j) − D) / T
 *
 * Sums run in float64; tested against PyTorch's autograd on the same formula (test/reference).
 */

/** The teacher's top-K distribution at each row (target position) of a batch. */
export interface TeacherTopK {
  k: number;
  /** [rows·k] the alternatives' ids in the student's vocabulary, distinct within a row; −1 for none. */
  ids: Int32Array;
  /** [rows·k] their probabilities under the teacher (temperature 1). */
  probs: Float32Array;
  /** [rows] 1 where the row has the teacher's distribution. */
  has: Uint8Array;
}

export interface DistillSettings {
  /** Weight of the cross-entropy on the target token; 1 − alpha goes to the divergence. */
  alpha: number;
  temperature: number;
  divergence: "forward" | "reverse";
}

/** The reverse KL's floor under a teacher bucket's probability: a token the teacher gave none costs log(1e-8), not ∞. */
const reverseFloor = 1e-8;

/**
 * Σ_i w_i·loss_i over `rows.length` rows of `logits` ([n, V], row i at i·V), where `rows[i]` is row i's
 * index into `targets`, `weights` and `teacher`. With `dlogits`, adds gradScale·w_i·∂loss_i/∂z into it.
 */
export function distillRows(
  logits: Float32Array,
  vocab: number,
  rows: ArrayLike<number>,
  targets: Int32Array,
  weights: Float32Array,
  teacher: TeacherTopK,
  settings: DistillSettings,
  dlogits: Float32Array | null,
  gradScale: number,
): number {
  const scratch = new Scratch(vocab, teacher.k);
  let total = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const w = weights[row]!;
    if (w === 0) continue;
    const z = logits.subarray(i * vocab, (i + 1) * vocab);
    const dz = dlogits ? dlogits.subarray(i * vocab, (i + 1) * vocab) : null;
    const c = gradScale * w;
    if (!teacher.has[row] || settings.alpha === 1) {
      total += w * crossEntropyRow(z, targets[row]!, dz, c);
      continue;
    }
    if (settings.alpha > 0)
      total += w * settings.alpha * crossEntropyRow(z, targets[row]!, dz, c * settings.alpha);
    const scale = (1 - settings.alpha) * settings.temperature ** 2;
    total += w * scale * divergenceRow(z, row, teacher, settings, scratch, dz, c * scale);
  }
  return total;
}

/** −log softmax(z)[t]; with dz, adds c·(softmax(z) − onehot(t)). */
function crossEntropyRow(z: Float32Array, t: number, dz: Float32Array | null, c: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < z.length; j++) if (z[j]! > max) max = z[j]!;
  let sum = 0;
  for (let j = 0; j < z.length; j++) sum += Math.exp(z[j]! - max);
  const lse = max + Math.log(sum);
  if (dz) {
    for (let j = 0; j < z.length; j++) dz[j]! += c * Math.exp(z[j]! - lse);
    dz[t]! -= c;
  }
  return lse - z[t]!;
}

/** Per-row buffers, made once a chunk: which tokens are a teacher alternative, and the buckets. */
class Scratch {
  /** bucket[j] = k for the k-th alternative's id, −1 for the tail. */
  readonly bucket: Int32Array;
  readonly q: Float64Array;
  readonly p: Float64Array;
  constructor(vocab: number, k: number) {
    this.bucket = new Int32Array(vocab).fill(-1);
    this.q = new Float64Array(k + 1);
    this.p = new Float64Array(k + 1);
  }
}

/** D(p̃ ‖ q_T) of one row (buckets: the K alternatives, then the tail at index K); with dz, adds c·∂D/∂z. */
function divergenceRow(
  z: Float32Array,
  row: number,
  teacher: TeacherTopK,
  settings: DistillSettings,
  scratch: Scratch,
  dz: Float32Array | null,
  c: number,
): number {
  const { k } = teacher;
  const { bucket, q, p } = scratch;
  const T = settings.temperature;
  const ids = teacher.ids.subarray(row * k, (row + 1) * k);
  for (let b = 0; b < k; b++) {
    const id = ids[b]!;
    if (id < 0) continue;
    if (bucket[id] !== -1) throw new Error(`distill: token ${id} is twice among row ${row}'s alternatives`);
    bucket[id] = b;
  }
  // the student's tempered softmax, bucketed; the tail summed token by token (no 1 − Σ cancellation)
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < z.length; j++) if (z[j]! > max) max = z[j]!;
  let sum = 0;
  q.fill(0);
  for (let j = 0; j < z.length; j++) {
    const e = Math.exp((z[j]! - max) / T);
    sum += e;
    const b = bucket[j]!;
    q[b < 0 ? k : b]! += e;
  }
  for (let b = 0; b <= k; b++) q[b] = q[b]! / sum;
  teacherBuckets(teacher, row, T, p);
  const reverse = settings.divergence === "reverse";
  if (reverse) for (let b = 0; b <= k; b++) p[b] = Math.max(p[b]!, reverseFloor);
  let d = 0;
  for (let b = 0; b <= k; b++) {
    if (reverse) d += q[b]! > 0 ? q[b]! * Math.log(q[b]! / p[b]!) : 0;
    else d += p[b]! > 0 ? p[b]! * Math.log(p[b]! / Math.max(q[b]!, Number.MIN_VALUE)) : 0;
  }
  if (dz) {
    // per bucket, ∂D/∂z_j = s_j · factor[b(j)] / T
    const factor = scratch.p; // reused in place: p is not needed once each factor is known
    for (let b = 0; b <= k; b++) {
      factor[b] = reverse
        ? Math.log(Math.max(q[b]!, Number.MIN_VALUE) / p[b]!) - d
        : 1 - p[b]! / Math.max(q[b]!, Number.MIN_VALUE);
    }
    const cT = c / T;
    for (let j = 0; j < z.length; j++) {
      const b = bucket[j]!;
      dz[j]! += (cT * Math.exp((z[j]! - max) / T) * factor[b < 0 ? k : b]!) / sum;
    }
  }
  for (let b = 0; b < k; b++) if (ids[b]! >= 0) bucket[ids[b]!] = -1;
  return d;
}

/** The teacher's K + 1 buckets of row `row` into p: its alternatives, then the tail, tempered by 1/T. */
function teacherBuckets(teacher: TeacherTopK, row: number, T: number, p: Float64Array): void {
  const { k } = teacher;
  let top = 0;
  for (let b = 0; b < k; b++) {
    const present = teacher.ids[row * k + b]! >= 0;
    p[b] = present ? teacher.probs[row * k + b]! : 0;
    top += p[b]!;
  }
  p[k] = Math.max(0, 1 - top);
  let norm = 0;
  for (let b = 0; b <= k; b++) {
    p[b] = T === 1 ? p[b]! : p[b]! ** (1 / T);
    norm += p[b]!;
  }
  for (let b = 0; b <= k; b++) p[b] = p[b]! / norm;
}
