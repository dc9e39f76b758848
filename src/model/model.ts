/**
 * The in-memory model shared with the training engine: HF config plus parameters keyed by HF tensor
 * names in HF layout (linear weights [out, in] row-major, embeddings [vocab, hidden]).
 */
import { UserError } from "../util/errors.ts";
import { type ModelConfig, parameterShapes } from "./config.ts";
import { Rng } from "./rng.ts";

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export interface Model {
  config: ModelConfig;
  params: Map<string, Tensor>;
}

export function tensorSize(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function parameterCount(model: Model): number {
  let n = 0;
  for (const t of model.params.values()) n += t.data.length;
  return n;
}

/**
 * A model with random weights: N(0, std²) for matrices, 1 + N(0, normStd²) for norm weights (not exactly
 * 1, so tests notice a norm weight that is read from the wrong tensor), N(0, std²) for biases.
 */
export function randomModel(
  config: ModelConfig,
  opts: { seed?: number; std?: number; normStd?: number } = {},
): Model {
  const rng = new Rng(opts.seed ?? 1);
  const std = opts.std ?? 0.02;
  const normStd = opts.normStd ?? 0.1;
  const params = new Map<string, Tensor>();
  for (const [name, shape] of parameterShapes(config)) {
    const data = new Float32Array(tensorSize(shape));
    const isNorm = name.endsWith("norm.weight");
    for (let i = 0; i < data.length; i++) data[i] = isNorm ? 1 + normStd * rng.normal() : std * rng.normal();
    params.set(name, { shape, data });
  }
  return { config, params };
}

/** Throws a UserError naming the first parameter that is missing or has the wrong shape. */
export function checkModelParams(model: Model, source = "model"): void {
  for (const [name, shape] of parameterShapes(model.config)) {
    const t = model.params.get(name);
    if (!t) throw new UserError(`missing tensor "${name}"`, { file: source });
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new UserError(`tensor "${name}" has shape [${t.shape}], config.json implies [${shape}]`, {
        file: source,
      });
    }
    if (t.data.length !== tensorSize(shape)) {
      throw new UserError(`tensor "${name}" holds ${t.data.length} values, expected ${tensorSize(shape)}`, {
        file: source,
      });
    }
  }
}
