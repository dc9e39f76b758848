/**
 * A small byte-level BPE trainer for tiny students. It writes a standard `tokenizer.json` (the format
 * of Hugging Face `tokenizers`, read by transformers, @huggingface/tokenizers and llama.cpp's converter)
 * with Qwen2's pre-tokenizer, so numbers are split into single digits and a student learns arithmetic
 * digit by digit, plus a `tokenizer_config.json` carrying a ChatML chat template.
 *
 * Layout of the ids: 0‥255 the byte symbols, then one id per merge, then the special tokens — the same
 * order Qwen uses (added tokens after the BPE vocabulary).
 */
import { byteLevelSymbols, byteToUnicode, preTokenize, qwen2SplitPattern } from "./byteLevel.ts";

/** The chat and template markers every trained tokenizer carries (ChatML like Qwen, plus the template's). */
export const defaultSpecialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
export const defaultMarkerTokens = ["<think>", "</think>", "<answer>", "</answer>"];

/**
 * Qwen-style ChatML: each message as `<|im_start|>{role}\n{content}<|im_end|>\n`, and
 * `<|im_start|>assistant\n` when a generation prompt is asked for.
 */
export const chatmlTemplate =
  "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

export interface BpeTrainOptions {
  /** Total vocabulary including special tokens (512–4096 is the intended range). */
  vocabSize: number;
  /** Special (control) tokens, skipped when decoding with skip_special_tokens. */
  specialTokens?: string[];
  /** Added tokens that stay visible in decoded text (Qwen's `<think>` is such a token). */
  markerTokens?: string[];
  /** Pairs seen fewer times than this are never merged (default 2). */
  minFrequency?: number;
  /** Context length written to tokenizer_config.json (default 4096). */
  modelMaxLength?: number;
}

export interface TrainedTokenizer {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  /** Final vocabulary size (may be below the target when the corpus has too few distinct pairs). */
  vocabSize: number;
}

/** Trains merges on `texts` and returns the tokenizer files as objects. */
export function trainBpeTokenizer(texts: Iterable<string>, opts: BpeTrainOptions): TrainedTokenizer {
  const special = opts.specialTokens ?? defaultSpecialTokens;
  const markers = opts.markerTokens ?? defaultMarkerTokens;
  const added = [...special, ...markers];
  const targetMerges = opts.vocabSize - 256 - added.length;
  if (targetMerges < 0)
    throw new Error(`vocabSize ${opts.vocabSize} is below 256 bytes + ${added.length} added tokens`);

  // Symbols: ids 0..255 are bytes; each merge appends one symbol.
  const symbols: string[] = [...byteToUnicode];
  const symbolId = new Map(symbols.map((s, i) => [s, i]));
  const words = countWords(texts, added);
  const seqs: Int32Array[] = [];
  const freqs: number[] = [];
  for (const [word, freq] of words) {
    seqs.push(Int32Array.from(byteLevelSymbols(word), (s) => symbolId.get(s)!));
    freqs.push(freq);
  }

  // Pair statistics: pair key = a * 2^16 + b → count, and the words where it occurs.
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const key = (a: number, b: number) => a * 65536 + b;
  const addPairs = (w: number, sign: number) => {
    const s = seqs[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = key(s[i], s[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freqs[w]);
      if (sign > 0) {
        const set = pairWords.get(k);
        if (set) set.add(w);
        else pairWords.set(k, new Set([w]));
      }
    }
  };
  for (let w = 0; w < seqs.length; w++) addPairs(w, 1);

  const merges: [string, string][] = [];
  const minFrequency = opts.minFrequency ?? 2;
  while (merges.length < targetMerges) {
    // Most frequent pair; ties go to the smallest key so training is deterministic.
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best < 0 || bestCount < minFrequency) break;
    const a = Math.floor(best / 65536);
    const b = best % 65536;
    const merged = symbols.length;
    symbols.push(symbols[a] + symbols[b]);
    merges.push([symbols[a], symbols[b]]);
    for (const w of pairWords.get(best) ?? []) {
      const s = seqs[w];
      addPairs(w, -1);
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(s[i]);
      }
      seqs[w] = Int32Array.from(out);
      addPairs(w, 1);
    }
    pairCount.delete(best);
    pairWords.delete(best);
    for (const [k, c] of pairCount) if (c <= 0) pairCount.delete(k);
  }
  return buildFiles(symbols, merges, special, markers, opts.modelMaxLength ?? 4096);
}

/** Counts pre-tokens over the corpus; added tokens are cut out first so they never join merges. */
function countWords(texts: Iterable<string>, added: string[]): Map<string, number> {
  const escaped = added.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const cut = escaped.length ? new RegExp(escaped.join("|"), "g") : null;
  const words = new Map<string, number>();
  for (const text of texts) {
    for (const part of cut ? text.split(cut) : [text]) {
      for (const w of preTokenize(part)) words.set(w, (words.get(w) ?? 0) + 1);
    }
  }
  return words;
}

function buildFiles(
  symbols: string[],
  merges: [string, string][],
  special: string[],
  markers: string[],
  modelMaxLength: number,
): TrainedTokenizer {
  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => {
    vocab[s] = i;
  });
  const addedTokens = [...special, ...markers].map((content, i) => ({
    id: symbols.length + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: special.includes(content),
  }));
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    // No NFC normalizer (Qwen has one): llama.cpp does not normalize, and exports must tokenize alike.
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: qwen2SplitPattern }, behavior: "Isolated", invert: false },
        byteLevel,
      ],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      // "a b" strings, the form every tokenizers release reads (byte-level symbols never hold a space).
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const addedTokensDecoder: Record<string, unknown> = {};
  for (const { id, ...rest } of addedTokens) addedTokensDecoder[String(id)] = rest;
  const has = (t: string) => special.includes(t) || markers.includes(t);
  const tokenizerConfig = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    additional_special_tokens: special.filter((t) => t !== "<|endoftext|>"),
    bos_token: null,
    chat_template: chatmlTemplate,
    clean_up_tokenization_spaces: false,
    eos_token: has("<|im_end|>") ? "<|im_end|>" : (special[0] ?? null),
    errors: "replace",
    model_max_length: modelMaxLength,
    pad_token: has("<|endoftext|>") ? "<|endoftext|>" : null,
    split_special_tokens: false,
    tokenizer_class: "Qwen2Tokenizer",
    unk_token: null,
  };
  return { tokenizerJson, tokenizerConfig, vocabSize: symbols.length + addedTokens.length };
}
