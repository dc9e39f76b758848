/**
 * The `verify` stage over files: reads JSON Lines of `{gold, pred, …}`, writes each line back with
 * `"equivalent": true | false | null`, and measures agreement with an `expected` field when the
 * input has one (overall and per `category`).
 *
 * Reads: gold (string|number), pred (string|number), precision? (integer ≥ 0, decimal places),
 * allow_set_relation_comp? (boolean), expected? (0/1 or boolean), category? (string).
 * Writes: every input field, plus equivalent.
 *
 * Streaming: each result is written before the next line is read, into a temporary file renamed over
 * the output only when every line is done, so a bad line stops the run with a UserError naming file and
 * line and leaves an earlier results file as it was.
 */
import { createReadStream, writeSync } from "node:fs";
import { createInterface } from "node:readline";
import { UserError } from "../util/errors.ts";
import { checkInFile, checkOutFile, openAtomic } from "../util/outputs.ts";
import { isEquivalent, type Verdict, type VerifyOptions } from "./equivalent.ts";

export interface AgreementCount {
  /** Lines with an `expected` field. */
  total: number;
  /** Verdict equal to expected (null never agrees). */
  agree: number;
  /** Lines the verifier could not decide. */
  undecided: number;
}

export interface VerifySummary {
  lines: number;
  verdicts: { true: number; false: number; null: number };
  /** Present when at least one line had `expected`. */
  agreement?: AgreementCount & {
    rate: number;
    byCategory: Record<string, AgreementCount & { rate: number }>;
  };
}

export interface VerifyCase {
  gold: string;
  pred: string;
  precision?: number;
  allowSetRelationComparison?: boolean;
  expected?: boolean;
  category?: string;
}

/** Checks one parsed JSON line; throws UserError naming file, line and field. */
export function readCase(row: unknown, file: string, line: number): VerifyCase {
  if (row === null || typeof row !== "object" || Array.isArray(row))
    throw new UserError("each line must be a JSON object with gold and pred", { file, line });
  const r = row as Record<string, unknown>;
  const text = (field: "gold" | "pred"): string => {
    const v = r[field];
    if (typeof v === "string") return v;
    if (typeof v === "number" && Number.isFinite(v)) return String(v);
    throw new UserError(v === undefined ? "missing" : "must be a string or a number", { file, line, field });
  };
  const c: VerifyCase = { gold: text("gold"), pred: text("pred") };
  if (r.precision !== undefined && r.precision !== null) {
    if (
      typeof r.precision !== "number" ||
      !Number.isInteger(r.precision) ||
      r.precision < 0 ||
      r.precision > 15
    )
      throw new UserError("must be an integer number of decimal places, 0 to 15", {
        file,
        line,
        field: "precision",
      });
    c.precision = r.precision;
  }
  if (r.allow_set_relation_comp !== undefined) {
    if (typeof r.allow_set_relation_comp !== "boolean")
      throw new UserError("must be true or false", { file, line, field: "allow_set_relation_comp" });
    c.allowSetRelationComparison = r.allow_set_relation_comp;
  }
  if (r.expected !== undefined && r.expected !== null) {
    if (r.expected === 1 || r.expected === true) c.expected = true;
    else if (r.expected === 0 || r.expected === false) c.expected = false;
    else throw new UserError("must be 0, 1, true or false", { file, line, field: "expected" });
  }
  if (r.category !== undefined) c.category = String(r.category);
  return c;
}

function rate(c: AgreementCount): number {
  return c.total === 0 ? 0 : c.agree / c.total;
}

/**
 * Verifies every line of `inPath` into `outPath` (overwritten). Options apply to every line; a
 * line's own `precision` / `allow_set_relation_comp` take precedence.
 */
export async function verifyFile(
  inPath: string,
  outPath: string,
  options: VerifyOptions = {},
): Promise<VerifySummary> {
  checkInFile(inPath);
  checkOutFile(outPath);
  let input: ReturnType<typeof createReadStream>;
  try {
    input = createReadStream(inPath, { encoding: "utf8" });
    await new Promise<void>((resolve, reject) => {
      input.once("open", () => resolve());
      input.once("error", reject);
    });
  } catch (err) {
    throw new UserError(`cannot read input: ${(err as Error).message}`, { file: inPath });
  }
  const out = openAtomic(outPath);
  const fd = out.fd;
  const summary: VerifySummary = { lines: 0, verdicts: { true: 0, false: 0, null: 0 } };
  const overall: AgreementCount = { total: 0, agree: 0, undecided: 0 };
  const byCategory = new Map<string, AgreementCount>();
  let lineNo = 0;
  try {
    for await (const raw of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      lineNo++;
      if (raw.trim() === "") continue;
      let row: unknown;
      try {
        row = JSON.parse(raw);
      } catch (err) {
        throw new UserError(`not valid JSON (${(err as Error).message})`, { file: inPath, line: lineNo });
      }
      const c = readCase(row, inPath, lineNo);
      const verdict: Verdict = isEquivalent(c.gold, c.pred, {
        ...options,
        precision: c.precision ?? options.precision,
        allowSetRelationComparison: c.allowSetRelationComparison ?? options.allowSetRelationComparison,
      });
      writeSync(fd, `${JSON.stringify({ ...(row as object), equivalent: verdict })}\n`);
      summary.lines++;
      summary.verdicts[String(verdict) as "true" | "false" | "null"]++;
      if (c.expected !== undefined) {
        const key = c.category ?? "(none)";
        const cat = byCategory.get(key) ?? { total: 0, agree: 0, undecided: 0 };
        byCategory.set(key, cat);
        for (const count of [overall, cat]) {
          count.total++;
          if (verdict === c.expected) count.agree++;
          if (verdict === null) count.undecided++;
        }
      }
    }
    if (summary.lines === 0) throw new UserError("no cases: the input is empty", { file: inPath });
    out.commit();
  } finally {
    out.discard();
    input.destroy();
  }
  if (overall.total > 0) {
    const cats = [...byCategory.entries()].sort(([a], [b]) => a.localeCompare(b));
    summary.agreement = {
      ...overall,
      rate: rate(overall),
      byCategory: Object.fromEntries(cats.map(([k, v]) => [k, { ...v, rate: rate(v) }])),
    };
  }
  return summary;
}

/** The `verify` stage as a library function: `verify({ in, out, ...options })` (see verifyFile). */
export function verify(options: { in: string; out: string } & VerifyOptions): Promise<VerifySummary> {
  const { in: inPath, out, ...rest } = options;
  return verifyFile(inPath, out, rest);
}
