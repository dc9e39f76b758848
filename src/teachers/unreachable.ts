/**
 * System error codes that mean a server could not be reached at all — nothing listens there, the name
 * does not resolve, no route, the connect timed out — as opposed to a server that answered badly
 * (an HTTP status, a torn body), which is reachable and may recover.
 */
const unreachableCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ETIMEDOUT",
]);

/**
 * The code of a failure to reach a server (`ECONNREFUSED`…), looked up along the error's causes
 * (TeacherError → the client's APIConnectionError → Node's socket error); undefined for any other error.
 */
export function unreachableCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === "object" && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && unreachableCodes.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
