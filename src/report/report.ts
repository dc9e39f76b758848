import path from "node:path";
import type { EvaluatedRecord } from "../evaluate/evaluate.ts";
import { UserError } from "../util/errors.ts";
import { checkOutFile, writeFileAtomic } from "../util/outputs.ts";
import { runLayout } from "../util/runLayout.ts";
import { accuracySpec, bandsOf, funnelSpec, lengthSpec, lossSpec, renderSvg } from "./charts.ts";
import { type Example, type ExampleTally, pickExamples } from "./examples.ts";
import { type Cell, chartFigure, escapeHtml, missing, num, page, pct, pct0, section, table } from "./html.ts";
import { type RunData, readRun } from "./run.ts";

export interface ReportOptions {
  /** The run folder (summary.json, eval/<model>/, models/<model>/, filter/). */
  run: string;
  /** Where to write the page; default `<run>/report.html`. */
  out?: string;
}

/** Completions longer than this are cut on the page (the full text stays in results.jsonl). */
const maxShownChars = 6000;

/**
 * `distill report`: one self-contained HTML page for a run — the results table, the funnel, loss
 * curves, accuracy by band, length distributions and the same held-out items answered side by side.
 * A section whose files the run lacks is replaced by a line saying so. Returns the page's path.
 */
export async function report(options: ReportOptions): Promise<string> {
  const out = options.out ?? runLayout(options.run).report;
  if (options.out !== undefined) checkOutFile(out);
  const run = readRun(options.run);
  if (run.models.length === 0 && !run.funnel) {
    throw new UserError(
      "nothing to report: no summary.json, eval/<model>/ (summary.json, results.jsonl), models/<model>/metrics.jsonl or filter/funnel.json",
      { file: options.run },
    );
  }
  writeFileAtomic(out, await renderReport(run));
  return out;
}

/** The page for a run already read, as a string. */
export async function renderReport(run: RunData): Promise<string> {
  const parts: [string, string, string][] = [
    ["results", "Results", resultsSection(run)],
    ["funnel", "Funnel", await funnelSection(run)],
    ["loss", "Loss curves", await lossSection(run)],
    ["accuracy", "Accuracy by band", await accuracySection(run)],
    ["lengths", "Lengths", await lengthSection(run)],
    ["examples", "Side by side", examplesSection(run)],
  ];
  if (run.seconds) parts.push(["time", "Time", timeSection(run.seconds)]);
  const benchmarks = [...new Set(Object.values(run.benchmarks))];
  const header = [
    `<p class="meta">Run <code>${escapeHtml(path.resolve(run.dir))}</code> · models: ${escapeHtml(run.models.join(", ") || "none")}</p>`,
    benchmarks.length
      ? `<p class="meta">Evaluated on ${benchmarks.map((b) => `<code>${escapeHtml(b)}</code>`).join(", ")}</p>`
      : "",
  ].join("\n");
  return page(
    `distillery report — ${path.basename(path.resolve(run.dir))}`,
    header,
    parts.map(([id, title]) => [id, title]),
    parts.map(([id, title, body]) => section(id, title, body)),
  );
}

