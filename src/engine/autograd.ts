/**
 * Float32 tensors and a reverse-mode tape. Ops (ops.ts) compute their output eagerly and, when an input
 * needs a gradient, push a closure that adds the input gradients given the output gradient. `backward`
 * runs the closures newest first and frees each activation (data and gradient) right after the closure
 * that consumed it, so peak memory is the forward's activations, never forward + all their gradients.
 */
import { totalmem } from "node:os";

/**
 * Recycled Float32Arrays by length. Training repeats the same shapes every step, so activations and
 * gradients freed by backward serve the next forward: no allocation, no page faults, no GC pressure.
 * Only buffers the tape owns go back; a cap bounds what an idle pool holds: a quarter of the machine's
 * memory (at least 1 GB), or $DISTILLERY_POOL_MB. A 0.6B student's step frees 4 GB of activations;
 * with a 1 GB cap most of them were faulted in anew each step (Qwen3-0.6B, 1,024 tokens: 23.5 s a step
 * against 19.9 s with the pool holding them, the same peak memory).
 */
const pool = new Map<number, Float32Array[]>();
let pooledBytes = 0;
const poolCapBytes =
  Number(process.env.DISTILLERY_POOL_MB ?? Math.max(1024, Math.floor(totalmem() / 4 / 2 ** 20))) * 2 ** 20;

/** A buffer of n floats: zeroed when `zero`, otherwise with arbitrary contents the caller overwrites. */
export function allocBuffer(n: number, zero = true): Float32Array {
  const list = pool.get(n);
  const buf = list?.pop();
  if (!buf) return new Float32Array(n);
  pooledBytes -= buf.byteLength;
  if (zero) buf.fill(0);
  return buf;
}

/** Returns a buffer nobody references any more to the pool. */
export function releaseBuffer(buf: Float32Array): void {
  if (buf.length === 0 || pooledBytes + buf.byteLength > poolCapBytes) return;
  let list = pool.get(buf.length);
  if (!list) {
    list = [];
    pool.set(buf.length, list);
  }
  list.push(buf);
  pooledBytes += buf.byteLength;
}

export class Tensor {
  /** Gradient with the same size as data, allocated (zeroed) on first use; null = no gradient yet. */
  grad: Float32Array | null = null;
  /** Number of values (the shape's product; stays when a tape has freed `data`). */
  readonly size: number;
  constructor(
    public data: Float32Array,
    readonly shape: readonly number[],
    /** True for parameters (leaves that keep their gradient) and for outputs of ops on them. */
    public requiresGrad = false,
  ) {
    let n = 1;
    for (const s of shape) n *= s;
    if (n !== data.length) throw new Error(`tensor shape [${shape}] needs ${n} values, got ${data.length}`);
    this.size = n;
  }

  /** The gradient buffer, created as zeros when absent (backward kernels add into it). */
  gradBuffer(): Float32Array {
    if (!this.grad) this.grad = allocBuffer(this.size);
    return this.grad;
  }

  static zeros(shape: readonly number[], requiresGrad = false): Tensor {
    let n = 1;
    for (const s of shape) n *= s;
    return new Tensor(allocBuffer(n), shape, requiresGrad);
  }

  /** A tensor whose contents the caller overwrites entirely (a recycled buffer, not zeroed). */
  static empty(shape: readonly number[]): Tensor {
    let n = 1;
    for (const s of shape) n *= s;
    return new Tensor(allocBuffer(n, false), shape);
  }
}

const freed = new Float32Array(0);

interface Entry {
  out: Tensor;
  backward: () => void;
}

export class Tape {
  private entries: Entry[] = [];
  /** Activations are dropped after backward unless listed here (e.g. the hidden state a caller reads). */
  private keepers = new Set<Tensor>();

  /** recording = false: an inference tape, ops keep no closures and no saved activations. */
  constructor(readonly recording = true) {}

  /** Whether an op with these inputs must record a backward closure. */
  needsGrad(...inputs: Tensor[]): boolean {
    return this.recording && inputs.some((t) => t.requiresGrad);
  }

  /** Called by ops: out gets a gradient and `backward` will propagate it to the op's inputs. */
  record(out: Tensor, backward: () => void): void {
    out.requiresGrad = true;
    this.entries.push({ out, backward });
  }

  /**
   * Returns the buffers of activations no recorded backward reads to the pool now, not at backward:
   * e.g. a projection's output once RoPE or a bias add has made its successor (their backward needs
   * only the output gradient). Gradients still flow through them. The caller vouches that nothing
   * reads their values again; a backward that did would see an empty array.
   */
  free(...dead: Tensor[]): void {
    for (const t of dead) {
      if (this.keepers.has(t)) continue;
      releaseBuffer(t.data);
      t.data = freed;
    }
  }

  /** Keeps a tensor's data alive through backward. */
  keep(t: Tensor): void {
    this.keepers.add(t);
  }

  /**
   * Backpropagates from `root` (a scalar by default; pass `seed` for any other shape) and frees the
   * tape. Parameter gradients accumulate across calls, which is gradient accumulation; zero them
   * between optimizer steps.
   */
  backward(root: Tensor, seed?: Float32Array): void {
    if (!root.requiresGrad) throw new Error("backward: the root does not depend on any parameter");
    const g = root.gradBuffer();
    if (seed) g.set(seed);
    else g.fill(1);
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const { out, backward } = this.entries[i]!;
      if (out.grad) backward();
      if (out.grad) releaseBuffer(out.grad);
      out.grad = null;
      if (!this.keepers.has(out)) {
        releaseBuffer(out.data);
        out.data = freed;
      }
    }
    this.entries = [];
    this.keepers.clear();
  }

  /**
   * Returns every recorded activation except `kept` to the pool without running backward: what a
   * checkpointed segment (checkpoint.ts) does after its forward, keeping only its output.
   */
  discard(kept: Tensor): void {
    for (const { out } of this.entries)
      if (out !== kept && !this.keepers.has(out)) {
        releaseBuffer(out.data);
        out.data = freed;
      }
    this.entries = [];
    this.keepers.clear();
  }

  /** Drops recorded closures without running them (e.g. after an evaluation-only forward). */
  clear(): void {
    this.entries = [];
    this.keepers.clear();
  }
}
