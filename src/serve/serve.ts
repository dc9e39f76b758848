import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { recordedPrompting } from "../teachers/prompting.ts";
import { createTeacher, teacherFactories } from "../teachers/registry.ts";
import { parseTeacherSpec, type TeacherSpec } from "../teachers/spec.ts";
import type { Completion, Teacher, TokenLogprobs } from "../teachers/types.ts";
import { UserError } from "../util/errors.ts";
import { isProblem, parseChatRequest, parseScoreRequest, type RequestProblem } from "./request.ts";

export interface ServeOptions {
  /** A model folder of the project's own, `gguf:<path>`, or any teacher spec. */
  model: string;
  /** The id clients name in requests and `/v1/models` lists (default: the folder's name). */
  name?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Token limit when a request sets none. */
  defaultMaxTokens?: number;
  /** Sequences decoded together (default 8); more requests wait for a free one. */
  parallel?: number;
}

export interface RunningServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * `distill serve`: an OpenAI-compatible chat-completions server for a model the project trained (or any
 * teacher spec), so any OpenAI client can use a distilled student — or make it the teacher of a smaller
 * one. Routes: `GET /v1/models`, `POST /v1/chat/completions` (non-streaming, and `stream: true` as SSE,
 * token by token, with the usage chunk; `logprobs` / `top_logprobs` from a model folder), and
 * `POST /v1/completions` with `echo` and `max_tokens: 0` to score a given text. A model folder decodes every request in flight together, and a
 * request that arrives mid-way joins at the next step.
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const parallel = options.parallel ?? 8;
  if (!Number.isInteger(parallel) || parallel < 1)
    throw new UserError(
      `parallel must be an integer of at least 1 (got ${parallel}): requests would wait forever`,
    );
  const spec = parseTeacherSpec(options.model, Object.keys(teacherFactories));
  const teacher = createTeacher(spec, { sequences: parallel });
  const name = options.name ?? defaultNameOf(spec);
  // listed with the model, so that eval (and any client) prompts it as it was trained
  const prompting = await recordedPrompting(spec);
  const listing = {
    id: name,
    object: "model",
    created: 0,
    owned_by: "distillery",
    ...(prompting ? { distill: prompting } : {}),
  };
  const server = createServer((req, res) => {
    handle(req, res, teacher, listing, options.defaultMaxTokens ?? 512).catch((err: unknown) => {
      // a request the model cannot take (a prompt longer than its context) is the client's to fix
      if (err instanceof UserError) sendError(res, 400, err.message, "invalid_request_error");
      else sendError(res, 500, `internal error: ${(err as Error).message}`, "server_error");
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 8000, options.host ?? "127.0.0.1", resolve),
  );
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(":") ? `[${address}]` : address}:${port}/v1`,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await teacher.close?.();
    },
  };
}

/** The id a model is served as when `--name` is not given: a folder's or file's name, an endpoint's model. */
function defaultNameOf(spec: TeacherSpec): string {
  if (spec.kind === "model") return path.basename(path.resolve(spec.dir));
  if (spec.kind === "gguf") return path.basename(spec.path, ".gguf");
  if (spec.kind === "openai") return spec.model;
  return spec.spec;
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  teacher: Teacher,
  listing: { id: string },
  defaultMaxTokens: number,
) {
  const url = new URL(req.url ?? "/", "http://localhost");
  const name = listing.id;
  if (req.method === "GET" && url.pathname === "/v1/models")
    return sendJson(res, 200, { object: "list", data: [listing] });
  const route = req.method === "POST" ? url.pathname : "";
  if (route !== "/v1/chat/completions" && route !== "/v1/completions") {
    return sendError(res, 404, `no route ${req.method} ${url.pathname}`, "invalid_request_error");
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return sendError(res, 400, "the body is not valid JSON", "invalid_request_error", null, "invalid_json");
  }
  if (route === "/v1/completions") return scoreText(res, teacher, name, body);
  const request = parseChatRequest(body, name, defaultMaxTokens);
  if (isProblem(request)) return sendProblem(res, request);

  const created = Math.floor(Date.now() / 1000);
  const id = `chatcmpl-${created.toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  const { n } = request;
  if (request.topLogprobs !== undefined && !teacher.givesLogprobs)
    return sendError(
      res,
      400,
      `this server's model (${teacher.id}) does not give log-probabilities; serve a model folder for logprobs`,
      "invalid_request_error",
      "logprobs",
      "unsupported_parameter",
    );
  const sampling = {
    topLogprobs: request.topLogprobs,
    messages: request.messages,
    n,
    temperature: request.temperature,
    topP: request.topP,
    maxTokens: request.maxTokens,
    seed: request.seed,
  };
  if (!request.stream) {
    const completions = await teacher.sample(sampling);
    return sendJson(res, 200, {
      id,
      object: "chat.completion",
      created,
      model: name,
      choices: completions.map((c, index) => ({
        index,
        message: { role: "assistant", content: c.text },
        logprobs: c.logprobs ? { content: c.logprobs, refusal: null } : null,
        finish_reason: c.finishReason,
      })),
      usage: usageOf(completions),
    });
  }
  // SSE: each choice's role, its text as the model produces it, its finish reason, the usage when
  // asked for, then [DONE]. A teacher that answers at once sends its whole text in one chunk.
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  const send = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    res.write(
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: name, choices, ...extra })}\n\n`,
    );
  const content = (index: number, text: string, logprobs?: TokenLogprobs[]) =>
    send([
      {
        index,
        delta: { content: text },
        ...(logprobs ? { logprobs: { content: logprobs, refusal: null } } : {}),
        finish_reason: null,
      },
    ]);
  const streamed = Array.from({ length: n }, () => "");
  const streamedTokens = new Array<number>(n).fill(0);
  for (let index = 0; index < n; index++)
    send([{ index, delta: { role: "assistant", content: "" }, finish_reason: null }]);
  const completions = await teacher.sample({
    ...sampling,
    onText: (index, delta, logprobs) => {
      streamed[index] += delta;
      streamedTokens[index] += logprobs?.length ?? 0;
      content(index, delta, logprobs);
    },
  });
  completions.forEach((c, index) => {
    // what the stream has not carried yet: the text after the last whole character, its tokens
    const rest = c.text.startsWith(streamed[index]) ? c.text.slice(streamed[index].length) : "";
    const restLogprobs = c.logprobs?.slice(streamedTokens[index]);
    if (rest || restLogprobs?.length) content(index, rest, restLogprobs);
    send([{ index, delta: {}, finish_reason: c.finishReason }]);
  });
  if (request.includeUsage) send([], { usage: usageOf(completions) });
  res.end("data: [DONE]\n\n");
}

/**
 * `POST /v1/completions` with `echo: true, max_tokens: 0` (or 1, and the next token) scores a text or token ids the model did not write (what
 * on-policy distillation asks of a teacher): the legacy completions shape, as OpenAI's API and vLLM give
 * it — `logprobs: { tokens, token_logprobs (the first null), top_logprobs, text_offset }`.
 */
async function scoreText(res: ServerResponse, teacher: Teacher, name: string, body: unknown) {
  const request = parseScoreRequest(body, name);
  if (isProblem(request)) return sendProblem(res, request);
  if (!teacher.score)
    return sendError(
      res,
      400,
      `this server's model (${teacher.id}) does not score text; serve a model folder for it`,
      "invalid_request_error",
      "echo",
      "unsupported_parameter",
    );
  const scored = await teacher.score(request.prompt, request.logprobs, { next: request.next });
  const promptTokens = scored.length - (request.next ? 1 : 0);
  const offsets: number[] = [];
  let at = 0;
  for (const t of scored) {
    offsets.push(at);
    at += t.token.length;
  }
  sendJson(res, 200, {
    id: `cmpl-${Date.now().toString(36)}`,
    object: "text_completion",
    created: Math.floor(Date.now() / 1000),
    model: name,
    choices: [
      {
        index: 0,
        // the text as given (a token alone may hold half a character), and the next token after it
        text:
          typeof request.prompt === "string"
            ? `${request.prompt}${request.next ? scored.at(-1)!.token : ""}`
            : scored.map((t) => t.token).join(""),
        logprobs: {
          tokens: scored.map((t) => t.token),
          token_logprobs: scored.map((t) => t.logprob),
          top_logprobs: scored.map((t) => ("top_logprobs" in t ? byText(t.top_logprobs) : null)),
          text_offset: offsets,
        },
        finish_reason: "length",
      },
    ],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: scored.length - promptTokens,
      total_tokens: scored.length,
    },
  });
}

/**
 * The legacy shape's alternatives: an object keyed by token text, where two tokens of one text (pieces of
 * characters, both "\uFFFD") can only be one entry — the more likely.
 */
function byText(alternatives: { token: string; logprob: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of alternatives) if (!(a.token in out)) out[a.token] = a.logprob;
  return out;
}

function usageOf(completions: Completion[]) {
  const prompt = completions[0]?.usage.promptTokens ?? 0;
  const completion = completions.reduce((s, c) => s + c.usage.completionTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

function sendProblem(res: ServerResponse, p: RequestProblem): void {
  sendError(res, p.status, p.message, "invalid_request_error", p.param, p.code);
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, status, { error: { message, type, param, code } });
}
