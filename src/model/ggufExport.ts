/**
 * HF model + tokenizer.json → GGUF that llama.cpp loads, following llama.cpp's conventions: tensor names
 * (`token_embd`, `blk.N.attn_q`…), `{arch}.*` hyperparameter keys, the "gpt2" (byte-level BPE)
 * tokenizer keys, and the chat template.
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { qwen2SplitPattern } from "../tokenizer/byteLevel.ts";
import { UserError } from "../util/errors.ts";
import { firstTokenId, modelDims, parameterShapes } from "./config.ts";
import { GgmlType, type GgufKv, type GgufTensorIn, kv, writeGguf } from "./ggufFormat.ts";
import { loadModelFolder, readJsonFile } from "./hfFolder.ts";
import type { Model, Tensor } from "./model.ts";
import { ggufInstructionKey, type PromptRecord, readPromptRecord } from "./promptRecord.ts";
import { ropeFrequencyFactors } from "./rope.ts";

/** HF tensor name → llama.cpp tensor name (null when the tensor has no GGUF counterpart). */
export function ggufTensorName(hfName: string): string | null {
  if (hfName === "model.embed_tokens.weight") return "token_embd.weight";
  if (hfName === "model.norm.weight") return "output_norm.weight";
  if (hfName === "lm_head.weight") return "output.weight";
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  if (!m) return null;
  const part: Record<string, string> = {
    input_layernorm: "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    post_attention_layernorm: "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
  };
  const name = part[m[2]];
  return name ? `blk.${m[1]}.${name}.${m[3]}` : null;
}

/**
 * Reorders the rows of a q/k projection (heads·D rows, any row width) from HF's half-split RoPE layout
 * to the interleaved-pair layout llama.cpp's LLAMA arch rotates: within each head, row j·D/2 + i moves
 * to 2i + j. Applies to weights [heads·D, in] and biases [heads·D] alike.
 */
export function permuteForInterleavedRope(t: Tensor, heads: number): Tensor {
  const rows = t.shape[0];
  const width = t.data.length / rows;
  const D = rows / heads;
  const half = D / 2;
  const out = new Float32Array(t.data.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const src = (h * D + j * half + i) * width;
        const dst = (h * D + 2 * i + j) * width;
        out.set(t.data.subarray(src, src + width), dst);
      }
    }
  }
  return { shape: t.shape, data: out };
}

/** llama.cpp's token types (llama_token_type). */
const TokenType = { NORMAL: 1, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5 } as const;

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

export interface GgufExportOptions {
  /** `general.name`. */
  name?: string;
  /** Store 2-D weights as F16 (norms and biases stay F32, as llama.cpp expects). Default F32. */
  f16?: boolean;
  /** Chat template; defaults to `tokenizer_config.chat_template`. */
  chatTemplate?: string;
  /** llama.cpp pre-tokenizer name; detected from tokenizer.json when omitted. */
  pre?: string;
  /** How the student was prompted in training (`distill.instruction`, src/model/promptRecord.ts). */
  prompting?: PromptRecord;
}

/**
 * The tokenizer metadata llama.cpp reads for a byte-level BPE ("gpt2") vocabulary of `vocabSize` ids.
 * Ids the tokenizer does not define (padding rows of the embedding) become `[PADn]` unused tokens.
 */
