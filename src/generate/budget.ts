import { teacherNameOf } from "../teachers/spec.ts";
import type { Price } from "./options.ts";

export interface Spent {
  promptTokens: number;
  completionTokens: number;
  /** US dollars by the price table; absent without a price for the model. */
  cost?: number;
}

/**
 * A spending limit on prompt + completion tokens and/or dollars, counted over everything in the run
 * folder (earlier runs included, read from disk), so a run stopped by its budget resumes under a
 * raised one. A request is issued only if what is spent, plus the expected cost of every request in
 * flight and of this one, stays within the limit; the expected cost is the mean of the requests so
 * far (the completion limit before the first). So the run ends within about one request of the limit.
 */
export class Budget {
  private requests = 0;
  readonly spent: Spent;

  constructor(
    readonly limits: { maxTokensTotal?: number; maxCost?: number },
    readonly price: Price | undefined,
    private readonly firstGuessTokens: number,
    spent: { promptTokens: number; completionTokens: number; requests: number },
  ) {
    this.spent = { promptTokens: spent.promptTokens, completionTokens: spent.completionTokens };
    if (price) this.spent.cost = costOf(price, spent.promptTokens, spent.completionTokens);
    this.requests = spent.requests;
  }

  get limited(): boolean {
    return this.limits.maxTokensTotal !== undefined || this.limits.maxCost !== undefined;
  }

  add(usage: { promptTokens: number; completionTokens: number }): void {
    this.requests++;
    this.spent.promptTokens += usage.promptTokens;
    this.spent.completionTokens += usage.completionTokens;
    if (this.price)
      this.spent.cost = costOf(this.price, this.spent.promptTokens, this.spent.completionTokens);
  }

  /** Whether one more request may start while `inFlight` others are outstanding. */
  allows(inFlight: number): boolean {
    const { maxTokensTotal, maxCost } = this.limits;
    const n = this.requests;
    const tokens = this.spent.promptTokens + this.spent.completionTokens;
    const meanTokens = n > 0 ? tokens / n : this.firstGuessTokens;
    if (maxTokensTotal !== undefined && tokens + (inFlight + 1) * meanTokens > maxTokensTotal) return false;
    if (maxCost !== undefined && this.price) {
      const cost = this.spent.cost ?? 0;
      const meanCost = n > 0 ? cost / n : costOf(this.price, 0, this.firstGuessTokens);
      if (cost + (inFlight + 1) * meanCost > maxCost) return false;
    }
    return true;
  }
}

export function costOf(price: Price, promptTokens: number, completionTokens: number): number {
  return (price.input * promptTokens + price.output * completionTokens) / 1e6;
}

/** The price of a teacher: by its model name (`deepseek-reasoner`), else by its spec without URLs. */
export function priceFor(prices: Record<string, Price> | undefined, teacherModel: string): Price | undefined {
  if (!prices) return undefined;
  const name = teacherNameOf(teacherModel);
  return prices[name] ?? prices[teacherModel];
}
