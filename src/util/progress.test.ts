import assert from "node:assert/strict";
import { test } from "node:test";
import { eta, rate } from "./progress.ts";

test("eta: unknown before anything is done, then the time left at the rate so far", () => {
  const now = Date.now();
  assert.equal(eta(0, 100, now - 5000), "?");
  assert.equal(eta(50, 100, now - 10_000), "10s");
  assert.equal(eta(1, 100, now - 5000), "8m 15s");
  assert.equal(eta(1, 1000, now - 10_000), "2h 46m");
  assert.equal(eta(100, 100, now - 1000), "0s");
});

test("rate: per second, or the seconds each takes when slower than one a second", () => {
  const now = Date.now();
  assert.equal(rate(50, now - 10_000), "5.0/s");
  assert.equal(rate(0, now - 10_000), "0.0/s");
  assert.equal(rate(2, now - 90_000), "45.0 s each");
});
