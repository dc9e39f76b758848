import { NumberTable } from "./table.ts";
import { hash53, normalizeText } from "./text.ts";

/**
 * MinHash signatures and an LSH index for near-duplicate detection (Broder 1997; banding as in
 * Leskovec et al., Mining of Massive Datasets, ch. 3). A text is its set of word `shingle`-grams; the
 * signature is, for each of `numPerm` hash functions, the minimum over the set, so the share of equal
 * signature entries estimates the Jaccard similarity of two sets.
 */
export interface MinHashOptions {
  numPerm: number;
  shingle: number;
}

/**
 * Token shingles hashed to 32 bits; tokens are those of `normalizeText` (words, numbers and math
 * symbols, so signs count). Texts shorter than one shingle are one shingle of all their tokens.
 */
export function shingleHashes(text: string, shingle: number): Uint32Array {
  const tokens = normalizeText(text).split(" ");
  const count = Math.max(1, tokens.length - shingle + 1);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = hash53(tokens.slice(i, i + shingle).join(" ")) % 4294967296;
  return out;
}

/** (numPerm) minima of a 32-bit mix of each shingle hash with the permutation's seed. */
export function minhashSignature(text: string, options: MinHashOptions): Uint32Array {
  const shingles = shingleHashes(text, options.shingle);
  const signature = new Uint32Array(options.numPerm).fill(0xffffffff);
  for (let p = 0; p < options.numPerm; p++) {
    const seed = Math.imul(p + 1, 0x9e3779b1);
    let min = 0xffffffff;
    for (let i = 0; i < shingles.length; i++) {
      // murmur3's finaliser over (shingle xor seed): a cheap, well-mixed family of permutations
      let h = shingles[i] ^ seed;
      h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
      h = (h ^ (h >>> 16)) >>> 0;
      if (h < min) min = h;
    }
    signature[p] = min;
  }
  return signature;
}

export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/**
 * Rows per band for a Jaccard threshold: the band count b = floor(numPerm / r) whose S-curve midpoint
 * (1/b)^(1/r) lies nearest the threshold. Candidates from the bands are then verified on the signatures,
 * so the threshold is what decides; the banding only makes finding candidates cheap.
 */
export function bandRows(numPerm: number, threshold: number): number {
  let best = 1;
  let bestGap = Number.POSITIVE_INFINITY;
  for (let r = 1; r <= numPerm; r++) {
    const b = Math.floor(numPerm / r);
    // a midpoint a little below the threshold, so pairs just above it rarely miss every band
    const gap = Math.abs((1 / b) ** (1 / r) - (threshold - 0.05));
    if (gap < bestGap) [best, bestGap] = [r, gap];
  }
  return best;
}

/**
 * An LSH index of signatures, each with an owner (a 53-bit hash, e.g. of a prompt id). `findSimilar`
 * returns the owner of an indexed signature whose estimated Jaccard is at least the threshold. Band
 * collisions only nominate candidates; the signatures decide. Memory, all in typed arrays: numPerm × 4
 * bytes a signature, 8 for its owner, and ~32 a band (NumberTable).
 */
export class LshIndex {
  private readonly rows: number;
  private readonly bands: number;
  private readonly buckets = new NumberTable();
  private signatures: Uint32Array;
  private owners: Float64Array;
  private count = 0;

  constructor(
    readonly numPerm: number,
    readonly threshold: number,
  ) {
    this.rows = bandRows(numPerm, threshold);
    this.bands = Math.floor(numPerm / this.rows);
    this.signatures = new Uint32Array(1024 * numPerm);
    this.owners = new Float64Array(1024);
  }

  findSimilar(signature: Uint32Array, exceptOwner?: number): number | undefined {
    for (let b = 0; b < this.bands; b++) {
      const at = this.buckets.get(this.bandKey(signature, b));
      if (at === undefined || this.owners[at] === exceptOwner) continue;
      const other = this.signatures.subarray(at * this.numPerm, (at + 1) * this.numPerm);
      if (estimateJaccard(signature, other) >= this.threshold) return this.owners[at];
    }
    return undefined;
  }

  add(signature: Uint32Array, owner: number): void {
    if (this.count === this.owners.length) {
      const signatures = new Uint32Array(this.signatures.length * 2);
      signatures.set(this.signatures);
      this.signatures = signatures;
      const owners = new Float64Array(this.owners.length * 2);
      owners.set(this.owners);
      this.owners = owners;
    }
    const at = this.count++;
    this.signatures.set(signature, at * this.numPerm);
    this.owners[at] = owner;
    for (let b = 0; b < this.bands; b++) {
      const key = this.bandKey(signature, b);
      if (!this.buckets.has(key)) this.buckets.set(key, at);
    }
  }

  get size(): number {
    return this.count;
  }

  private bandKey(signature: Uint32Array, band: number): number {
    let h1 = 0x811c9dc5 ^ band;
    let h2 = Math.imul(band + 1, 0x9e3779b1);
    for (let i = band * this.rows; i < (band + 1) * this.rows; i++) {
      h1 = Math.imul(h1 ^ signature[i], 0x01000193);
      h2 = Math.imul(h2 ^ signature[i], 0x5bd1e995) ^ (h2 >>> 15);
    }
    return (h1 >>> 0) * 2 ** 21 + ((h2 >>> 0) & 0x1fffff);
  }
}
