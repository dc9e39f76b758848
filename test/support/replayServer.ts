import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local OpenAI-compatible HTTP server on loopback that answers `/v1/chat/completions` with whatever
 * a handler returns (and `GET /v1/models` with an empty list): recorded response bodies, error statuses with headers, delays, SSE streams, or
 * a dropped connection. For tests of the teacher adapters and for the generation benchmark.
 */
export interface ReplayReply {
  status?: number;
  headers?: Record<string, string>;
  /** A JSON body (serialised) or raw text (sent as is, e.g. malformed JSON or an SSE stream). */
  body?: unknown;
  /** Wait this long before answering (for timeouts). */
  delayMs?: number;
  /** Close the socket without answering. */
  drop?: boolean;
}

export interface ReplayRequest {
  index: number;
  body: Record<string, unknown>;
  headers: IncomingMessage["headers"];
}

export interface ReplayServer {
  baseURL: string;
  requests: ReplayRequest[];
  close(): Promise<void>;
}

export async function startReplayServer(
  handler: (request: ReplayRequest) => ReplayReply | Promise<ReplayReply>,
  options: { keepRequests?: boolean } = {},
): Promise<ReplayServer> {
  const requests: ReplayRequest[] = [];
  let index = 0;
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    // the model list (which generate reads to learn how a model is prompted) is not what tests replay
    if (req.method === "GET" && req.url?.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [] }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
    } catch {
      // the handler sees an empty body
    }
    const request = { index: index++, body, headers: req.headers };
    if (options.keepRequests !== false) requests.push(request);
    const reply = await handler(request);
    if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
    if (reply.drop) {
      req.socket.destroy();
      return;
    }
    const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {});
    const isStream = typeof reply.body === "string" && text.startsWith("data:");
    res.writeHead(reply.status ?? 200, {
      "content-type": isStream ? "text/event-stream" : "application/json",
      ...reply.headers,
    });
    res.end(text);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
