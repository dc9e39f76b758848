import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { seededRandom } from "../../src/util/random.ts";

/**
 * A chat-completions server on loopback that answers `logprobs: true, top_logprobs: K` in vLLM's response
 * shape (`choices[].logprobs.content[]`: token, logprob, bytes, top_logprobs; in a stream, each chunk's
 * `choices[0].logprobs`), for tests of `distill generate --logprobs`. Each answer depends on the request's
 * seed, so candidates differ; it holds a two-byte character split into two byte tokens (text `\xc3`,
 * as OpenAI sends such pieces), and with `tokenIds` every token is `token_id:N` (vLLM's
 * `return_tokens_as_token_ids`). With `withoutLogprobs` it ignores the fields, as some providers do.
 */
export interface LogprobsServerOptions {
  latencyMs?: number;
  tokenIds?: boolean;
  withoutLogprobs?: boolean;
}

export interface LogprobsServer {
  baseURL: string;
  /** The request bodies received, in order. */
  readonly bodies: Record<string, unknown>[];
  close(): Promise<void>;
}

interface Token {
  text: string;
  bytes: number[];
}

export async function startLogprobsServer(options: LogprobsServerOptions = {}): Promise<LogprobsServer> {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer(async (req, res) => {
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [] }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    bodies.push(body);
    if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
    const seed = Number(body.seed ?? 0);
    const tokens = tokensOf(answerFor(seed));
    const k = body.logprobs === true && !options.withoutLogprobs ? Number(body.top_logprobs ?? 0) : -1;
    const random = seededRandom(seed);
    const entries = tokens.map((t, i) => logprobEntry(t, i, k, random, options.tokenIds));
    const content = Buffer.concat(tokens.map((t) => Buffer.from(t.bytes))).toString("utf8");
    const usage = { prompt_tokens: 20, completion_tokens: tokens.length, total_tokens: 20 + tokens.length };
    if (body.stream) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const send = (v: unknown) => res.write(`data: ${JSON.stringify(v)}\n\n`);
      // one token a chunk; the split character's bytes go out as one chunk of two tokens, as vLLM holds them
      for (let i = 0; i < tokens.length; i++) {
        const pair = tokens[i].text.startsWith("\\x") ? 2 : 1;
        const piece = Buffer.concat(tokens.slice(i, i + pair).map((t) => Buffer.from(t.bytes))).toString();
        const logprobs = k < 0 ? null : { content: entries.slice(i, i + pair) };
        send(streamChunk(body.model, { content: piece }, logprobs, null));
        i += pair - 1;
      }
      send(streamChunk(body.model, {}, null, "stop"));
      send({ ...streamChunk(body.model, {}, null, null), choices: [], usage });
      res.end("data: [DONE]\n\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        id: "chatcmpl-logprobs",
        object: "chat.completion",
        created: 0,
        model: body.model,
        choices: [
          {
            index: 0,
            message: { role: "assistant", content, reasoning_content: null, tool_calls: [] },
            logprobs: k < 0 ? null : { content: entries },
            finish_reason: "stop",
            stop_reason: null,
          },
        ],
        usage,
        prompt_logprobs: null,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    bodies,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The completion a seed gets: a templated answer with a non-ASCII character in it. */
export function answerFor(seed: number): string {
  const x = (seed % 17) + 2;
  return `<think>\nCafé rule: 3x = ${3 * x}, so x = ${x}.\n</think>\n<answer>x = ${x}</answer>`;
}

/** Words and spaces as tokens; "é" as its two UTF-8 bytes, each its own token. */
function tokensOf(text: string): Token[] {
  const tokens: Token[] = [];
  for (const piece of text.match(/<\/?\w+>|\s?[^\s<]{1,4}|\s/g) ?? []) {
    const bytes = [...Buffer.from(piece)];
    if (piece.includes("é")) {
      const [before, after] = piece.split("é");
      if (before) tokens.push({ text: before, bytes: [...Buffer.from(before)] });
      tokens.push({ text: "\\xc3", bytes: [0xc3] }, { text: "\\xa9", bytes: [0xa9] });
      if (after) tokens.push({ text: after, bytes: [...Buffer.from(after)] });
    } else tokens.push({ text: piece, bytes });
  }
  return tokens;
}

function logprobEntry(t: Token, i: number, k: number, random: () => number, ids?: boolean) {
  const name = (token: Token, id: number) => (ids ? `token_id:${id}` : token.text);
  const logprob = -random() * 0.5;
  const alternatives = Array.from({ length: Math.max(0, k) }, (_, j) => {
    const alt = j === 0 ? t : { text: `alt${j}`, bytes: [...Buffer.from(`alt${j}`)] };
    return {
      token: name(alt, j === 0 ? 1000 + i : j),
      logprob: j === 0 ? logprob : logprob - j - random(),
      bytes: alt.bytes,
    };
  });
  return { token: name(t, 1000 + i), logprob, bytes: t.bytes, top_logprobs: alternatives };
}

function streamChunk(model: string, delta: object, logprobs: unknown, finish: string | null) {
  return {
    id: "chatcmpl-logprobs",
    object: "chat.completion.chunk",
    created: 0,
    model,
    choices: [{ index: 0, delta, logprobs, finish_reason: finish }],
  };
}
