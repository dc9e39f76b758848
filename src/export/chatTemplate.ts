/**
 * The chat template TRL trains with. TRL's `assistant_only_loss=True` takes the loss mask from
 * transformers' `return_assistant_tokens_mask`, which needs `{% generation %}` … `{% endgeneration %}`
 * around what the assistant writes. The student's own template rarely has them, so the export writes a
 * training copy that renders the same text with the markers added — but only where the copy provably
 * renders like the original; otherwise sft.py tokenizes the rows as distill train does (see sft.py).
 */
import { Template } from "@huggingface/jinja";

const generationTag = /{%-?\s*(end)?generation\s*-?%}/g;

export function hasGenerationMarkers(template: string): boolean {
  return /{%-?\s*generation\s*-?%}/.test(template);
}

/**
 * ChatML (the template of distill train's new students and of Qwen's base checkpoints) with the
 * assistant's content and its `<|im_end|>` marked: the same tokens distill train puts loss on (the
 * newline after `<|im_end|>` is not trained there either).
 */
export const chatmlTrainingTemplate =
  "{%- for message in messages %}" +
  "{%- if message.role == 'assistant' %}" +
  "{{- '<|im_start|>assistant\\n' }}{% generation %}{{- message.content + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}" +
  "{%- else %}" +
  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}" +
  "{%- endif %}" +
  "{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

type Message = { role: string; content: string };

/** Conversations a template is probed with: system or not, one or two turns, markers in the content. */
const probes: Message[][] = [
  [
    { role: "user", content: "Solve for x: 2x + 3 = 7" },
    { role: "assistant", content: "<think>\n2x = 4, x = 2\n</think>\n<answer>x = 2</answer>" },
  ],
  [
    { role: "system", content: "You are a careful solver." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello!" },
    { role: "user", content: "What is 3 · 4?\n\nShow steps." },
    { role: "assistant", content: "<think>3 · 4 = 12</think><answer>12</answer>" },
  ],
];

/** transformers' render variables (bos/eos as empty strings: ChatML never prints them). */
export function renderTemplate(
  template: string,
  messages: Message[],
  addGenerationPrompt: boolean,
  extra: Record<string, unknown> = {},
): string {
  return new Template(template).render({
    messages,
    add_generation_prompt: addGenerationPrompt,
    bos_token: "",
    eos_token: "",
    pad_token: "",
    unk_token: "",
    ...extra,
  });
}

/** Whether `template` renders every probe conversation exactly as `reference` does. */
export function rendersAlike(template: string, reference: string): boolean {
  try {
    for (const messages of probes) {
      for (const turns of [messages, messages.slice(0, -1)]) {
        for (const gen of [false, true]) {
          if (renderTemplate(template, turns, gen) !== renderTemplate(reference, turns, gen)) return false;
        }
      }
    }
    return true;
  } catch {
    return false; // a template @huggingface/jinja cannot run is not one we can vouch for
  }
}

/**
 * The training template for a student's chat template: the template itself when it already marks the
 * assistant's output, the marked ChatML when the student's renders like ChatML, else null (no marked
 * copy can be vouched for; sft.py then tokenizes the rows as distill train does).
 */
export function trainingChatTemplate(template: string): string | null {
  if (hasGenerationMarkers(template)) return template;
  if (rendersAlike(template, chatmlTrainingTemplate)) return chatmlTrainingTemplate;
  return null;
}

/**
 * The text inside `{% generation %}` blocks when `messages` are rendered: what transformers'
 * `return_assistant_tokens_mask` marks as the assistant's (and so what TRL puts loss on).
 */
export function generationSpans(template: string, messages: Message[]): string[] {
  const open = "\u0001";
  const close = "\u0002";
  const marked = template.replace(generationTag, (_, end) => (end ? "{{ __close }}" : "{{ __open }}"));
  const text = renderTemplate(marked, messages, false, { __open: open, __close: close });
  const spans: string[] = [];
  for (const m of text.matchAll(/\u0001([^\u0002]*)\u0002/g)) spans.push(m[1]);
  return spans;
}
