/** Tokenizers: tokenizer.json loading, chat templates, and a byte-level BPE trainer for tiny students. */
export {
  type BpeTrainOptions,
  chatmlTemplate,
  type TrainedTokenizer,
  trainBpeTokenizer,
} from "./bpeTrainer.ts";
export {
  type ChatMessage,
  type ChatTemplateOptions,
  loadTokenizer,
  TextTokenizer,
  writeTokenizerFiles,
} from "./tokenizer.ts";
