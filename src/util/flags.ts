import { InvalidArgumentError } from "commander";

/**
 * A commander parser for an integer flag within [min, max], for commands whose flags are not read
 * through a stage's schema: anything else is a usage error (one line, exit 2), never a NaN passed on.
 */
export function integerFlag(min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`an integer from ${min} to ${max}`);
    return n;
  };
}
