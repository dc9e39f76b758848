/**
 * An Ollama `Modelfile` for an exported ChatML (Qwen-style) GGUF. Ollama templates are Go templates, not
 * Jinja, so the ChatML turn format is spelled out here rather than taken from the GGUF's template.
 */
export interface ModelfileOptions {
  /** Path of the GGUF relative to the Modelfile (default `./model.gguf`). */
  gguf?: string;
  /** Stop strings (default ChatML's `<|im_end|>` and `<|endoftext|>`). */
  stop?: string[];
  /** Default sampling temperature (omitted when not given). */
  temperature?: number;
  /** Default system prompt (omitted when not given). */
  system?: string;
  /** Context window Ollama allocates (omitted when not given). */
  contextLength?: number;
}

const chatmlGoTemplate = `{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
`;

export function ollamaModelfile(opts: ModelfileOptions = {}): string {
  const lines = [`FROM ${opts.gguf ?? "./model.gguf"}`, `TEMPLATE """${chatmlGoTemplate}"""`];
  if (opts.system !== undefined) lines.push(`SYSTEM """${opts.system}"""`);
  for (const s of opts.stop ?? ["<|im_end|>", "<|endoftext|>"])
    lines.push(`PARAMETER stop ${JSON.stringify(s)}`);
  if (opts.temperature !== undefined) lines.push(`PARAMETER temperature ${opts.temperature}`);
  if (opts.contextLength !== undefined) lines.push(`PARAMETER num_ctx ${opts.contextLength}`);
  return `${lines.join("\n")}\n`;
}
