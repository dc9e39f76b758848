import fastDiff from "fast-diff";
import type { LogprobsRecord, TokenRef } from "../generate/logprobsFile.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { readJsonl } from "../util/jsonl.ts";
import type { ChatRow, Example } from "./data.ts";

/**
 * The teacher's top-K distribution at each token of an example ([length·k] ids in the student's
 * vocabulary, −1 for none, and their probabilities; `has[j]` where token j has one). Position j describes
 * the distribution token j was drawn from, so it belongs to the target at j − 1.
 */
export interface ExampleTeacher {
  ids: Int32Array;
  probs: Float32Array;
  has: Uint8Array;
}

/** How much of the training data the teacher's distributions cover. */
export interface TeacherCoverage {
  k: number;
  /** Rows matched to a side-file line (same prompt_id, the closest text). */
  rows: number;
  totalRows: number;
  /** Assistant tokens with the teacher's distribution, of all assistant tokens. */
  tokens: number;
  totalTokens: number;
}

/**
 * Attach the teacher's distributions from `distill generate --logprobs` side files to training examples.
 * A row is matched to the line of its `prompt_id` whose text is closest to its assistant turn (mix
 * re-renders the template, so whitespace may differ); the two texts are aligned byte by byte
 * (fast-diff), and a student token gets the teacher token spanning exactly its bytes — elsewhere (text
 * that differs, the end-of-turn token the teacher did not emit, tokens cut otherwise) it learns from the
 * cross-entropy alone. Alternatives are mapped by id where the file has ids, else by their bytes.
 */
export async function attachTeacherLogprobs(
  files: string[],
  rows: (ChatRow & { prompt_id?: string })[],
  examples: Example[],
  tokenizer: TextTokenizer,
): Promise<TeacherCoverage> {
  const { byPrompt, k } = await readSideFiles(files);
  const vocab = new StudentVocabulary(tokenizer);
  const coverage: TeacherCoverage = { k, rows: 0, totalRows: rows.length, tokens: 0, totalTokens: 0 };
  let teacherTokens = 0;
  let mappedTokens = 0;
  for (const [i, row] of rows.entries()) {
    const example = examples[i]!;
    for (const m of example.mask) coverage.totalTokens += m;
    const candidates = row.prompt_id === undefined ? undefined : byPrompt.get(row.prompt_id);
    const content = row.messages.at(-1)!.content;
    const match = candidates && closest(candidates, content);
    if (!match) continue;
    coverage.rows++;
    for (const t of match.record.tokens) {
      teacherTokens++;
      if (vocab.idOf(t) >= 0) mappedTokens++;
    }
    const teacher = alignExample(example, row, match, k, tokenizer, vocab);
    if (!teacher) continue;
    example.teacher = teacher;
    for (const h of teacher.has) coverage.tokens += h;
  }
  refuseUncovered(coverage, files, teacherTokens, mappedTokens);
  return coverage;
}

function refuseUncovered(c: TeacherCoverage, files: string[], teacherTokens: number, mapped: number): void {
  const named = files.join(", ");
  if (c.rows === 0)
    throw new UserError(
      `no training row matches a line of ${named} (by prompt_id and text): give the logprobs.jsonl of the generate run the rows were filtered from`,
      { field: "teacher-logprobs" },
    );
  if (mapped < 0.9 * teacherTokens)
    throw new UserError(
      `only ${percent(mapped, teacherTokens)} of the teacher's tokens in ${named} are tokens of the student's vocabulary: --kd topk needs a teacher and student that share a tokenizer (the Qwen family does)`,
      { field: "teacher-logprobs" },
    );
}

export function percent(part: number, whole: number): string {
  return `${((100 * part) / Math.max(1, whole)).toFixed(1)}%`;
}

/** A side-file line and its text as bytes (a latin1 string: one character a byte, for the diff). */
interface Candidate {
  record: LogprobsRecord;
  bytes: string;
  /** Byte offset of each token's start, and the end: [tokens + 1]. */
  offsets: Int32Array;
}

