import { z } from "zod";
import { markersOptionSchema } from "../template/markers.ts";

/** Every option of `distill mix`, shared by flags and YAML recipes (`mix:` section). */
export const mixOptionsSchema = z
  .object({
    source: z
      .array(z.string().min(1), { error: "is required: one or more name=path[:share|:count]" })
      .min(1, "needs at least one source: name=path[:share|:count]"),
    out: z.string({ error: "is required: the output folder" }).min(1),
    total: z.coerce.number().int().min(1).optional(),
    seed: z.coerce.number().int().min(0).default(0),
    validation: z.coerce.number().min(0).lt(1).default(0.05),
    markers: markersOptionSchema,
    parquet: z.coerce.boolean().default(true),
    quiet: z.coerce.boolean().default(false),
  })
  .strict();

export type MixOptions = z.input<typeof mixOptionsSchema>;
export type ResolvedMixOptions = z.output<typeof mixOptionsSchema>;

/** One `--source`: `reasoning=runs/eq/kept.jsonl:0.8` (a share), `general=gen.jsonl:20000` (a count). */
export interface SourceSpec {
  name: string;
  file: string;
  /** Fraction of the total (`:0.8`, `:80%`); with neither share nor count, the whole file. */
  share?: number;
  count?: number;
}

/**
 * Parse `name=path[:share|:count]`. A suffix with a decimal point or `%` is a share of `--total`; a plain
 * integer is a row count. Paths may hold colons: only a numeric last segment is read as the amount.
 */
export function parseSourceSpec(spec: string): SourceSpec {
  const eq = spec.indexOf("=");
  if (eq <= 0 || eq === spec.length - 1)
    throw new Error(`"${spec}" is not name=path[:share|:count] (e.g. reasoning=runs/eq/kept.jsonl:0.8)`);
  const name = spec.slice(0, eq);
  const rest = spec.slice(eq + 1);
  const colon = rest.lastIndexOf(":");
  const amount = colon > 0 ? rest.slice(colon + 1) : "";
  if (colon > 0 && /^\d+(\.\d*)?%$|^\d*\.\d+$|^\d+\.$/.test(amount)) {
    const share = amount.endsWith("%") ? Number(amount.slice(0, -1)) / 100 : Number(amount);
    if (!(share > 0 && share <= 1)) throw new Error(`share ${amount} of source "${name}" must be in (0, 1]`);
    return { name, file: rest.slice(0, colon), share };
  }
  if (colon > 0 && /^\d+$/.test(amount)) {
    const count = Number(amount);
    if (count < 1) throw new Error(`count of source "${name}" must be at least 1`);
    return { name, file: rest.slice(0, colon), count };
  }
  return { name, file: rest };
}
