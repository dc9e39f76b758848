/**
 * A hash table from 53-bit integer keys (the hashes of text.ts's `hash53`) to 53-bit integer values,
 * stored in two Float64Arrays with linear probing: 16 bytes a slot, at most half full, so about 32
 * bytes an entry, against 60–80 for a JS Map of numbers. Deduplication keeps one entry per distinct
 * text, so this is what its memory is made of.
 */
export class NumberTable {
  private keys: Float64Array;
  private values: Float64Array;
  private count = 0;

  constructor(capacity = 1024) {
    let size = 16;
    while (size < 2 * capacity) size *= 2;
    this.keys = new Float64Array(size);
    this.values = new Float64Array(size);
  }

  get size(): number {
    return this.count;
  }

  get(key: number): number | undefined {
    const at = this.find(stored(key));
    return this.keys[at] === 0 ? undefined : this.values[at];
  }

  has(key: number): boolean {
    return this.keys[this.find(stored(key))] !== 0;
  }

  /** Insert or overwrite. */
  set(key: number, value: number): void {
    const k = stored(key);
    const at = this.find(k);
    if (this.keys[at] === 0) {
      this.keys[at] = k;
      this.count++;
    }
    this.values[at] = value;
    if (2 * this.count > this.keys.length) this.grow();
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  private find(key: number): number {
    const mask = this.keys.length - 1;
    let h = Math.imul((key % 4294967296) ^ Math.floor(key / 4294967296), 0x9e3779b1);
    h ^= h >>> 15;
    let at = h & mask;
    while (this.keys[at] !== 0 && this.keys[at] !== key) at = (at + 1) & mask;
    return at;
  }

  private grow(): void {
    const { keys, values } = this;
    this.keys = new Float64Array(keys.length * 2);
    this.values = new Float64Array(keys.length * 2);
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === 0) continue;
      const at = this.find(keys[i]);
      this.keys[at] = keys[i];
      this.values[at] = values[i];
    }
  }
}

/** 0 marks an empty slot, so a key of 0 is stored as 2^53 (no hash53 value reaches it). */
function stored(key: number): number {
  return key === 0 ? 2 ** 53 : key;
}