async function readSideFiles(files: string[]): Promise<{ byPrompt: Map<string, Candidate[]>; k: number }> {
  const byPrompt = new Map<string, Candidate[]>();
  let k = 0;
  for (const file of files) {
    for await (const { value, line } of readJsonl<LogprobsRecord>(file)) {
      if (
        !Array.isArray(value.tokens) ||
        !Array.isArray(value.top_tokens) ||
        typeof value.prompt_id !== "string"
      )
        throw new UserError("not a logprobs.jsonl line (prompt_id, tokens, top_tokens…)", { file, line });
      const pieces = value.tokens.map(refBytes);
      if (pieces.some((p) => p === undefined)) continue; // ids only: no text to align with the row's
      const offsets = new Int32Array(pieces.length + 1);
      for (let t = 0; t < pieces.length; t++) offsets[t + 1] = offsets[t]! + pieces[t]!.length;
      const candidate = {
        record: value,
        bytes: Buffer.concat(pieces as Buffer[]).toString("latin1"),
        offsets,
      };
      for (const top of value.top_tokens) k = Math.max(k, top.length);
      const list = byPrompt.get(value.prompt_id) ?? [];
      list.push(candidate);
      byPrompt.set(value.prompt_id, list);
    }
  }
  return { byPrompt, k: Math.max(1, k) };
}

function refBytes(ref: TokenRef): Buffer | undefined {
  if (typeof ref === "string") return Buffer.from(ref, "utf8");
  if ("bytes" in ref) return Buffer.from(ref.bytes);
  return undefined;
}

/** The candidate whose text is closest to `content`, with the byte diff; none when under half agrees. */
function closest(
  candidates: Candidate[],
  content: string,
): { record: LogprobsRecord; candidate: Candidate; diff: fastDiff.Diff[] } | undefined {
  const target = Buffer.from(content, "utf8").toString("latin1");
  let best: { record: LogprobsRecord; candidate: Candidate; diff: fastDiff.Diff[] } | undefined;
  let bestEqual = 0;
  const same = candidates.find((c) => c.bytes === target);
  if (same) return { record: same.record, candidate: same, diff: [[0, target]] };
  for (const candidate of candidates) {
    const diff = fastDiff(candidate.bytes, target);
    let equal = 0;
    for (const [op, text] of diff) if (op === 0) equal += text.length;
    if (equal > bestEqual) {
      bestEqual = equal;
      best = { record: candidate.record, candidate, diff };
    }
  }
  return best && bestEqual * 2 >= Math.max(target.length, best.candidate.bytes.length) ? best : undefined;
}

/** The student's ids by the bytes they stand for, for alternatives given as text. */
export class StudentVocabulary {
  private readonly byBytes = new Map<string, number>();
  readonly size: number;
  constructor(tokenizer: TextTokenizer) {
    this.size = tokenizer.vocabSize;
    for (let id = 0; id < this.size; id++) {
      const key = Buffer.from(tokenizer.tokenBytes(id)).toString("latin1");
      if (!this.byBytes.has(key)) this.byBytes.set(key, id);
    }
  }
  /** The student id of a teacher token, −1 where no single student token is it. */
  idOf(ref: TokenRef): number {
    if (typeof ref === "object" && "id" in ref) return ref.id >= 0 && ref.id < this.size ? ref.id : -1;
    return this.byBytes.get(refBytes(ref)!.toString("latin1")) ?? -1;
  }
}

/**
 * The example's per-token teacher from its matched candidate: the diff maps each byte of the assistant
 * text to the candidate's byte (or to none), and a student token whose bytes map, in one run, onto exactly
 * one teacher token's takes that token's alternatives. Undefined when the rendering cannot be located.
 */
