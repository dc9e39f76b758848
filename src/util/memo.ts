/**
 * A bounded memo for pure functions of a string: candidates of one prompt share the prompt and often
 * the answer, and templated traces share most sentences, so the checks see the same inputs again and
 * again. The whole table is dropped when full, which keeps memory bounded without LRU bookkeeping.
 */
export function memoize<T>(fn: (key: string) => T, capacity = 4096): (key: string) => T {
  const table = new Map<string, T>();
  return (key: string) => {
    const hit = table.get(key);
    if (hit !== undefined || table.has(key)) return hit as T;
    const value = fn(key);
    if (table.size >= capacity) table.clear();
    table.set(key, value);
    return value;
  };
}
