// Character counters, so the app can show one before the server refuses. The limits come from
// the server (its `about` answer, see about.ts); the server stays the judge, and the app shows
// its refusal next to the field.

/** From what share of the limit a counter is shown. */
const SHOW_FROM = 0.8;

export interface Count {
  length: number;
  max: number;
  /** Near or over the limit: worth showing. */
  show: boolean;
  over: boolean;
  /** `185 of 200 characters`, or how far over. */
  text: string;
}

/** Characters as the server counts them (Unicode scalar values, not UTF-16 units). */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

export function countChars(text: string, max: number): Count {
  const length = charCount(text);
  const over = length > max;
  const fmt = (n: number) => n.toLocaleString('en-US');
  return {
    length,
    max,
    over,
    show: length >= max * SHOW_FROM,
    text: over ? `${fmt(length - max)} characters over the limit of ${fmt(max)}` : `${fmt(length)} of ${fmt(max)} characters`,
  };
}