function resultsSection(run: RunData): string {
  const models = run.models.filter((m) => run.scores[m]);
  if (!models.length)
    return missing("Results", "no summary.json with models, and no eval/<model>/summary.json.");
  const withK = models.some((m) => (run.scores[m].samples ?? 1) > 1);
  const headers = ["model", "accuracy", ...(withK ? ["pass@k"] : []), "format", "truncated", "mean tokens"];
  headers.push("reasoning tokens", "answer tokens", "items");
  const rows = models.map((m) => {
    const s = run.scores[m];
    return [
      m,
      { html: `<strong>${pct(s.accuracy)}</strong>`, className: "num" },
      ...(withK ? [{ html: pct(s.pass_at_k), className: "num" }] : []),
      { html: pct(s.format_rate), className: "num" },
      { html: pct(s.truncation_rate), className: "num" },
      { html: num(s.mean_tokens), className: "num" },
      { html: num(s.mean_reasoning_tokens), className: "num" },
      { html: num(s.mean_answer_tokens), className: "num" },
      s.samples && s.samples > 1 ? `${s.n} × ${s.samples}` : s.n,
    ];
  });
  const bands = bandsOf(run.scores);
  let byBand = "";
  if (bands.length) {
    const bandRows = models.map((m) => [
      m,
      ...bands.map((b) => {
        const s = run.scores[m].by_band?.[b];
        return {
          html: s
            ? `<strong>${pct(s.accuracy)}</strong><br><span class="note">fmt ${pct0(s.format_rate)} · ${num(s.mean_tokens, 0)} tok</span>`
            : "–",
          className: "num",
        };
      }),
    ]);
    const n = bands.map((b) => run.scores[models[0]].by_band?.[b]?.n);
    byBand =
      `<h3>By band</h3><p class="note">accuracy, then format rate and mean completion tokens; items per band: ${bands.map((b, i) => `${escapeHtml(b)} ${n[i] ?? "–"}`).join(", ")}</p>` +
      table(["model", ...bands], bandRows, "bands");
  }
  const samples = models.some((m) => (run.scores[m].samples ?? 1) > 1)
    ? "Accuracy is pass@1 averaged over the samples of each item; pass@k counts items with any correct sample."
    : "Accuracy is pass@1.";
  return `${headline(run)}<p class="note">${samples} Format: the completion follows the reasoning/answer template. Truncated: cut at the token limit.</p>${table(headers, rows)}${byBand}`;
}

/** The one sentence a reader wants first: distilled against base (and the teacher), in points. */
function headline(run: RunData): string {
  const [base, distilled, teacher] = [run.scores.base, run.scores.distilled, run.scores.teacher];
  if (!base || !distilled) return "";
  const points = 100 * (distilled.accuracy - base.accuracy);
  const sign = points >= 0 ? "+" : "−";
  return `<p class="lead"><strong>distilled ${pct(distilled.accuracy)}</strong> accuracy against <strong>base ${pct(base.accuracy)}</strong> (${sign}${Math.abs(points).toFixed(1)} points) on ${distilled.n} held-out items${teacher ? `; the teacher: ${pct(teacher.accuracy)}` : ""}.</p>`;
}

async function funnelSection(run: RunData): Promise<string> {
  if (!run.funnel?.length) return missing("Funnel", "no funnel in summary.json and no filter/funnel.json.");
  const svg = await renderSvg(funnelSpec(run.funnel), "funnel");
  const [first, last] = [run.funnel[0], run.funnel[run.funnel.length - 1]];
  return chartFigure(
    "funnel",
    svg,
    `Candidates remaining after each check, in order: ${first[1]} ${first[0]} → ${last[1]} after ${last[0]} (labels: share of the input).`,
  );
}

async function lossSection(run: RunData): Promise<string> {
  const models = run.models.filter((m) => run.metrics[m]?.length);
  if (!models.length) return missing("Loss curves", "no models/<model>/metrics.jsonl.");
  const svg = await renderSvg(lossSpec(run.metrics, models), "loss");
  const longest = Math.max(...models.map((m) => run.metrics[m].filter((r) => r.loss !== undefined).length));
  const averaged = longest > 400 ? ` Lines average buckets of ${Math.ceil(longest / 400)} steps.` : "";
  const validated = models.some((m) => run.metrics[m].some((r) => r.val_loss !== undefined));
  const points = validated
    ? " and validation loss at the end of each epoch (diamonds)"
    : "; no validation loss in metrics.jsonl";
  return chartFigure("loss", svg, `Training loss per step (lines)${points}, log scale.${averaged}`);
}

async function accuracySection(run: RunData): Promise<string> {
  const models = run.models.filter((m) => run.scores[m]);
  if (!models.length)
    return missing("Accuracy by band", "no model scores (summary.json or eval/<model>/summary.json).");
  const svg = await renderSvg(accuracySpec(run.scores, models), "accuracy");
  return chartFigure(
    "accuracy",
    svg,
    "Accuracy of each model on the held-out items: all of them, then each band.",
  );
}

async function lengthSection(run: RunData): Promise<string> {
  const models = run.models.filter((m) => run.results[m]?.length);
  if (!models.length) return missing("Lengths", "no eval/<model>/results.jsonl.");
  const svg = await renderSvg(lengthSpec(run.results, models), "lengths");
  return chartFigure(
    "lengths",
    svg,
    "Completions per length bin (completion tokens), one row per model, each with its own count scale; red: cut at the token limit.",
  );
}

