import { LshIndex, minhashSignature } from "./minhash.ts";
import { NumberTable } from "./table.ts";
import { hash53, normalizeText, words } from "./text.ts";

export interface DedupOptions {
  /** Jaccard similarity of word shingles from which two texts are near-duplicates; 1 turns near-dedup off. */
  threshold: number;
  numPerm: number;
  shingle: number;
  /**
   * Texts with fewer words are matched exactly only: "Solve for x: 3x + 5 = 20" and "… = 21" share most
   * shingles and are different problems, so MinHash is no judge of short, templated texts.
   */
  minWords: number;
}

/**
 * Exact (hash of the normalised text) and near (MinHash-LSH) duplicate detection over a stream of texts,
 * each with an owner: a text is a duplicate when an earlier text of another owner matches. For prompts
 * the owner is the prompt id (a prompt's own candidates share its text); for responses each candidate
 * is its own owner. State, in typed arrays: ~32 bytes per distinct text (hash → owner hash), plus for
 * texts long enough for near-dedup a signature (numPerm × 4 bytes) and its LSH bands (~32 bytes each).
 * Owners are kept as 53-bit hashes, so a reason names the kind of duplicate, not the earlier row.
 */
export class Deduplicator {
  private readonly exact = new NumberTable();
  private readonly near: LshIndex | null;

  constructor(private readonly options: DedupOptions) {
    this.near = options.threshold < 1 ? new LshIndex(options.numPerm, options.threshold) : null;
  }

  /** null when `text` is new (and remembers it), else why it is a duplicate. */
  check(text: string, ownerId: string): { kind: "exact" | "near" } | null {
    const owner = hash53(ownerId);
    const normal = normalizeText(text);
    const key = hash53(normal);
    const earlier = this.exact.get(key);
    if (earlier !== undefined && earlier !== owner) return { kind: "exact" };
    let signature: Uint32Array | null = null;
    // the gate counts words and numbers, not operators: "Solve for x: 3x - 5 = 20" is 6 words, exact only
    if (this.near && words(normal).length >= this.options.minWords) {
      signature = minhashSignature(normal, this.options);
      if (this.near.findSimilar(signature, owner) !== undefined) return { kind: "near" };
    }
    if (earlier === undefined) {
      this.exact.set(key, owner);
      if (signature) this.near!.add(signature, owner);
    }
    return null;
  }
}