export function ggufTokenizerKvs(
  tokenizerJson: Record<string, unknown>,
  tokenizerConfig: Record<string, unknown>,
  vocabSize: number,
  fallback: { bos?: number; eos?: number; pad?: number; chatTemplate?: string; pre?: string } = {},
): GgufKv[] {
  const model = tokenizerJson.model as {
    type?: string;
    vocab: Record<string, number>;
    merges: (string | string[])[];
  };
  if (model?.type !== "BPE")
    throw new UserError(`only BPE tokenizers can be exported (got ${model?.type})`, {
      file: "tokenizer.json",
    });
  const tokens: string[] = new Array(vocabSize);
  const types: number[] = new Array(vocabSize).fill(TokenType.NORMAL);
  for (const [text, id] of Object.entries(model.vocab)) {
    if (id >= vocabSize)
      throw new UserError(`token id ${id} ≥ the model's vocab_size ${vocabSize}`, { file: "tokenizer.json" });
    tokens[id] = text;
  }
  const added = (tokenizerJson.added_tokens ?? []) as AddedToken[];
  const idOf = new Map<string, number>(Object.entries(model.vocab));
  for (const t of added) {
    if (t.id >= vocabSize)
      throw new UserError(`added token "${t.content}" id ${t.id} ≥ vocab_size ${vocabSize}`, {
        file: "tokenizer.json",
      });
    tokens[t.id] = t.content;
    types[t.id] = t.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
    idOf.set(t.content, t.id);
  }
  for (let i = 0; i < vocabSize; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TokenType.UNUSED;
    }
  }
  const merges = model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));
  const tokenId = (field: unknown): number | undefined => {
    const text = typeof field === "string" ? field : (field as { content?: string } | null)?.content;
    return text ? idOf.get(text) : undefined;
  };
  const eos = tokenId(tokenizerConfig.eos_token) ?? fallback.eos;
  const pad = tokenId(tokenizerConfig.pad_token) ?? fallback.pad;
  // Qwen has no BOS token; llama.cpp still wants an id, and Qwen's own GGUFs use <|endoftext|> (= pad).
  const bos = tokenId(tokenizerConfig.bos_token) ?? fallback.bos ?? pad;
  const chatTemplate = fallback.chatTemplate ?? (tokenizerConfig.chat_template as string | undefined);
  const out: GgufKv[] = [
    kv.str("tokenizer.ggml.model", "gpt2"),
    kv.str("tokenizer.ggml.pre", fallback.pre ?? detectPreTokenizer(tokenizerJson)),
    kv.strs("tokenizer.ggml.tokens", tokens),
    kv.i32s("tokenizer.ggml.token_type", types),
    kv.strs("tokenizer.ggml.merges", merges),
  ];
  if (bos !== undefined) out.push(kv.u32("tokenizer.ggml.bos_token_id", bos));
  if (eos !== undefined) out.push(kv.u32("tokenizer.ggml.eos_token_id", eos));
  if (pad !== undefined) out.push(kv.u32("tokenizer.ggml.padding_token_id", pad));
  const addBos =
    typeof tokenizerConfig.add_bos_token === "boolean"
      ? tokenizerConfig.add_bos_token
      : postProcessorAddsBos(tokenizerJson);
  out.push(kv.bool("tokenizer.ggml.add_bos_token", addBos));
  if (typeof chatTemplate === "string") out.push(kv.str("tokenizer.chat_template", chatTemplate));
  return out;
}

/**
 * Whether tokenizer.json's post-processor puts a special token first (Llama 3's TemplateProcessing adds
 * `<|begin_of_text|>` that way, with no add_bos_token in tokenizer_config.json).
 */
function postProcessorAddsBos(tokenizerJson: Record<string, unknown>): boolean {
  type Proc = { type?: string; processors?: Proc[]; single?: { SpecialToken?: unknown }[] };
  const visit = (p: Proc | null | undefined): boolean => {
    if (!p) return false;
    if (p.type === "Sequence") return (p.processors ?? []).some(visit);
    return p.type === "TemplateProcessing" && p.single?.[0]?.SpecialToken !== undefined;
  };
  return visit(tokenizerJson.post_processor as Proc);
}

/** Names llama.cpp's pre-tokenizer from the split regex in tokenizer.json. */
function detectPreTokenizer(tokenizerJson: Record<string, unknown>): string {
  const text = JSON.stringify(tokenizerJson.pre_tokenizer ?? null);
  if (text.includes(JSON.stringify(qwen2SplitPattern).slice(1, -1))) return "qwen2";
  // Llama 3's pattern: \p{N}{1,3} groups digits by three.
  if (text.includes("\\\\p{N}{1,3}")) return "llama-bpe";
  throw new UserError("unknown pre-tokenizer pattern; pass the llama.cpp pre-tokenizer name explicitly", {
    file: "tokenizer.json",
    field: "pre_tokenizer",
  });
}

/** Architecture hyperparameters under `{arch}.*`, as llama.cpp's loader reads them. */
export function ggufArchKvs(model: Model, name: string, f16: boolean): GgufKv[] {
  const c = model.config;
  const d = modelDims(c);
  const a = d.arch.ggufArch;
  const kvs = [
    kv.str("general.architecture", a),
    kv.str("general.name", name),
    kv.u32("general.file_type", f16 ? 1 : 0),
    kv.u32(`${a}.context_length`, c.max_position_embeddings),
    kv.u32(`${a}.embedding_length`, d.hidden),
    kv.u32(`${a}.block_count`, d.layers),
    kv.u32(`${a}.feed_forward_length`, d.ffn),
    kv.u32(`${a}.attention.head_count`, d.heads),
    kv.u32(`${a}.attention.head_count_kv`, d.kvHeads),
    kv.f32(`${a}.rope.freq_base`, d.rope.theta),
    kv.f32(`${a}.attention.layer_norm_rms_epsilon`, d.eps),
    // head_dim may differ from hidden/heads (Qwen3); llama.cpp reads it from key/value length.
    kv.u32(`${a}.attention.key_length`, d.headDim),
    kv.u32(`${a}.attention.value_length`, d.headDim),
    kv.u32(`${a}.rope.dimension_count`, d.headDim),
  ];
  if (a === "llama") kvs.push(kv.u32("llama.vocab_size", d.vocab));
  return kvs;
}