function examplesSection(run: RunData): string {
  const { examples, tally } = pickExamples(run.results, run.models);
  if (!examples.length) return missing("Side by side", "no eval/<model>/results.jsonl.");
  return `${tallyLine(tally)}\n${examples.map(exampleHtml).join("\n")}`;
}

function tallyLine(tally: ExampleTally | null): string {
  if (!tally)
    return `<p class="note">The first held-out items of the run, answered by each model (first sample).</p>`;
  const { focus, baseline, both, wins, losses } = tally;
  return `<p class="note">Held-out items answered by every model (first sample of each). Of ${both} items, <strong>${focus}</strong> is right where <strong>${baseline}</strong> is wrong on ${wins}, and wrong where ${baseline} is right on ${losses}. Shown: up to three of the first kind (other items where there are fewer), and one where ${focus} is wrong. ✓ means the final answer checks out; the reasoning itself is not verified.</p>`;
}

function exampleHtml(e: Example): string {
  const honest = e.why.startsWith("distilled wrong");
  const question = [
    `<h3>${escapeHtml(e.prompt)}<span class="why${honest ? " honest" : ""}">${escapeHtml(e.why)}</span></h3>`,
    `<p class="note">${e.band ? `band ${escapeHtml(e.band)} · ` : ""}${e.gold !== undefined ? `gold <code>${escapeHtml(String(e.gold))}</code> · ` : ""}item <code>${escapeHtml(e.promptId)}</code></p>`,
  ].join("");
  const answers = e.answers.map(({ model, record }) => answerHtml(model, record)).join("");
  return `<div class="example"><div class="question">${question}</div><div class="answers">${answers}</div></div>`;
}

function answerHtml(model: string, r: EvaluatedRecord | null): string {
  if (!r)
    return `<div class="answer"><h3>${escapeHtml(model)}</h3><p class="note">not evaluated on this item</p></div>`;
  const verdict =
    r.correct === true
      ? `<span class="verdict ok">✓ correct</span>`
      : r.correct === false
        ? `<span class="verdict bad">✗ wrong</span>`
        : `<span class="verdict unknown">? not verifiable</span>`;
  const facts = [
    `${r.usage.completion_tokens} tokens`,
    r.conforms === false ? "off template" : "",
    r.finish_reason === "length" ? "cut at the limit" : "",
  ].filter(Boolean);
  // DeepSeek-style teachers return their reasoning beside the content; show both, reasoning first.
  const raw = r.completion_reasoning ? `${r.completion_reasoning}\n\n${r.completion}` : r.completion;
  return `<div class="answer"><h3>${escapeHtml(model)}${verdict}</h3><p class="note">${escapeHtml(facts.join(" · "))}</p>${completionHtml(raw)}</div>`;
}

/**
 * A completion as pre-formatted, escaped text. Runs of blank lines (a common failure of an undertrained
 * student) are folded into a marker, and very long text is cut; results.jsonl keeps the whole of it.
 */
export function completionHtml(raw: string): string {
  if (raw.trim() === "") {
    return `<p class="note">empty completion${raw.length ? ` (${raw.length} whitespace characters)` : ""}</p>`;
  }
  let text = raw.replace(
    /\n(?:[ \t]*\n){3,}/g,
    (run) => `\n[… ${run.split("\n").length - 1} line breaks …]\n`,
  );
  if (text.length > maxShownChars) {
    text = `${text.slice(0, maxShownChars)}\n[… ${text.length - maxShownChars} more characters in results.jsonl]`;
  }
  return `<pre>${escapeHtml(text)}</pre>`;
}

function timeSection(seconds: Record<string, number>): string {
  const total = Object.values(seconds).reduce((s, x) => s + x, 0);
  const rows: Cell[][] = Object.entries(seconds).map(([stage, s]) => [
    stage,
    { html: num(s, 1), className: "num" },
  ]);
  if (!("total" in seconds))
    rows.push([
      { html: "<strong>total</strong>" },
      { html: `<strong>${num(total, 1)}</strong>`, className: "num" },
    ]);
  return table(["stage", "seconds"], rows);
}
