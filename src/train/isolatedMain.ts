/**
 * The child side of isolated.ts: options as JSON on stdin, one JSON line back on stdout —
 * `{"summary": …}`, `{"userError": "…"}` (a message for the user, already naming file and field) or
 * `{"error": "…"}`. Progress and warnings go to stderr, which the parent shares.
 */
import { text } from "node:stream/consumers";
import { UserError } from "../util/errors.ts";
import { train } from "./train.ts";

try {
  const summary = await train(JSON.parse(await text(process.stdin)));
  process.stdout.write(`${JSON.stringify({ summary })}\n`);
} catch (err) {
  const reply =
    err instanceof UserError
      ? { userError: err.message }
      : { error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  process.stdout.write(`${JSON.stringify(reply)}\n`);
  process.exitCode = 1;
}
