import { Command } from "commander";

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
  .option("--port <port>", "port (0: any free one)", Number, 8000)
  .option("--parallel <n>", "sequences decoded together; more requests wait for a free one", Number, 8)
  .action(async (flags: { model: string; name?: string; host: string; port: number; parallel: number }) => {
    const { serve } = await import("./serve.ts");
    const running = await serve(flags);
    process.stderr.write(
      `serve: ${flags.model} at ${running.url} (POST /chat/completions, GET /models); Ctrl-C stops\n`,
    );
    const stop = () => running.close().then(() => process.exit(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
