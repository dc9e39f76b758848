import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { EvaluatedRecord } from "../evaluate/evaluate.ts";
import { equationBands } from "../tasks/equations/generate.ts";
import type { BandedScore, MetricRow } from "./run.ts";

/**
 * The report's charts: vega-lite specs compiled in Node and rendered to SVG by a headless vega View
 * (renderer "none"), so the page needs no script and opens from disk.
 */

export const fontStack = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

/** Same colour for a model in every chart; models beyond these get the fallback palette in order. */
const knownColors: Record<string, string> = {
  teacher: "#6b7280",
  base: "#e8a33d",
  distilled: "#2563eb",
  distilled_unfiltered: "#93b4f5",
};
const fallbackColors = ["#16a34a", "#db2777", "#0891b2", "#7c3aed", "#ca8a04", "#475569"];

function modelScale(models: string[]): { domain: string[]; range: string[] } {
  let next = 0;
  const range = models.map((m) => knownColors[m] ?? fallbackColors[next++ % fallbackColors.length]);
  return { domain: models, range };
}

const config = {
  font: fontStack,
  background: "white",
  view: { stroke: null },
  axis: {
    labelLimit: 320,
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 500,
    gridColor: "#eef0f3",
    domainColor: "#9ca3af",
  },
  legend: { labelFontSize: 12, titleFontSize: 12, titleFontWeight: 500, orient: "top", labelLimit: 320 },
  header: { labelFontSize: 12, titleFontSize: 12 },
};