function alignExample(
  example: Example,
  row: ChatRow,
  match: { candidate: Candidate; diff: fastDiff.Diff[] },
  k: number,
  tokenizer: TextTokenizer,
  vocab: StudentVocabulary,
): ExampleTeacher | undefined {
  const spans = contentSpans(example, row, tokenizer);
  if (!spans) return undefined;
  const toTeacher = byteMap(match.diff, spans.contentBytes);
  const { offsets, record } = match.candidate;
  const tokenAt = new Map<number, number>(); // teacher token start byte → token index
  for (let t = 0; t < record.tokens.length; t++) tokenAt.set(offsets[t]!, t);
  const n = example.ids.length;
  const teacher: ExampleTeacher = {
    ids: new Int32Array(n * k).fill(-1),
    probs: new Float32Array(n * k),
    has: new Uint8Array(n),
  };
  for (let j = 0; j < n; j++) {
    if (!example.mask[j]) continue;
    const [a, b] = [spans.start[j]!, spans.end[j]!];
    if (a < 0 || b <= a || b > spans.contentBytes) continue;
    const c = toTeacher[a]!;
    const t = c < 0 ? undefined : tokenAt.get(c);
    // one unbroken run of agreeing bytes, ending where the teacher token does
    if (t === undefined || offsets[t + 1] !== c + (b - a) || !unbroken(toTeacher, a, b)) continue;
    fillAlternatives(teacher, j, k, record.top_tokens[t] ?? [], record.top_logprobs[t] ?? [], vocab);
  }
  return teacher;
}

/** Whether bytes [a, b) map onto consecutive bytes of the other text. */
function unbroken(map: Int32Array, a: number, b: number): boolean {
  for (let i = a + 1; i < b; i++) if (map[i] !== map[a]! + (i - a)) return false;
  return true;
}

/** Position j's alternatives mapped into the student's vocabulary; two that map to one id add up. */
export function fillAlternatives(
  teacher: ExampleTeacher,
  j: number,
  k: number,
  tokens: TokenRef[],
  logprobs: (number | null)[],
  vocab: StudentVocabulary,
): void {
  let used = 0;
  for (let a = 0; a < tokens.length; a++) {
    const id = vocab.idOf(tokens[a]!);
    const lp = logprobs[a];
    if (id < 0 || lp === null || lp === undefined) continue; // its mass joins the tail
    const p = Math.exp(lp);
    let slot = 0;
    while (slot < used && teacher.ids[j * k + slot] !== id) slot++;
    if (slot === used) {
      if (used === k) continue;
      teacher.ids[j * k + used++] = id;
    }
    teacher.probs[j * k + slot]! += p;
  }
  teacher.has[j] = 1;
}

/**
 * Each token's byte span [start, end) relative to the assistant text inside the example's rendering
 * (outside it: negative or past its end). Undefined where the tokens do not spell the rendering.
 */
function contentSpans(
  example: Example,
  row: ChatRow,
  tokenizer: TextTokenizer,
): { start: Int32Array; end: Int32Array; contentBytes: number } | undefined {
  const full = Buffer.from(tokenizer.applyChatTemplate(row.messages), "utf8");
  const content = Buffer.from(row.messages.at(-1)!.content, "utf8");
  const at = full.lastIndexOf(content);
  if (at < 0) return undefined;
  const n = example.ids.length;
  const start = new Int32Array(n);
  const end = new Int32Array(n);
  let offset = 0;
  for (let j = 0; j < n; j++) {
    const bytes = tokenizer.tokenBytes(example.ids[j]!);
    for (let b = 0; b < bytes.length; b++) if (full[offset + b] !== bytes[b]) return undefined;
    start[j] = offset - at;
    offset += bytes.length;
    end[j] = offset - at;
  }
  return { start, end, contentBytes: content.length };
}

/** For each byte of the second text, the byte of the first it is equal to in the diff, or −1. */
function byteMap(diff: fastDiff.Diff[], length: number): Int32Array {
  const map = new Int32Array(length).fill(-1);
  let first = 0;
  let second = 0;
  for (const [op, text] of diff) {
    if (op === 0) for (let i = 0; i < text.length; i++) map[second + i] = first + i;
    if (op <= 0) first += text.length;
    if (op >= 0) second += text.length;
  }
  return map;
}