/** The model's tensors under llama.cpp names, q/k permuted where the architecture needs it. */
export function ggufTensors(model: Model, f16: boolean): GgufTensorIn[] {
  const d = modelDims(model.config);
  const out: GgufTensorIn[] = [];
  // Canonical order (embeddings, layer by layer, final norm, head), whatever order the Map holds.
  const order = [...parameterShapes(model.config).keys()];
  const extra = [...model.params.keys()].filter((n) => !order.includes(n));
  for (const hfName of [...order, ...extra]) {
    const t = model.params.get(hfName);
    if (!t) throw new UserError(`missing tensor "${hfName}"`);
    const name = ggufTensorName(hfName);
    if (!name) throw new UserError(`tensor "${hfName}" has no GGUF name`);
    let tensor = t;
    if (d.arch.ggufPermuteQK && /self_attn\.q_proj\./.test(hfName))
      tensor = permuteForInterleavedRope(t, d.heads);
    if (d.arch.ggufPermuteQK && /self_attn\.k_proj\./.test(hfName))
      tensor = permuteForInterleavedRope(t, d.kvHeads);
    const type = f16 && t.shape.length === 2 ? GgmlType.F16 : GgmlType.F32;
    out.push({ name, shape: tensor.shape, data: tensor.data, type });
  }
  // Llama 3 RoPE scaling travels as per-frequency divisors (what convert_hf_to_gguf writes).
  if (d.rope.type !== "default") {
    const factors = Float32Array.from(ropeFrequencyFactors(d.rope, d.headDim));
    out.push({ name: "rope_freqs.weight", shape: [factors.length], data: factors, type: GgmlType.F32 });
  }
  return out;
}

/** Writes `model` with its tokenizer as a GGUF file. Returns the number of bytes written. */
export function exportGguf(
  path: string,
  model: Model,
  tokenizer: { tokenizerJson: Record<string, unknown>; tokenizerConfig?: Record<string, unknown> },
  opts: GgufExportOptions = {},
): number {
  const c = model.config;
  const f16 = opts.f16 ?? false;
  const kvs = [
    ...ggufArchKvs(model, opts.name ?? c.model_type, f16),
    ...ggufTokenizerKvs(tokenizer.tokenizerJson, tokenizer.tokenizerConfig ?? {}, c.vocab_size, {
      bos: firstTokenId(c.bos_token_id),
      eos: firstTokenId(c.eos_token_id),
      pad: firstTokenId(c.pad_token_id),
      chatTemplate: opts.chatTemplate,
      pre: opts.pre,
    }),
    ...(opts.prompting ? [kv.str(ggufInstructionKey, opts.prompting.instruction)] : []),
  ];
  return writeGguf(path, kvs, ggufTensors(model, f16));
}

/**
 * Exports an HF model folder (config.json, safetensors, tokenizer.json, tokenizer_config.json and an
 * optional chat_template.jinja) to one GGUF file.
 */
export function exportGgufFromFolder(dir: string, outPath: string, opts: GgufExportOptions = {}): number {
  const model = loadModelFolder(dir);
  const tjPath = join(dir, "tokenizer.json");
  if (!existsSync(tjPath)) throw new UserError("no tokenizer.json: GGUF embeds the tokenizer", { file: dir });
  const tcPath = join(dir, "tokenizer_config.json");
  const jinjaPath = join(dir, "chat_template.jinja");
  return exportGguf(
    outPath,
    model,
    {
      tokenizerJson: readJsonFile(tjPath) as Record<string, unknown>,
      tokenizerConfig: existsSync(tcPath) ? (readJsonFile(tcPath) as Record<string, unknown>) : {},
    },
    {
      ...opts,
      chatTemplate:
        opts.chatTemplate ?? (existsSync(jinjaPath) ? readFileSync(jinjaPath, "utf8") : undefined),
      prompting: opts.prompting ?? readPromptRecord(dir) ?? undefined,
    },
  );
}
