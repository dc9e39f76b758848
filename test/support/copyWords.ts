/**
 * A template task a tiny student learns in about half a minute of CPU: copy a made-up word into the
 * reasoning and the answer. Used where a test needs a student that has actually learned something.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { renderChatSample } from "../../src/template/render.ts";
import { hashSeed, pick, seededRandom } from "../../src/util/random.ts";

const syllables = ["ka", "lo", "mi", "tre", "son", "va", "ped", "ur", "gli", "zam", "bor", "qui"];

/** `count` distinct three-syllable words (none of `avoid`). */
export function words(count: number, seed: number, avoid = new Set<string>()): string[] {
  const random = seededRandom(hashSeed("copy-words", seed));
  const out = new Set<string>();
  while (out.size < count) {
    const w = `${pick(random, syllables)}${pick(random, syllables)}${pick(random, syllables)}`;
    if (!avoid.has(w)) out.add(w);
  }
  return [...out];
}

const prompt = (w: string) => `Repeat the word ${w}`;

/**
 * Writes `dir/train.jsonl` (chat rows on `trainCount` words, the bare problem as the user turn) and
 * `dir/test.jsonl` (`testCount` held-out words with their gold answers, a `jsonl:` benchmark).
 */
export function writeCopyWordsTask(
  dir: string,
  trainCount = 1000,
  testCount = 40,
): { train: string; benchmark: string } {
  const trainWords = words(trainCount, 1);
  const testWords = words(testCount, 2, new Set(trainWords));
  const rows = trainWords.map((w) =>
    JSON.stringify({
      messages: renderChatSample({ prompt: prompt(w), reasoning: `The word is ${w}.`, answer: w }),
    }),
  );
  const train = path.join(dir, "train.jsonl");
  writeFileSync(train, `${rows.join("\n")}\n`);
  const benchmark = path.join(dir, "test.jsonl");
  writeFileSync(
    benchmark,
    `${testWords.map((w) => JSON.stringify({ prompt: prompt(w), answer: w })).join("\n")}\n`,
  );
  return { train, benchmark };
}

/** The student of learn.test: 2 layers, 64 wide, a 400-token vocabulary. */
export const copyWordsStudent = "new:1m?vocab=400&hidden=64&layers=2&heads=4&kvHeads=2&ffn=192&context=128";
