/**
 * Values that reach a message or a terminal: an image's environment, a command-line token,
 * an NVML string, a file's contents. They are shown escaped (no control character, no escape
 * sequence, no line break can pass for output of ours) and short (a prefix and the size), so
 * that a hostile value can neither forge log lines nor blow up an error.
 */

/** Longest prefix of a value shown in a message, in characters. */
export const QUOTE_MAX_CHARS = 96;
/** Most items of a list (unknown words...) named in one message. */
export const QUOTE_MAX_ITEMS = 8;

// C0 controls, DEL, C1 controls (0x9b is a one-byte CSI on some terminals), line and paragraph
// separators, bidirectional overrides and isolates, and lone surrogates.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Text with every control character and escape sequence written out (`\n`, `\e`, `\x9b`, `\u202e`); nothing else changes. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/**
 * JSON text with the characters JSON.stringify leaves raw but a terminal may act on (DEL, C1
 * controls, line separators, bidi overrides) written as \u escapes: still the same JSON.
 */
export function terminalSafeJson(json: string): string {
  return json.replace(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Text escaped and cut to `max` characters, saying how long it was. */
export function shorten(text: string, max = QUOTE_MAX_CHARS): string {
  if (text.length <= max) return escapeControls(text);
  return `${escapeControls(text.slice(0, max))}… (${Buffer.byteLength(text, 'utf8')} bytes)`;
}

/** A value in a message: double-quoted, escaped, and cut to a prefix when long. */
export function quote(value: string, max = QUOTE_MAX_CHARS): string {
  const escaped = (s: string): string => escapeControls(s.replace(/\\/g, '\\\\').replace(/"/g, '\\"'));
  if (value.length <= max) return `"${escaped(value)}"`;
  return `"${escaped(value.slice(0, max))}"… (${Buffer.byteLength(value, 'utf8')} bytes)`;
}

/** Items of a list, each quoted, at most `maxItems` of them, then how many more there were. */
export function quoteList(items: readonly string[], maxItems = QUOTE_MAX_ITEMS): string {
  const shown = items.slice(0, maxItems).map((item) => quote(item));
  if (items.length > maxItems) shown.push(`and ${items.length - maxItems} more`);
  return shown.join(', ');
}
