import { UserError } from "./errors.ts";

/**
 * The name and settings of a spec with a query, e.g. `builtin:equations?count=5&seed=2` after its
 * kind: `{ name: "equations", params }`. A key outside `known` is refused with the list of known ones,
 * so a typo (`cnt=5`) never falls back silently to a default.
 */
export function parseSpecQuery(
  spec: string,
  rest: string,
  known: readonly string[],
): { name: string; params: URLSearchParams } {
  const q = rest.indexOf("?");
  const name = q < 0 ? rest : rest.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : rest.slice(q + 1));
  for (const key of new Set(params.keys())) {
    if (!known.includes(key)) {
      const list = known.length ? `: ${known.join(", ")}` : "; it takes none";
      throw new UserError(`unknown setting "${key}" in "${spec}" (known settings${list})`);
    }
    if (params.getAll(key).length > 1) throw new UserError(`"${key}" is given twice in "${spec}"`);
  }
  return { name, params };
}
