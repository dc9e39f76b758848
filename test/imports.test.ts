/**
 * The folders of src/ depend on each other without cycles: every import of a file under src/ (static
 * `import … from`, `export … from`, `import type`, and `import("…")`) is resolved to the top folder it
 * lands in, and the resulting folder graph must be acyclic. Test files are left out: a test may
 * combine any folders (a decoder test reads both the engine and the model). Type-only imports count:
 * they are design dependencies even though they vanish at run time.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const src = fileURLToPath(new URL("../src/", import.meta.url));

/** Every .ts file under `dir`, tests excluded. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : sourceFiles(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [path] : [];
  });
}

/** Relative specifiers a file imports: `from "./x"`, `from "../x"`, `import("../x")`. */
export function relativeImports(text: string): string[] {
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm))
    specs.push(m[1]!);
  return specs;
}

/** The top folder of src/ a path lies in ("model" for src/model/rope.ts, "." for src/cli.ts). */
function topFolder(path: string): string {
  const rel = relative(src, path);
  return rel.includes(sep) ? rel.split(sep)[0]! : ".";
}

/** Folder → folders it imports from (itself excluded). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(src)) {
    const from = topFolder(file);
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const spec of relativeImports(readFileSync(file, "utf8"))) {
      const target = resolve(dirname(file), spec);
      if (relative(src, target).startsWith("..")) continue; // outside src/ (package.json, …)
      const to = topFolder(target);
      if (to !== from) edges.add(to);
    }
  }
  return graph;
}

/** Cycles found by depth-first search, one per back edge: none exactly when the graph is acyclic. */
export function cycles(graph: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

test("the cycle finder finds a cycle and the import parser reads every import form", () => {
  const g = new Map([
    ["engine", new Set(["model"])],
    ["model", new Set(["util", "engine"])],
    ["util", new Set<string>()],
  ]);
  assert.deepEqual(cycles(g), [["engine", "model", "engine"]]);
  g.get("model")!.delete("engine");
  assert.deepEqual(cycles(g), []);
  const text = [
    'import { a } from "../engine/ops.ts";',
    'import type { B } from "./b.ts";',
    'export { c } from "../util/c.ts";',
    'import "./side-effect.ts";',
    'const d = await import("../report/d.ts");',
    'import { z } from "zod";',
  ].join("\n");
  assert.deepEqual(relativeImports(text), [
    "../engine/ops.ts",
    "./b.ts",
    "../util/c.ts",
    "./side-effect.ts",
    "../report/d.ts",
  ]);
});

test("no import cycle between the folders of src/", () => {
  const graph = folderGraph();
  assert.ok(graph.has("model") && graph.has("engine"), "the scan found src/'s folders");
  assert.ok(graph.get("model")!.has("engine"), "model builds on the engine");
  assert.deepEqual(
    cycles(graph).map((c) => c.join(" → ")),
    [],
  );
});
