import { fontStack } from "./charts.ts";

/** HTML building blocks for the report: escaping, tables and the page shell. No framework, no script. */

const escapes: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escape text for element content and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => escapes[c]);
}

/** A table cell: plain text (escaped) or trusted HTML built by this module's callers. */
export type Cell = string | number | { html: string; className?: string };

export function table(headers: string[], rows: Cell[][], className = ""): string {
  const cell = (c: Cell, tag: "td" | "th") => {
    if (typeof c === "object")
      return `<${tag}${c.className ? ` class="${c.className}"` : ""}>${c.html}</${tag}>`;
    return `<${tag}${typeof c === "number" ? ' class="num"' : ""}>${escapeHtml(String(c))}</${tag}>`;
  };
  const head = `<tr>${headers.map((h, i) => (i === 0 ? cell(h, "th") : cell({ html: escapeHtml(h), className: "num" }, "th"))).join("")}</tr>`;
  const body = rows
    .map((r) => `<tr>${r.map((c, i) => cell(c, i === 0 ? "th" : "td")).join("")}</tr>`)
    .join("\n");
  return `<div class="table"><table${className ? ` class="${className}"` : ""}><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}

export const pct = (x: number | undefined) => (x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);
export const pct0 = (x: number | undefined) => (x === undefined ? "–" : `${Math.round(100 * x)}%`);
export const num = (x: number | undefined, digits = 1) => (x === undefined ? "–" : x.toFixed(digits));

/** A section; `body` is trusted HTML. */
export function section(id: string, title: string, body: string): string {
  return `<section id="${id}">\n<h2>${escapeHtml(title)}</h2>\n${body}\n</section>`;
}

/** The line that stands in for a section whose files the run does not have. */
export function missing(title: string, why: string): string {
  return `<p class="missing"><strong>${escapeHtml(title)}</strong> left out: ${escapeHtml(why)}</p>`;
}

export function chartFigure(name: string, svg: string, caption: string): string {
  return `<figure class="chart" data-chart="${name}">${svg}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

const css = `
:root { color-scheme: light; --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --soft: #f6f7f9;
  --ok: #15803d; --bad: #b91c1c; --warn: #a16207; }
* { box-sizing: border-box; }
body { margin: 0; font-family: ${fontStack}; color: var(--ink); background: #fff; line-height: 1.5; font-size: 15px; }
main { max-width: 1080px; margin: 0 auto; padding: 32px 24px 64px; }
header { border-bottom: 1px solid var(--line); margin-bottom: 8px; padding-bottom: 12px; }
h1 { font-size: 24px; margin: 0 0 4px; font-weight: 650; }
h2 { font-size: 18px; margin: 36px 0 10px; font-weight: 620; }
h3 { font-size: 15px; margin: 0 0 6px; font-weight: 600; }
p { margin: 6px 0; }
.lead { font-size: 16px; margin: 4px 0 10px; }
.meta, figcaption, .note { color: var(--muted); font-size: 13px; }
nav { font-size: 13px; margin-top: 6px; }
nav a { color: var(--muted); margin-right: 12px; text-decoration: none; }
nav a:hover { color: var(--ink); text-decoration: underline; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; }
.table { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 14px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
thead th { font-weight: 600; color: var(--muted); font-size: 12px; border-bottom: 1.5px solid #d1d5db; }
tbody th { font-weight: 600; }
table.bands { font-size: 13px; } table.bands th, table.bands td { padding: 4px 10px; }
.table + h3 { margin-top: 18px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
figure.chart { margin: 12px 0; padding: 12px; border: 1px solid var(--line); border-radius: 8px; overflow-x: auto; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { margin-top: 6px; }
.missing { color: var(--warn); background: #fefce8; border: 1px solid #fde68a; border-radius: 6px; padding: 8px 12px; }
.example { border: 1px solid var(--line); border-radius: 8px; margin: 16px 0; overflow: hidden; }
.example > .question { background: var(--soft); padding: 10px 14px; border-bottom: 1px solid var(--line); }
.why { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #e0e7ff; color: #3730a3; margin-left: 6px; }
.why.honest { background: #fee2e2; color: #991b1b; }
.answers { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); }
.answer { padding: 10px 14px; border-right: 1px solid var(--line); min-width: 0; }
.answer:last-child { border-right: none; }
.verdict { font-size: 12px; font-weight: 600; margin-left: 6px; }
.verdict.ok { color: var(--ok); } .verdict.bad { color: var(--bad); } .verdict.unknown { color: var(--muted); }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; line-height: 1.45; background: var(--soft); border-radius: 6px; padding: 8px 10px; margin: 6px 0 0;
  max-height: 420px; overflow-y: auto; }
footer { margin-top: 48px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 10px; }
`;

/** The whole page: one file, its style inline, no script and nothing fetched. */
export function page(title: string, headerHtml: string, nav: [string, string][], sections: string[]): string {
  const links = nav.map(([id, label]) => `<a href="#${id}">${escapeHtml(label)}</a>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(title)}</h1>
${headerHtml}
<nav>${links}</nav>
</header>
${sections.join("\n")}
<footer>Written by <code>distill report</code>. Charts are vega-lite, rendered to SVG when the report was written; the page loads nothing.</footer>
</main>
</body>
</html>
`;
}
