/**
 * A zero-latency OpenAI-compatible endpoint in its own process (so it has its own core): answers every
 * chat completion at once with a recorded response shape. Prints its base URL on stdout.
 */
import { readFileSync } from "node:fs";
import { startReplayServer } from "../test/support/replayServer.ts";

const body = JSON.parse(
  readFileSync(new URL("../test/fixtures/openai-chat-completion.json", import.meta.url), "utf8"),
);
const server = await startReplayServer(() => ({ body }), { keepRequests: false });
process.stdout.write(`${server.baseURL}\n`);
process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
