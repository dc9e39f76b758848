/**
 * Byte-level BPE building blocks shared by the trainer and the GGUF exporter: GPT-2's byte↔unicode
 * table and Qwen2's pre-tokenizer split pattern (numbers split into single digits by `\p{N}`).
 */

/**
 * The split pattern of Qwen2/Qwen3's tokenizer.json, verbatim (Oniguruma syntax). llama.cpp knows it as
 * pre-tokenizer "qwen2".
 */
export const qwen2SplitPattern =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The same pattern for JavaScript (no inline `(?i:)` groups in Node 20's RegExp). */
export const qwen2SplitRegex =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/** GPT-2's table: every byte maps to a printable code point (printable ASCII/Latin-1 map to themselves). */
export const byteToUnicode: string[] = (() => {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = keep.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  }
  return table;
})();

const unicodeToByte = new Map(byteToUnicode.map((ch, b) => [ch, b]));

/** A byte-level vocabulary entry's bytes ("Ġx" → [32, 120]); null when a symbol is not in the table. */
export function byteLevelBytes(symbols: string): number[] | null {
  const bytes: number[] = [];
  for (const ch of symbols) {
    const b = unicodeToByte.get(ch);
    if (b === undefined) return null;
    bytes.push(b);
  }
  return bytes;
}

const encoder = new TextEncoder();

/** A pre-token's bytes as byte-level symbols (one string per byte). */
export function byteLevelSymbols(text: string): string[] {
  return Array.from(encoder.encode(text), (b) => byteToUnicode[b]);
}

/** Splits text into pre-tokens with Qwen2's pattern. */
export function preTokenize(text: string): string[] {
  return text.match(qwen2SplitRegex) ?? [];
}
