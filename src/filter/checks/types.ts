import type { TemplateMarkers } from "../../template/markers.ts";

/**
 * A check's verdict on one candidate: `pass: null` means "cannot check" (nothing to check against),
 * which the filter keeps. `reason` says why in words a person reads in `rejected.jsonl`.
 */
export interface CheckVerdict {
  pass: boolean | null;
  reason?: string;
}

/**
 * The fields of a `generations.jsonl` line the checks read. The filter fills `reasoning`, `answer`,
 * `conforms` and `problems` from `completion` when a line lacks them, so other tools' files work too.
 */
export interface CandidateRecord {
  prompt_id: string;
  sample_index: number;
  prompt: string;
  gold?: string;
  source?: string;
  completion: string;
  completion_reasoning?: string;
  reasoning: string | null;
  answer: string | null;
  conforms: boolean;
  problems: string[];
  finish_reason?: string;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  teacher_meta?: Record<string, unknown>;
  [field: string]: unknown;
}

/** Thresholds of the checks; the defaults are in `defaultCheckConfig`, documented there. */
export interface CheckConfig {
  markers: TemplateMarkers;
  /** ISO 639-1 code of the language traces should be written in. */
  language: string;
  /** Latin-script sentences with fewer words are not given to the language detector (too short to tell). */
  languageMinWords: number;
  /** How far the detected language's score must lead the expected language's to call a sentence foreign. */
  languageMargin: number;
  maxParagraphChars: number;
  maxParagraphSentences: number;
  /** Lines shorter than this (trimmed) may repeat freely ("}", "Wait."). */
  repeatedLineMinChars: number;
  /** A line seen this many times or more is a decoding loop. */
  maxLineRepeats: number;
  /** Word n-gram size for the repeated-n-gram share. */
  repetitionNgram: number;
  /** Share of word n-grams that repeat an earlier one, above which a trace is repetitive. */
  maxRepeatedNgramShare: number;
  minChars: number;
  maxChars: number;
  /** Keep candidates whose answer cannot be compared with an existing gold (verdict null instead of false). */
  keepUnverifiable: boolean;
}

export type Check = (record: CandidateRecord, config: CheckConfig) => CheckVerdict;
