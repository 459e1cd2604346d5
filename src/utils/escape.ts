/**
 * @module Text that came from outside (an event, a script's output, a service's answer) made safe to print on a
 * terminal: control characters (newlines and ESC included), line separators and bidi overrides could forge lines,
 * drive the terminal or reorder text, so each becomes a visible `\uXXXX`.
 */

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same, but keeping tab and newline: for multi-line text printed as lines of its own. */
const UNSAFE_IN_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` as one line, every control character escaped. */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE, visible);
}

/** `text` with its tabs and newlines kept, every other control character escaped. */
export function escapeControlInLines(text: string): string {
  return text.replace(UNSAFE_IN_LINES, visible);
}

function visible(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}
