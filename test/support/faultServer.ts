import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hashSeed, seededRandom } from "../../src/util/random.ts";

/**
 * An OpenAI-compatible chat-completions server on loopback that fails the way real fleets and
 * providers fail, for tests of the generator's fault handling. Which fault a request meets is drawn
 * from `rates` by a random stream seeded with (seed, the request's messages and seed, how many times
 * this server has seen that request), so a run meets the same faults whatever order requests arrive in.
 * Real sockets throughout: resets destroy the connection, truncated bodies promise more bytes than
 * they send, stalls hold the connection open and silent.
 */
export const faultKinds = [
  "429-retry-after",
  "429",
  "500",
  "502",
  "503",
  "400",
  "reset",
  "stall",
  "malformed",
  "truncated",
] as const;
export type FaultKind = (typeof faultKinds)[number];

/** Roughly one request in four fails, in every way the server knows; one in 200 is a request error (400). */
export const mixedFaultRates: Record<FaultKind, number> = {
  "429-retry-after": 0.01,
  "429": 0.04,
  "500": 0.03,
  "502": 0.03,
  "503": 0.03,
  "400": 0.005,
  reset: 0.03,
  stall: 0.01,
  malformed: 0.03,
  truncated: 0.03,
};

export interface FaultServerOptions {
  seed?: number;
  /** Probability of each fault a request; the rest are answered properly. */
  rates?: Partial<Record<FaultKind, number>>;
  /** Delay before each answer (a slow model). */
  latencyMs?: number;
  /** How long a stall stays silent before the server drops the connection (default 30 s). */
  stallMs?: number;
  /** The `Retry-After` a "429-retry-after" carries, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** Error bodies quote the request's headers, Authorization included, as some proxies do. */
  echoHeaders?: boolean;
}

export interface FaultServer {
  baseURL: string;
  /** Requests received, faulty ones included. */
  readonly requests: number;
  /** Requests by what they met ("ok" or a fault). */
  readonly byKind: Record<string, number>;
  /** The request keys (`<seed>|<messages>`) of every complete, proper answer, in order. */
  readonly answered: string[];
  close(): Promise<void>;
}

export async function startFaultServer(options: FaultServerOptions = {}): Promise<FaultServer> {
  const seed = options.seed ?? 0;
  const rates = options.rates ?? {};
  const seen = new Map<string, number>();
  const byKind: Record<string, number> = {};
  const answered: string[] = [];
  let requests = 0;
  const timers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const choose = (requestKey: string): FaultKind | "ok" => {
    const attempt = (seen.get(requestKey) ?? 0) + 1;
    seen.set(requestKey, attempt);
    let u = seededRandom(hashSeed(seed, requestKey, attempt))();
    for (const kind of faultKinds) {
      u -= rates[kind] ?? 0;
      if (u < 0) return kind;
    }
    return "ok";
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    // the model list (generate reads it to learn how a model is prompted) is answered, fault-free
    if (req.method === "GET" && req.url?.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [] }));
      return;
    }
    requests++;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: { messages?: unknown; seed?: number; stream?: boolean; model?: string } = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    } catch {
      // an unreadable request gets a proper answer all the same: the faults are the server's
    }
    const requestKey = `${body.seed ?? ""}|${JSON.stringify(body.messages ?? null)}`;
    const kind = choose(requestKey);
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    if (options.latencyMs) await sleep(options.latencyMs);
    if (res.destroyed) return;
    const echo = options.echoHeaders ? ` (request headers: ${JSON.stringify(req.headers)})` : "";
    const error = (status: number, message: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify({ error: { message: `${message}${echo}`, type: "server_error" } }));
    };
    const stream = body.stream === true;
    switch (kind) {
      case "429-retry-after":
        return error(429, "Rate limit reached", { "retry-after": String(options.retryAfterSeconds ?? 1) });
      case "429":
        return error(429, "Rate limit reached");
      case "500":
        return error(500, "internal error");
      case "502":
        return error(502, "bad gateway");
      case "503":
        return error(503, "overloaded");
      case "400":
        return error(400, "invalid request");
      case "reset":
        req.socket.destroy();
        return;
      case "malformed":
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"index": 0, "mess');
        return;
      case "stall": {
        // headers (and for a stream, a first chunk), then silence, then a dropped connection
        res.writeHead(200, { "content-type": stream ? "text/event-stream" : "application/json" });
        if (stream) res.write(sse(chunk(body.model, { role: "assistant", content: "<think>" })));
        else res.flushHeaders();
        await sleep(options.stallMs ?? 30_000);
        res.destroy();
        return;
      }
      case "truncated": {
        const text = stream ? streamText(body.model) : JSON.stringify(completion(body.model));
        const cut = text.slice(0, Math.floor(text.length / 2));
        if (stream) {
          // a stream that ends cleanly before its finish reason
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.end(cut.slice(0, cut.lastIndexOf("\n\n") + 2));
        } else {
          // promises the whole length, sends half, drops the connection
          res.writeHead(200, {
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(text)),
          });
          res.write(cut);
          setImmediate(() => res.destroy());
        }
        return;
      }
      default: {
        const text = stream ? streamText(body.model) : JSON.stringify(completion(body.model));
        res.writeHead(200, { "content-type": stream ? "text/event-stream" : "application/json" });
        res.end(text, () => answered.push(requestKey));
      }
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    get requests() {
      return requests;
    },
    byKind,
    answered,
    close: () =>
      new Promise((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const content =
  "<think>\nSubtract 5 from both sides: 3x = 15. Divide by 3: x = 5.\n</think>\n<answer>x = 5</answer>";

function completion(model = "fault-test") {
  return {
    id: "chatcmpl-fault",
    object: "chat.completion",
    created: 0,
    model,
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: 40, completion_tokens: 30, total_tokens: 70 },
  };
}

function chunk(model = "fault-test", delta: Record<string, unknown>, finish: string | null = null) {
  return {
    id: "chatcmpl-fault",
    object: "chat.completion.chunk",
    created: 0,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

function streamText(model?: string): string {
  const parts = content.match(/[\s\S]{1,16}/g) ?? [];
  return [
    sse(chunk(model, { role: "assistant", content: "" })),
    ...parts.map((p) => sse(chunk(model, { content: p }))),
    sse(chunk(model, {}, "stop")),
    sse({
      ...chunk(model, {}),
      choices: [],
      usage: { prompt_tokens: 40, completion_tokens: 30, total_tokens: 70 },
    }),
    "data: [DONE]\n\n",
  ].join("");
}

function sse(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}
