import { createServer } from "node:net";
import { Command } from "commander";
import { UserError } from "../util/errors.ts";
import { integerFlag } from "../util/flags.ts";
import { systemReason } from "../util/outputs.ts";
import { onParentGone } from "./parent.ts";

export const serveCommand = new Command("serve")
  .description(
    "serve a trained student (or any model spec) as an OpenAI-compatible chat-completions endpoint",
  )
  .requiredOption(
    "--model <dir|spec>",
    "a model folder of the project's own, gguf:<path>, or another teacher spec",
  )
  .option("--name <id>", "the model id clients use (default: the folder's name)")
  .option("--host <host>", "address to listen on", "127.0.0.1")
  .option("--port <port>", "port (0: any free one)", integerFlag(0, 65535), 8000)
  .option(
    "--parallel <n>",
    "sequences decoded together; more requests wait for a free one",
    integerFlag(1, 4096),
    8,
  )
  .action(async (flags: { model: string; name?: string; host: string; port: number; parallel: number }) => {
    // Killing the launcher (npx, a script, a supervisor) stops the server too. Watched from the start:
    // a launcher killed while the model still loads would otherwise leave a server adopted by init.
    let running: Awaited<ReturnType<typeof import("./serve.ts").serve>> | undefined;
    const stop = () => (running ? running.close() : Promise.resolve()).then(() => process.exit(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    onParentGone(stop);
    await checkCanListen(flags.host, flags.port);
    const { serve } = await import("./serve.ts");
    running = await serve(flags);
    process.stderr.write(
      `serve: ${flags.model} at ${running.url} (POST /chat/completions, GET /models); Ctrl-C stops\n`,
    );
  });

/**
 * Listens on host:port for a moment and lets go, so a busy port or an unknown host is one line before
 * the model loads, instead of an 'error' event nobody handles once the server starts.
 */
export async function checkCanListen(host: string, port: number): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(port, host, resolve);
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new UserError(`port ${port} on ${host} is in use (--port)`);
    if (code === "ENOTFOUND" || code === "EADDRNOTAVAIL" || code === "EAI_AGAIN")
      throw new UserError(`cannot listen on ${host}: no such address here (--host)`);
    throw new UserError(`cannot listen on ${host}:${port}: ${systemReason(err)}`);
  }
  await new Promise((resolve) => probe.close(resolve));
}
