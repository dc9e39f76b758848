/**
 * Normalisation of one extracted answer into LaTeX the parser understands, plus the facts the
 * rewriting removed (a percent sign, a degree sign) that the comparison still needs.
 */

/** Index just past the `}` matching the `{` at `open`, or -1 when unbalanced. */
export function matchBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") {
      i++; // skip escaped char such as \{ or \}
      continue;
    }
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i + 1;
  }
  return -1;
}

export interface Normalized {
  latex: string;
  percent: boolean;
  degrees: boolean;
  /** The answer is text only (`\text{Evelyn}`, a choice letter): compare as words. */
  text: string | null;
}

// Commands written with a doubled backslash by JSON-escaping models ("\\frac", "\\left(").
const COMMANDS =
  "frac|dfrac|tfrac|cfrac|boxed|left|right|sqrt|pi|cdot|times|div|le|ge|leq|geq|lt|gt|neq|ne|in|cup|cap|infty|text|textbf|mathrm|mbox|pm|mp|sin|cos|tan|sec|csc|cot|log|ln|exp|circ|begin|end|approx|alpha|beta|theta|dfrac|binom|mathbf|emptyset|varnothing";
const DOUBLE_BACKSLASH = new RegExp(`\\\\\\\\(?=(?:${COMMANDS})(?![a-zA-Z]))`, "g");

const UNICODE: [RegExp, string][] = [
  [/[−–—]/g, "-"],
  [/×/g, "\\times "],
  [/÷/g, "/"],
  [/·/g, "\\cdot "],
  [/≤/g, "\\le "],
  [/≥/g, "\\ge "],
  [/≠/g, "\\neq "],
  [/π/g, "\\pi "],
  [/∞/g, "\\infty "],
  [/√/g, "\\sqrt"],
  [/²/g, "^2"],
  [/³/g, "^3"],
  [/°/g, "^\\circ"],
  [/∪/g, "\\cup "],
  [/∈/g, "\\in "],
];

// Units dropped after a number ("125 miles", "15\mbox{ cm}^2"); only as trailing words.
const UNIT_WORDS =
  "cm|mm|km|m|meters?|metres?|centimeters?|kilometers?|inch(?:es)?|in|feet|foot|ft|yards?|miles?|mi|mph|kg|g|grams?|kilograms?|pounds?|lbs?|oz|ounces?|liters?|litres?|ml|l|seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?|weeks?|months?|years?|dollars?|cents?|units?|square|sq|cubic|degrees?|deg|radians?|rad|points?|people|students?|times|ways|cups?|pieces?|items?|apples?|books?|boxes"; // a pragmatic list

/** A unit word on its own ("meters", "cm"), for telling "1/3 meters" from prose. */
export const UNIT_WORD = new RegExp(`^(?:${UNIT_WORDS})$`, "i");

const TRAILING_UNITS = new RegExp(`(?<=[\\d}\\s)])\\s*(?:(?:${UNIT_WORDS})(?:\\^\\{?\\d\\}?)?\\s*)+$`, "i");

const MATH_WORDS = /^(?:sin|cos|tan|sec|csc|cot|log|ln|exp|pi|infty)$/i;

/** Text inside \text{…}-like commands: units after a number are dropped, a lone word is kept. */
const TEXT_CMD =
  /\\(?:text(?:bf|it|rm|normal|sf|tt)?|mbox|mathrm|mathit|mathbf|operatorname)\s*\{([^{}]*)\}/g;

