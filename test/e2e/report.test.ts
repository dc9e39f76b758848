import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { report } from "../../src/report/report.ts";
import { hostileText, writeFixtureRun } from "../support/fixtureRun.ts";

/**
 * The report as a person sees it: a fixture run rendered to report.html, opened from disk in headless
 * Chromium with the network off, screenshotted, and checked for charts that actually drew marks.
 */
const executablePath = "/usr/bin/chromium";
const skip = existsSync(executablePath)
  ? false
  : `${executablePath} not found: install Debian chromium: apt-get install -y chromium`;

describe("report.html in headless Chromium", { skip }, () => {
  it("renders every chart with marks, escapes completions, loads nothing and logs no errors", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "distill-report-e2e-"));
    const run = writeFixtureRun(path.join(dir, "run"), { items: 40, hostile: true });
    const html = await report({ run });
    const browser = await chromium.launch({
      executablePath,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const problems: string[] = [];
      const requests: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
      page.on("request", (r) => {
        if (r.url() !== pathToFileURL(html).href) requests.push(r.url());
      });
      await page.goto(pathToFileURL(html).href, { waitUntil: "load" });
      const screenshot = path.join(dir, "report.png");
      await page.screenshot({ path: screenshot, fullPage: true });
      assert.ok(existsSync(screenshot));

      // Each chart: an inline SVG with a nonzero box and the marks its kind draws.
      const charts = await page.$$eval("figure.chart", (figures) =>
        figures.map((f) => {
          const svg = f.querySelector("svg");
          const box = svg?.getBoundingClientRect();
          return {
            name: f.getAttribute("data-chart"),
            width: box?.width ?? 0,
            height: box?.height ?? 0,
            bars: svg?.querySelectorAll("g.mark-rect.role-mark > path").length ?? 0,
            lines: svg?.querySelectorAll("g.mark-line.role-mark > path").length ?? 0,
            points: svg?.querySelectorAll("g.mark-symbol.role-mark > path").length ?? 0,
            texts: svg?.querySelectorAll("g.mark-text.role-mark > text").length ?? 0,
          };
        }),
      );
      assert.deepEqual(
        charts.map((c) => c.name),
        ["funnel", "loss", "accuracy", "lengths"],
      );
      for (const c of charts) assert.ok(c.width > 100 && c.height > 100, `${c.name}: ${c.width}×${c.height}`);
      const byName = Object.fromEntries(charts.map((c) => [c.name, c]));
      assert.equal(byName.funnel.bars, 8, "one bar per funnel step");
      assert.equal(byName.funnel.texts, 8, "one share label per funnel step");
      assert.equal(byName.loss.lines, 3, "one training curve per trained model");
      assert.equal(byName.loss.points, 9, "three validation points per model");
      assert.equal(byName.accuracy.bars, 4 * 6, "4 models × (all + 5 bands)");
      assert.ok(byName.lengths.bars >= 4, `length histogram bars: ${byName.lengths.bars}`);

      // The same held-out items, side by side, with the completions as escaped text.
      const examples = await page.$$eval(".example", (es) =>
        es.map((e) => ({
          models: [...e.querySelectorAll(".answer h3")].map((h) => h.firstChild?.textContent),
          why: e.querySelector(".why")?.textContent,
          pre: [...e.querySelectorAll("pre")].map((p) => p.textContent ?? ""),
        })),
      );
      assert.ok(examples.length >= 2, `${examples.length} examples`);
      for (const e of examples)
        assert.deepEqual(e.models, ["teacher", "base", "distilled", "distilled_unfiltered"]);
      assert.equal(examples[0].why, "distilled right, base wrong");
      assert.match(examples.at(-1)?.why ?? "", /^distilled wrong/);
      assert.ok(examples[0].pre[3].includes(hostileText), "the completion's HTML is shown as text");
      assert.equal(await page.title(), "distillery report — run", "no script from a completion ran");
      assert.equal(await page.locator("pre b").count(), 0, "no element from a completion");

      assert.deepEqual(requests, [], "the page fetches nothing");
      assert.deepEqual(problems, [], "no console errors or warnings");
      console.log(`screenshot: ${screenshot}`);
    } finally {
      await browser.close();
    }
  });
});
