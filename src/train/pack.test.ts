import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seededRandom, shuffle } from "../util/random.ts";
import type { Example } from "./data.ts";
import { planRows } from "./pack.ts";

const ofLength = (n: number): Example => ({ ids: new Int32Array(n), mask: new Uint8Array(n) });

describe("planRows (best-fit packing)", () => {
  it("puts an example in the open row it fills most tightly", () => {
    // 7 opens row 0, 6 opens row 1 (no room in row 0), 3 fits row 1 exactly (room 4) rather than row 0 (room 3)?
    // row 0 has room 3, row 1 room 4: best fit is row 0, which it fills and closes
    const examples = [7, 6, 3, 4].map(ofLength);
    const { rows } = planRows(examples, [0, 1, 2, 3], 10);
    assert.deepEqual(
      rows.map((r) => r.map((i) => i.example)),
      [
        [0, 2],
        [1, 3],
      ],
    );
  });

  it("places every example once, never overfills a row, and cuts only what exceeds the context", () => {
    const random = seededRandom(7);
    const lengths = Array.from({ length: 2000 }, () => 20 + Math.floor(random() * 170));
    lengths.push(300, 256);
    const examples = lengths.map(ofLength);
    const order = shuffle(
      random,
      examples.map((_, i) => i),
    );
    const { rows, truncated } = planRows(examples, order, 256);
    assert.equal(truncated, 1);
    const placed = rows.flat().map((i) => i.example);
    assert.deepEqual(
      [...placed].sort((a, b) => a - b),
      examples.map((_, i) => i),
    );
    for (const row of rows) assert.ok(row.reduce((s, i) => s + i.length, 0) <= 256);
    // laid end to end these fill ~70% of each row; best fit over a window fills nearly all of it
    const fill = rows.flat().reduce((s, i) => s + i.length, 0) / (rows.length * 256);
    const endToEnd = planRows(examples, order, 256, 1);
    const endToEndFill =
      endToEnd.rows.flat().reduce((s, i) => s + i.length, 0) / (endToEnd.rows.length * 256);
    assert.ok(fill > 0.95 && endToEndFill < 0.8, `best fit ${fill}, end to end ${endToEndFill}`);
  });

  it("keeps the shuffled order at the scale of the window", () => {
    const examples = Array.from({ length: 1000 }, (_, i) => ofLength(30 + (i % 7) * 20));
    const order = examples.map((_, i) => i);
    const { rows } = planRows(examples, order, 256, 16);
    // an example lands at most a few windows' worth of rows away from where order put it
    const rowOf = new Map(rows.flatMap((r, at) => r.map((i) => [i.example, at])));
    const perRow = examples.length / rows.length;
    for (const [example, at] of rowOf)
      assert.ok(Math.abs(at - example / perRow) < 3 * 16, `${example} in row ${at}`);
  });
});