/** Compile and render one vega-lite spec; `id` prefixes the SVG's element ids so inline charts never collide. */
export async function renderSvg(spec: TopLevelSpec, id: string): Promise<string> {
  const compiled = compile({ ...spec, config: { ...config, ...spec.config } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    const svg = await view.toSVG();
    return svg
      .replace(/\bid="([^"]+)"/g, `id="${id}-$1"`)
      .replace(/url\(#([^)]+)\)/g, `url(#${id}-$1)`)
      .replace("<svg ", `<svg role="img" aria-label="${id} chart" `);
  } finally {
    view.finalize();
  }
}

/** Horizontal bars: candidates remaining after each check, in funnel order. */
export function funnelSpec(funnel: [string, number][]): TopLevelSpec {
  const values = funnel.map(([step, count]) => ({
    step,
    count,
    share: funnel[0][1] > 0 ? count / funnel[0][1] : 0,
  }));
  const y = { field: "step", type: "nominal", sort: funnel.map(([step]) => step), title: null } as const;
  return {
    data: { values },
    width: 560,
    height: { step: 24 },
    encoding: { y },
    layer: [
      {
        mark: { type: "bar", color: "#2563eb" },
        encoding: { x: { field: "count", type: "quantitative", title: "candidates remaining" } },
      },
      {
        mark: { type: "text", align: "left", dx: 4, fontSize: 11, color: "#374151" },
        encoding: {
          x: { field: "count", type: "quantitative" },
          text: { field: "share", type: "quantitative", format: ".0%" },
        },
      },
    ],
  };
}

/**
 * Training loss per step for each model (a line; long runs are averaged over buckets of steps so the
 * SVG stays small) and validation loss at each epoch's end (points). Log scale: late progress is
 * what tells the runs apart.
 */
export function lossSpec(
  metrics: Record<string, MetricRow[]>,
  models: string[],
  maxPoints = 400,
): TopLevelSpec {
  const train: { model: string; step: number; loss: number }[] = [];
  const validation: { model: string; step: number; loss: number; epoch: number }[] = [];
  for (const model of models) {
    const rows = metrics[model] ?? [];
    const steps = rows.filter((r) => typeof r.loss === "number");
    const bucket = Math.max(1, Math.ceil(steps.length / maxPoints));
    for (let i = 0; i < steps.length; i += bucket) {
      const part = steps.slice(i, i + bucket);
      const loss = part.reduce((s, r) => s + (r.loss as number), 0) / part.length;
      train.push({ model, step: part[part.length - 1].step, loss });
    }
    for (const r of rows) {
      if (typeof r.val_loss === "number")
        validation.push({ model, step: r.step, loss: r.val_loss, epoch: r.epoch ?? 0 });
    }
  }
  const positive = [...train, ...validation].every((p) => p.loss > 0);
  const color = {
    field: "model",
    type: "nominal",
    scale: modelScale(models.filter((m) => metrics[m])),
    title: null,
  } as const;
  const y = {
    field: "loss",
    type: "quantitative",
    scale: positive ? { type: "log" as const } : { zero: false },
    title: "loss",
  } as const;
  const x = { field: "step", type: "quantitative", title: "step" } as const;
  return {
    width: 640,
    height: 280,
    layer: [
      {
        data: { values: train },
        mark: { type: "line", strokeWidth: 1.5, interpolate: "monotone" },
        encoding: { x, y, color },
      },
      {
        data: { values: validation },
        mark: { type: "point", filled: true, size: 60, stroke: "white", strokeWidth: 1 },
        encoding: { x, y, color, shape: { value: "diamond" } },
      },
    ],
  };
}

/** Grouped bars: accuracy of each model, overall and in each band. */
export function accuracySpec(scores: Record<string, BandedScore>, models: string[]): TopLevelSpec {
  const values: { model: string; band: string; accuracy: number; n: number; order: number }[] = [];
  const bands = bandsOf(scores);
  for (const model of models) {
    const s = scores[model];
    if (!s) continue;
    values.push({ model, band: "all", accuracy: s.accuracy, n: s.n, order: 0 });
    bands.forEach((band, i) => {
      const b = s.by_band?.[band];
      if (b) values.push({ model, band, accuracy: b.accuracy, n: b.n, order: i + 1 });
    });
  }
  return {
    data: { values },
    width: 720,
    height: 240,
    mark: { type: "bar" },
    encoding: {
      x: { field: "band", type: "nominal", sort: { field: "order" }, title: null, axis: { labelAngle: 0 } },
      xOffset: { field: "model", type: "nominal", sort: models },
      y: { field: "accuracy", type: "quantitative", scale: { domain: [0, 1] }, axis: { format: ".0%" } },
      color: {
        field: "model",
        type: "nominal",
        scale: modelScale(models.filter((m) => scores[m])),
        title: null,
      },
    },
  };
}

/**
 * The bands of the held-out set: the built-in task's bands easiest first, then any others in the order
 * the models list them (eval summaries list bands A–Z, which would put "fractions" before "one-step").
 */
export function bandsOf(scores: Record<string, BandedScore>): string[] {
  const bands: string[] = [];
  for (const s of Object.values(scores)) {
    for (const band of Object.keys(s.by_band ?? {})) if (!bands.includes(band)) bands.push(band);
  }
  // The eval stage files items without a band under "all": that is the overall figure again.
  if (bands.length === 1 && bands[0] === "all") return [];
  const known = (band: string) => {
    const i = (equationBands as readonly string[]).indexOf(band);
    return i < 0 ? equationBands.length : i;
  };
  return bands
    .map((band, i) => ({ band, i }))
    .sort((a, b) => known(a.band) - known(b.band) || a.i - b.i)
    .map((x) => x.band);
}

/**
 * Histograms of completion tokens, one row per model on a shared axis, split into completions that
 * stopped and completions cut at the token limit (a pile-up at the limit is rambling or looping).
 */
export function lengthSpec(results: Record<string, EvaluatedRecord[]>, models: string[]): TopLevelSpec {
  const values: { model: string; order: number; tokens: number; ended: string }[] = [];
  for (const [order, model] of models.entries()) {
    for (const r of results[model] ?? []) {
      values.push({
        model,
        order,
        tokens: r.usage.completion_tokens,
        ended: r.finish_reason === "length" ? "cut at the limit" : "stopped",
      });
    }
  }
  return {
    data: { values },
    facet: {
      row: {
        field: "model",
        type: "nominal",
        sort: { field: "order", op: "min" },
        title: null,
        header: {
          labelOrient: "top",
          labelAnchor: "start",
          labelAngle: 0,
          labelAlign: "left",
          labelFontWeight: 600,
        },
      },
    },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 640,
      height: 64,
      mark: { type: "bar", binSpacing: 1 },
      encoding: {
        x: { field: "tokens", type: "quantitative", bin: { maxbins: 40 }, title: "completion tokens" },
        y: { aggregate: "count", type: "quantitative", title: null, axis: { tickCount: 3 } },
        color: {
          field: "ended",
          type: "nominal",
          scale: { domain: ["stopped", "cut at the limit"], range: ["#2563eb", "#dc2626"] },
          title: null,
        },
      },
    },
  };
}
