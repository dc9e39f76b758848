/** The model: config.json, RoPE, both decoders (training, inference), safetensors, HF folders, GGUF. */
export {
  type Architecture,
  architectures,
  type ModelConfig,
  modelDims,
  parameterShapes,
  parseModelConfig,
  readModelConfig,
} from "./config.ts";
export { Decoder, KvCache, logSoftmax } from "./forward.ts";
export {
  argmax,
  type BatchGenerateOptions,
  type GenerateOptions,
  type GenerateResult,
  generate,
  generateBatch,
  sampleToken,
} from "./generate.ts";
export { exportGguf, exportGgufFromFolder, type GgufExportOptions, ggufTensorName } from "./ggufExport.ts";
export { type GgufFile, readGguf, writeGguf } from "./ggufFormat.ts";
export { loadModelFolder, type SaveOptions, saveModelFolder } from "./hfFolder.ts";
export { checkModelParams, type Model, parameterCount, randomModel, type Tensor } from "./model.ts";
export { type ModelfileOptions, ollamaModelfile } from "./ollama.ts";
export {
  type ChatGenerateOptions,
  type ChatResult,
  chatPromptIds,
  generateChat,
  generateChatBatch,
  loadPretrained,
  type Pretrained,
} from "./pretrained.ts";
export { Rng } from "./rng.ts";
export {
  type RopeParameters,
  RopeTables,
  readRopeParameters,
  ropeFrequencyFactors,
  ropeInverseFrequencies,
} from "./rope.ts";
export {
  readSafetensors,
  readSafetensorsFolder,
  writeSafetensors,
  writeSafetensorsFolder,
} from "./safetensors.ts";
export { type ContinuationScore, scoreContinuation } from "./score.ts";
export { initParams, TrainableDecoder } from "./trainable.ts";
