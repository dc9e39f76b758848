import { createTeacherPool, type EndpointLimits, type TeacherPool } from "../teachers/pool.ts";
import { createTeacher, type TeacherOptions, teacherFactories } from "../teachers/registry.ts";
import { openaiSpecFor, parseTeacherSpec, teacherModelOf } from "../teachers/spec.ts";
import type { Teacher } from "../teachers/types.ts";
import { UserError } from "../util/errors.ts";
import type { EndpointOption } from "./options.ts";

export interface EndpointSettings {
  endpoints?: EndpointOption[];
  endpointConcurrency?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

/**
 * The endpoints of a teacher spec: `openai:m@<url1>,<url2>` lists several, and a recipe's `endpoints:`
 * adds more (or sets limits for listed ones). Each becomes its own single-URL spec with its limits.
 */
export function endpointsOf(
  spec: string,
  settings: EndpointSettings,
  runConcurrency: number | undefined,
): { spec: string; url?: string; limits: EndpointLimits }[] {
  const limitsOf = (url?: string): EndpointLimits => {
    const own = settings.endpoints?.find((e) => e.url === url);
    return {
      concurrency: own?.concurrency ?? settings.endpointConcurrency ?? runConcurrency ?? 8,
      requestsPerMinute: own?.requestsPerMinute ?? settings.requestsPerMinute,
      tokensPerMinute: own?.tokensPerMinute ?? settings.tokensPerMinute,
    };
  };
  const parsed = parseTeacherSpec(spec, Object.keys(teacherFactories));
  // only teachers reached by URL have endpoints (`openai:<model>` may take all of its URLs from a recipe)
  if (parsed.kind !== "openai") {
    if (settings.endpoints?.length) throw new UserError(`teacher "${spec}" takes no endpoints`);
    return [{ spec, limits: limitsOf() }];
  }
  const urls = [...parsed.urls];
  for (const e of settings.endpoints ?? []) if (!urls.includes(e.url)) urls.push(e.url);
  if (urls.length === 0) return [{ spec, limits: limitsOf() }];
  return urls.map((url) => ({ spec: openaiSpecFor(parsed.model, url), url, limits: limitsOf(url) }));
}

/**
 * The run's teacher: the plain adapter for one endpoint given no endpoint settings at all (nothing
 * between the generator and the client: the fast path for a local server), a pool otherwise — also for
 * one endpoint given any limit (`--endpoint-concurrency`, rates, `endpoints:`), which brings adaptive
 * concurrency and pausing to a single provider too.
 */
export function createRunTeacher(
  spec: string,
  settings: EndpointSettings,
  runConcurrency: number,
  options: TeacherOptions,
): Teacher | TeacherPool {
  const endpoints = endpointsOf(spec, settings, runConcurrency);
  const [only] = endpoints;
  const plain =
    endpoints.length === 1 &&
    !settings.endpointConcurrency &&
    !settings.endpoints?.length &&
    !only.limits.requestsPerMinute &&
    !only.limits.tokensPerMinute;
  if (plain) return createTeacher(only.spec, options);
  return createTeacherPool(
    endpoints.map((e) => ({ teacher: createTeacher(e.spec, options), limits: e.limits })),
    { id: only.url ? `${teacherModelOf(spec)}@${endpoints.map((e) => e.url).join(",")}` : spec },
  );
}

/** Candidates in flight for the whole run: as set, else the endpoints' concurrencies added up, else 8. */
export function runConcurrencyOf(spec: string, settings: EndpointSettings, concurrency?: number): number {
  if (concurrency !== undefined) return concurrency;
  const endpoints = endpointsOf(spec, settings, undefined);
  if (endpoints.length === 1 && !settings.endpointConcurrency && !settings.endpoints?.[0]?.concurrency)
    return 8;
  return endpoints.reduce((sum, e) => sum + e.limits.concurrency, 0);
}
