/**
 * Rotary position embeddings, built once for both decoders (src/model/forward.ts for inference,
 * src/model/trainable.ts for training) and for the GGUF export.
 *
 * config.json spells RoPE two ways, and both are read:
 *   transformers ≤ 4:  "rope_theta": 1000000, "rope_scaling": null | {"rope_type": "llama3", "factor": 8, …}
 *   transformers 5:    "rope_parameters": {"rope_theta": 1000000, "rope_type": "default" | "llama3", …}
 * Anything that would change the rotation and is not understood here is refused, never ignored.
 */
import { type RopeTable, ropeTable } from "../engine/ops.ts";

/** RoPE as the decoders compute it. */
export type RopeParameters =
  | { type: "default"; theta: number }
  | {
      type: "llama3";
      theta: number;
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositions: number;
    };

/** Why a config's RoPE fields were refused: the field (dotted path) and the reason. */
export interface RopeIssue {
  field: string;
  message: string;
}

/** The RoPE fields of config.json (either spelling). */
export interface RopeFields {
  rope_theta?: unknown;
  rope_scaling?: unknown;
  rope_parameters?: unknown;
  partial_rotary_factor?: unknown;
}

const defaultTheta = 10000;

/** Keys each rope_type may carry besides `rope_type`/`type` and `rope_theta`. */
const typeKeys: Record<RopeParameters["type"], string[]> = {
  default: [],
  llama3: ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"],
};

/**
 * RoPE of a config.json in either spelling, or the issue that makes it unusable. Without any RoPE
 * field θ is 10,000 (the default of transformers' Qwen2/Qwen3/Llama configs).
 */
export function readRopeParameters(c: RopeFields): RopeParameters | RopeIssue {
  const topTheta = c.rope_theta;
  if (topTheta !== undefined && topTheta !== null && !isPositive(topTheta))
    return { field: "rope_theta", message: "must be a positive number" };
  const partial = checkPartialRotary(c.partial_rotary_factor, "partial_rotary_factor");
  if (partial) return partial;
  if (c.rope_parameters != null) {
    if (c.rope_scaling != null)
      return {
        field: "rope_scaling",
        message:
          "both rope_parameters and rope_scaling are given; keep one (transformers 5 writes rope_parameters)",
      };
    const rope = readRopeObject(c.rope_parameters, "rope_parameters", undefined);
    if ("field" in rope) return rope;
    if (isPositive(topTheta) && topTheta !== rope.theta)
      return {
        field: "rope_theta",
        message: `${topTheta} disagrees with rope_parameters.rope_theta ${rope.theta}`,
      };
    return rope;
  }
  const theta = isPositive(topTheta) ? topTheta : defaultTheta;
  if (c.rope_scaling == null) return { type: "default", theta };
  return readRopeObject(c.rope_scaling, "rope_scaling", theta);
}

/** One `rope_parameters` or `rope_scaling` object; `theta` is the top-level one for `rope_scaling`. */
function readRopeObject(raw: unknown, where: string, theta: number | undefined): RopeParameters | RopeIssue {
  if (typeof raw !== "object" || Array.isArray(raw) || raw === null)
    return { field: where, message: "must be an object" };
  const r = raw as Record<string, unknown>;
  const type = r.rope_type ?? r.type ?? "default";
  if (type !== "default" && type !== "llama3")
    return {
      field: `${where}.rope_type`,
      message: `RoPE type "${String(type)}" is not supported (supported: default, llama3)`,
    };
  const partial = checkPartialRotary(r.partial_rotary_factor, `${where}.partial_rotary_factor`);
  if (partial) return partial;
  const known = new Set(["rope_type", "type", "rope_theta", "partial_rotary_factor", ...typeKeys[type]]);
  const unknown = Object.keys(r).find((k) => !known.has(k));
  if (unknown)
    return {
      field: `${where}.${unknown}`,
      message: `is not understood for RoPE type "${type}"; refusing to guess`,
    };
  let t = theta;
  if (where === "rope_parameters") {
    if (!isPositive(r.rope_theta))
      return { field: `${where}.rope_theta`, message: "must be a positive number" };
    t = r.rope_theta;
  } else if (r.rope_theta !== undefined && r.rope_theta !== t) {
    return {
      field: `${where}.rope_theta`,
      message: `${String(r.rope_theta)} disagrees with rope_theta ${t}`,
    };
  }
  if (type === "default") return { type, theta: t! };
  for (const k of typeKeys.llama3)
    if (!isPositive(r[k]))
      return { field: `${where}.${k}`, message: "must be a positive number for llama3 RoPE" };
  if ((r.high_freq_factor as number) <= (r.low_freq_factor as number))
    return { field: `${where}.high_freq_factor`, message: "must be larger than low_freq_factor" };
  return {
    type,
    theta: t!,
    factor: r.factor as number,
    lowFreqFactor: r.low_freq_factor as number,
    highFreqFactor: r.high_freq_factor as number,
    originalMaxPositions: r.original_max_position_embeddings as number,
  };
}

