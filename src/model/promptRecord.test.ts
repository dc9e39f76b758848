import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { renderChatSample, renderTeacherMessages } from "../template/render.ts";
import { UserError } from "../util/errors.ts";
import { promptRecordFile, promptRecordOf, readPromptRecord, writePromptRecord } from "./promptRecord.ts";

const markers = { thinkOpen: "<r>", thinkClose: "</r>", answerOpen: "[a]", answerClose: "[/a]" };
const bare = { messages: renderChatSample({ prompt: "Solve 2x = 4", reasoning: "2x = 4", answer: "2" }) };
const instructed = {
  messages: [...renderTeacherMessages("Solve 2x = 4", markers), { role: "assistant", content: "x" }],
};

test("a training set is recorded as prompted by the instruction when most of its last user turns end with it", () => {
  assert.deepEqual(promptRecordOf([bare, bare, instructed]), { instruction: "none" });
  assert.deepEqual(promptRecordOf([bare, instructed, instructed]), { instruction: "template" });
  // an instruction in an earlier turn, or mid-text, is not the prompt's ending
  const mid = { messages: [{ role: "user", content: `${instructed.messages[0].content} Now x?` }] };
  assert.deepEqual(promptRecordOf([mid]), { instruction: "none" });
});

test("the record round-trips through the folder; a bad one names file and field", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "distill-prompt-"));
  assert.equal(readPromptRecord(dir), null);
  writePromptRecord(dir, { instruction: "template" });
  assert.deepEqual(readPromptRecord(dir), { instruction: "template" });
  writeFileSync(path.join(dir, promptRecordFile), '{"instruction": "yes"}');
  assert.throws(
    () => readPromptRecord(dir),
    (e: unknown) =>
      e instanceof UserError &&
      e.message ===
        `${path.join(dir, promptRecordFile)}, field "instruction": must be "none" or "template", not "yes"`,
  );
});
