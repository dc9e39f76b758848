import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";

/** The longest body a function, method or arrow function of src/ may have: past it, split it into named steps. */
const maxLines = 100;
const root = path.resolve(import.meta.dirname, "..");

/** Every .ts file under `dir` except tests. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(file);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [file] : [];
  });
}

/** `file:line name (n lines)` for each function-like node of `file` whose body spans more than `limit` lines. */
function longFunctions(file: string, text: string, limit: number): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line + 1;
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const body = node.body as ts.Node;
      const lines = lineOf(body.getEnd()) - lineOf(body.getStart(source)) + 1;
      if (lines > limit) {
        const name = "name" in node && node.name ? (node.name as ts.Node).getText(source) : "(anonymous)";
        found.push(`${path.relative(root, file)}:${lineOf(node.getStart(source))} ${name} (${lines} lines)`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe("function length", () => {
  it("finds a body over the limit (the check itself works)", () => {
    const body = Array.from({ length: 5 }, (_, i) => `  const x${i} = ${i};`).join("\n");
    const text = `export function long() {\n${body}\n}\nconst short = () => 1;\nclass A { m() {\n${body}\n} }\n`;
    assert.deepEqual(longFunctions(path.join(root, "x.ts"), text, 4), [
      "x.ts:1 long (7 lines)",
      "x.ts:9 m (7 lines)",
    ]);
  });

  it(`no function, method or arrow function in src/ has a body over ${maxLines} lines`, () => {
    const offenders = sourceFiles(path.join(root, "src")).flatMap((file) =>
      longFunctions(file, readFileSync(file, "utf8"), maxLines),
    );
    assert.deepEqual(offenders, [], `split these into named steps:\n${offenders.join("\n")}`);
  });
});