function checkPartialRotary(v: unknown, field: string): RopeIssue | null {
  if (v === undefined || v === null || v === 1) return null;
  return { field, message: `partial rotary embeddings (${String(v)}) are not supported` };
}

function isPositive(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v > 0;
}

/**
 * RoPE inverse frequencies (headDim/2) in float32, step by step as transformers computes them:
 * inv = 1 / θ^(2i/d), and for llama3 long wavelengths divided by `factor` with a blend in between.
 */
export function ropeInverseFrequencies(rope: RopeParameters, headDim: number): Float32Array {
  const f = Math.fround;
  const half = headDim / 2;
  const inv = Float32Array.from({ length: half }, (_, i) => f(1 / f(f(rope.theta) ** f((2 * i) / headDim))));
  if (rope.type === "default") return inv;
  const lowWavelen = rope.originalMaxPositions / rope.lowFreqFactor;
  const highWavelen = rope.originalMaxPositions / rope.highFreqFactor;
  return inv.map((x) => {
    const wavelen = f((2 * Math.PI) / x);
    if (wavelen < highWavelen) return x;
    if (wavelen > lowWavelen) return f(x / rope.factor);
    const smooth = f(
      f(f(rope.originalMaxPositions / wavelen) - rope.lowFreqFactor) /
        (rope.highFreqFactor - rope.lowFreqFactor),
    );
    return f(f(f(f(1 - smooth) * x) / rope.factor) + f(smooth * x));
  });
}

/**
 * Per-frequency divisors (headDim/2) of the unscaled inverse frequencies: 1 everywhere without
 * scaling. llama.cpp stores exactly these as the `rope_freqs.weight` tensor.
 */
export function ropeFrequencyFactors(rope: RopeParameters, headDim: number): Float64Array {
  const half = headDim / 2;
  const out = new Float64Array(half).fill(1);
  if (rope.type === "default") return out;
  const lowWavelen = rope.originalMaxPositions / rope.lowFreqFactor;
  const highWavelen = rope.originalMaxPositions / rope.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / rope.theta ** ((-2 * i) / headDim);
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = rope.factor;
    else {
      const smooth =
        (rope.originalMaxPositions / wavelen - rope.lowFreqFactor) /
        (rope.highFreqFactor - rope.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / rope.factor + smooth);
    }
  }
  return out;
}

/**
 * cos/sin rows for positions 0…n-1, grown on demand: the one RoPE table both decoders read. It starts
 * at min(context, 4096) positions and at least doubles when a longer position comes, so decoding past
 * it rebuilds O(log n) times.
 */
export class RopeTables {
  private table: RopeTable | null = null;
  private readonly invFreq: Float32Array;

  constructor(
    rope: RopeParameters,
    headDim: number,
    private readonly context: number,
  ) {
    this.invFreq = ropeInverseFrequencies(rope, headDim);
  }

  /** A table holding at least positions 0…positions-1. */
  covering(positions: number): RopeTable {
    const have = this.table?.maxPos ?? 0;
    if (this.table && have >= positions) return this.table;
    const size = Math.max(positions, 2 * have, Math.min(this.context, 4096));
    this.table = ropeTable(this.invFreq, size);
    return this.table;
  }
}