export function normalizeAnswer(raw: string, inMath: boolean): Normalized {
  let s = raw.replace(DOUBLE_BACKSLASH, "\\");
  for (const [re, to] of UNICODE) s = s.replace(re, to);
  s = s.replace(/\\(?:boxed|fbox)\s*\{([\s\S]*)\}/, "$1"); // a box left inside a span
  s = s.replace(/\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits)\b/g, "");
  s = s.replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|biggl|biggr)(?![a-zA-Z])\s*/g, "");
  s = s.replace(/\\[dtc]frac/g, "\\frac").replace(/\\dbinom|\\tbinom/g, "\\binom");
  // Thousands separators LaTeX-style: 14{,}916, 11,\! 111, 14 {, }916.
  s = s.replace(/(\d)\s*\{\s*,\s*\}\s*(?=\d{3})/g, "$1").replace(/(\d),\\!\s*(?=\d{3})/g, "$1");
  s = s.replace(/(?<!\\)\\[!,;:> ]|~|\\q?quad/g, " ");
  s = s.replace(/\\\$|\$/g, " ");
  s = s.replace(/;/g, ","); // "(0;-2;6)", "-12;-11;-10": semicolons separate items
  s = s.replace(/\\(?:dots|ldots|cdots)(?![a-zA-Z])/g, "");
  s = s.replace(/\\mathbb\{R\}/g, "(-\\infty,\\infty)");
  // Percent: \%, %, "percent", "pct", "percentage" at the end.
  let percent = false;
  s = s.replace(/\s*(?:\\%|%|\\text\{\s*(?:%|percent)\s*\}|\bpercent(?:age)?\b|\bpct\b)\s*$/i, () => {
    percent = true;
    return "";
  });
  // Degrees: ^\circ, ^{\circ}, \degree, "degrees" at the end.
  // Inside a function (\sin 30^\circ) the parser converts degrees to radians itself.
  let degrees = false;
  if (!/\\(?:sin|cos|tan|sec|csc|cot)/.test(s))
    s = s.replace(
      /\s*(?:\^\s*\{?\s*\\circ\s*\}?|\\degree|\\circ|\^\s*\{\s*\\text\{\s*o\s*\}\s*\})\s*$/,
      () => {
        degrees = true;
        return "";
      },
    );
  s = s
    .trim()
    .replace(/[.,;:]+$/, "")
    .trim();

  // Words: \text{ and } / "and" / "or" between values make a list.
  s = s.replace(/\\text\{\s*(?:and|or)\s*\}|(?<=[\d}\s)])\b(?:and|or)\b(?=\s*[-\d\\({[])/g, ",");
  // Choice letters: (B), B), \text{(C)}, \textbf{C}.
  const unwrapped = s.replace(TEXT_CMD, "$1").trim();
  const choice = /^\(?\s*([A-E])\s*\)(?:\s|$)|^\(?([A-E])\)?$/.exec(unwrapped);
  if (choice && !/^[A-E]$/.test(s.trim()) && unwrapped.length <= 3)
    return { latex: choice[1] ?? choice[2], percent, degrees, text: choice[1] ?? choice[2] };
  // Words ("Yes", "Evelyn", "blue car", "forty-two") are a text answer, not a product of variables.
  if (/^\p{L}[\p{L}\s'’-]*$/u.test(s) && /\p{L}{3}/u.test(s) && !MATH_WORDS.test(s))
    return { latex: s, percent, degrees, text: s };
  const onlyText =
    /^(?:\s*\\(?:text(?:bf|it|rm|normal|sf|tt)?|mbox|mathrm|mathbf|mathit)\s*\{[^{}]*\}\s*)+$/.test(s);
  if (onlyText) {
    const words = unwrapped.replace(/\s+/g, " ").trim();
    const number = /^\(?\s*(-?[\d.,\s/]+?)\s*\)?$/.exec(words);
    if (number)
      s = number[1]; // \text{13}, \textbf{(113)}: a number in text
    else return { latex: s, percent, degrees, text: words };
  } else {
    // Text next to math is a unit or a label: drop it (and a unit power such as ^2).
    s = s.replace(new RegExp(`${TEXT_CMD.source}(?:\\s*\\^\\s*\\{?\\d\\}?)?`, "g"), " ");
  }
  // Units go only when what is left has no variables: "15 cm^2" → 15, but "2\pi r h" keeps its h.
  const withoutUnits = s.replace(TRAILING_UNITS, "").trim();
  if (withoutUnits !== s && withoutUnits !== "" && !/[a-zA-Z]/.test(withoutUnits.replace(/\\[a-zA-Z]+/g, "")))
    s = withoutUnits;
  // Braces used as grouping around the whole answer: {1,3}.
  while (s.startsWith("{") && matchBrace(s, 0) === s.length) s = s.slice(1, -1).trim();
  // "x \in S" states the set S.
  s = s.replace(/^[a-zA-Z]\s*\\in\s*/, "");
  // Mixed numbers: 2\frac{1}{2} → (2+\frac{1}{2}); in prose "2 1/2".
  s = s.replace(/(^|[^\d.^_}])(\d+)\s*\\frac\s*\{(\d+)\}\s*\{(\d+)\}/g, "$1($2+\\frac{$3}{$4})");
  s = s.replace(/^(-?)(\d+)\s+(\d+)\s*\/\s*(\d+)$/, "$1($2+$3/$4)");
  // Thousands with spaces or commas when the whole answer is one number: 1 000, 7,425,000.
  if (/^-?[1-9]\d{0,2}(?:[ ,]\d{3})+(?:\.\d+)?$/.test(s) && !(inMath && /, /.test(s)))
    s = s.replace(/[ ,]/g, "");
  // Decimal comma in prose: 1,22 / 0,111 / 1000,99 (in math a comma separates list items).
  else if (!inMath && /^-?\d+,\d+$/.test(s)) s = s.replace(",", ".");
  s = s.replace(/\s+/g, " ").trim();
  return { latex: s, percent, degrees, text: null };
}
