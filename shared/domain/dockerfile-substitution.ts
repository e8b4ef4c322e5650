/**
 * Variable substitution in Dockerfile words, as BuildKit's shell lexer (`frontend/dockerfile/shell/lex.go`)
 * does it: `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?word}`,
 * prefix and suffix removal (`${VAR#pattern}`, `${VAR##pattern}`, `${VAR%pattern}`, `${VAR%%pattern}`) and
 * replacement (`${VAR/pattern/replacement}`, `${VAR//pattern/replacement}`), with quote and escape removal.
 *
 * What cannot be known from the text (a variable without a value, an operator BuildKit refuses) is reported
 * as unresolved, never guessed. Every character of a result keeps the source offset it was read from.
 */
import { createTracedBuilder, sliceTraced, untraced, type OriginRun, type Traced, type TracedBuilder } from "./traced-text.js";

export type EscapeChar = "\\" | "`";

/** What a variable is bound to: a value, declared without one, or unknowable here (build-time, base image ENV). */
export type Binding =
  | { readonly state: "set"; readonly value: string; readonly runs: readonly OriginRun[] }
  | { readonly state: "unset" }
  | { readonly state: "unknown" };

export interface Scope {
  lookup(name: string): Binding;
}

export const UNSET: Binding = { state: "unset" };
export const UNKNOWN: Binding = { state: "unknown" };

/**
 * Expands the variables of `source` and removes quotes and escapes, like BuildKit's word processing.
 * Returns null when a variable has no value or an operator cannot be evaluated, unless `keepUnresolved`,
 * which leaves such a reference as written.
 */
export function expandWord(source: string, scope: Scope, escape: EscapeChar, keepUnresolved = false): string | null {
  return expandTraced(untraced(source), scope, escape, keepUnresolved)?.text ?? null;
}

/** {@link expandWord} that also tells, for each character of the result, where in the source it was read. */
export function expandTraced(source: Traced, scope: Scope, escape: EscapeChar, keepUnresolved = false): Traced | null {
  if (isLiteral(source.text, escape)) return source;
  const expansion: Expansion = { source: source.text, runs: source.runs, scope, escape, keepUnresolved, ok: true };
  const { text, runs } = expandUntil(expansion, 0, null, false);
  return expansion.ok ? { text, runs } : null;
}

/** Whether a word has nothing to expand or remove (no `$`, quote or escape), so that it stands as written. */
function isLiteral(text: string, escape: EscapeChar): boolean {
  const escapeCode = escape.charCodeAt(0);
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code === DOLLAR || code === SINGLE_QUOTE || code === DOUBLE_QUOTE || code === escapeCode) return false;
  }
  return true;
}

const DOLLAR = 36;
const SINGLE_QUOTE = 39;
const DOUBLE_QUOTE = 34;

/** The state of one expansion: `ok` turns false at the first reference that cannot be resolved. */
interface Expansion {
  readonly source: string;
  /** Where the characters of `source` were read in the Dockerfile. */
  readonly runs: readonly OriginRun[];
  readonly scope: Scope;
  readonly escape: EscapeChar;
  readonly keepUnresolved: boolean;
  ok: boolean;
}

type Expanded = Traced & { readonly end: number };

/**
 * Expands from `position` to the end, or to the unquoted `stop` character (`}` closing a `${…}`, `/`
 * ending a replacement's pattern); `end` is the index of that character. With `rawEscapes` the escape
 * character is kept before the character it escapes, as BuildKit keeps it in patterns and replacements.
 */
function expandUntil(expansion: Expansion, position: number, stop: "}" | "/" | null, rawEscapes: boolean): Expanded {
  const { source, escape } = expansion;
  const expanded = createTracedBuilder({ text: source, runs: expansion.runs });
  let inDouble = false;
  while (position < source.length) {
    const char = source[position] ?? "";
    if (!inDouble && char === stop) return { ...expanded.build(), end: position };
    if (char === escape) {
      position = takeEscaped(expanded, source, position, { escape, inDouble, rawEscapes });
    } else if (char === "'" && !inDouble) {
      const close = source.indexOf("'", position + 1);
      if (close < 0) {
        expansion.ok = false;
        return { ...expanded.build(), end: source.length };
      }
      expanded.take(position + 1, close);
      position = close + 1;
    } else if (char === '"') {
      inDouble = !inDouble;
      position += 1;
    } else if (char === "$") {
      const reference = expandReference(expansion, position);
      expanded.append(reference);
      position = reference.end;
    } else {
      expanded.take(position, position + 1);
      position += 1;
    }
  }
  if (inDouble || stop !== null) expansion.ok = false;
  return { ...expanded.build(), end: position };
}

/** Takes the escape at `position` and what it escapes; returns the index after them. */
function takeEscaped(
  expanded: TracedBuilder,
  source: string,
  position: number,
  { escape, inDouble, rawEscapes }: { escape: EscapeChar; inDouble: boolean; rawEscapes: boolean },
): number {
  const next = source[position + 1];
  // An escape that ends the word escapes nothing: BuildKit's lexer drops it (a raw one ends inside `${…}`, refused anyway).
  if (next === undefined) return position + 1;
  if (inDouble && next !== "$" && next !== '"' && next !== escape) {
    // In double quotes an escape of an ordinary character stays; BuildKit writes it twice with raw escapes.
    expanded.take(position, position + 1);
    if (rawEscapes) expanded.take(position, position + 1);
    return position + 1;
  }
  expanded.take(rawEscapes ? position : position + 1, position + 2);
  return position + 2;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Expands the `$…` reference at `start`; returns its text and the index just after it. */
function expandReference(expansion: Expansion, start: number): Expanded {
  const { source, scope } = expansion;
  if (source[start + 1] !== "{") {
    const name = NAME.exec(source.slice(start + 1))?.[0];
    if (name === undefined) {
      // `$1`, `$@` and friends are shell parameters we do not know; a lone `$` is literal.
      return /^[0-9@*#?$!-]/.test(source[start + 1] ?? "") ? unresolved(expansion, start, start + 2) : verbatim(expansion, start, start + 1);
    }
    return valueOf(expansion, start, scope.lookup(name), start + 1 + name.length);
  }

  const name = NAME.exec(source.slice(start + 2))?.[0];
  if (name === undefined) return unresolved(expansion, start, findClosingBrace(source, start));
  const position = start + 2 + name.length;
  if (source[position] === "}") return valueOf(expansion, start, scope.lookup(name), position + 1);
  const colon = source[position] === ":";
  const operator = source[colon ? position + 1 : position];
  const wordStart = position + (colon ? 2 : 1);
  const binding = scope.lookup(name);
  const use = { expansion, start, binding, wordStart };
  if (operator === "-" || operator === "+" || operator === "?") return expandDefault(use, operator, colon);
  if (operator === "#" || operator === "%") return expandTrim(use, operator);
  if (operator === "/" && !colon) return expandReplace(use);
  return unresolved(expansion, start, findClosingBrace(source, start));
}

/** A `${NAME<operator>…}` being expanded: its variable's binding and where the text after the operator starts. */
interface OperatorUse {
  readonly expansion: Expansion;
  readonly start: number;
  readonly binding: Binding;
  readonly wordStart: number;
}

function verbatim(expansion: Expansion, start: number, end: number): Expanded {
  return { ...sliceTraced({ text: expansion.source, runs: expansion.runs }, start, end), end };
}

function unresolved(expansion: Expansion, start: number, end: number): Expanded {
  if (!expansion.keepUnresolved) expansion.ok = false;
  return verbatim(expansion, start, end);
}

function valueOf(expansion: Expansion, start: number, binding: Binding, end: number): Expanded {
  return binding.state === "set" ? { text: binding.value, runs: binding.runs, end } : unresolved(expansion, start, end);
}

/** Expands a word of a `${…}` in isolation, so an unresolved variable in it only matters if the word is used. */
function expandOperand(use: OperatorUse, from: number, stop: "}" | "/", rawEscapes: boolean): { word: Expanded; ok: boolean } {
  const inner: Expansion = { ...use.expansion, ok: true };
  const word = expandUntil(inner, from, stop, rawEscapes);
  return { word, ok: inner.ok && use.expansion.source[word.end] === stop };
}

/** `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`, `${NAME:?word}`, `${NAME?word}`. */
function expandDefault(use: OperatorUse, operator: "-" | "+" | "?", colon: boolean): Expanded {
  const { expansion, start, binding } = use;
  const { word, ok } = expandOperand(use, use.wordStart, "}", false);
  if (expansion.source[word.end] !== "}") return unresolved(expansion, start, expansion.source.length);
  const end = word.end + 1;
  if (binding.state === "unknown") return unresolved(expansion, start, end);
  const useWord = (): Expanded => (ok ? { text: word.text, runs: word.runs, end } : unresolved(expansion, start, end));
  const present = binding.state === "set" && (!colon || binding.value !== "");
  if (operator === "-") return present ? valueOf(expansion, start, binding, end) : useWord();
  if (operator === "+") return present ? useWord() : { text: "", runs: [], end };
  return present ? valueOf(expansion, start, binding, end) : unresolved(expansion, start, end);
}

/** `${NAME#pattern}` / `${NAME##pattern}` (prefix) and `${NAME%pattern}` / `${NAME%%pattern}` (suffix). */
function expandTrim(use: OperatorUse, operator: "#" | "%"): Expanded {
  const { expansion, start, binding } = use;
  const { word, ok } = expandOperand(use, use.wordStart, "}", true);
  const end = Math.min(word.end + 1, expansion.source.length);
  if (!ok || binding.state !== "set") return unresolved(expansion, start, end);
  const greedy = word.text.startsWith(operator);
  const pattern = greedy ? word.text.slice(1) : word.text;
  const value: Traced = { text: binding.value, runs: binding.runs };
  const kept = operator === "#" ? trimPrefix(value.text, pattern, greedy) : trimSuffix(value.text, pattern, greedy);
  return kept === null ? unresolved(expansion, start, end) : { ...sliceTraced(value, kept.start, kept.end), end };
}

/** `${NAME/pattern/replacement}` (first match) and `${NAME//pattern/replacement}` (every match). */
function expandReplace(use: OperatorUse): Expanded {
  const { expansion, start, binding } = use;
  const all = expansion.source[use.wordStart] === "/";
  const pattern = expandOperand(use, use.wordStart + (all ? 1 : 0), "/", true);
  if (!pattern.ok) return unresolved(expansion, start, findClosingBrace(expansion.source, start));
  const replacement = expandOperand(use, pattern.word.end + 1, "}", true);
  const end = Math.min(replacement.word.end + 1, expansion.source.length);
  // Go expands `$0`, `$name` and `${1}` in the replacement of a replace-all: never guessed here.
  if (!replacement.ok || binding.state !== "set" || (all && replacement.word.text.includes("$"))) return unresolved(expansion, start, end);
  const regex = shellPatternToRegex(pattern.word.text, { greedy: true, anchored: false });
  if (regex === null) return unresolved(expansion, start, end);
  const value: Traced = { text: binding.value, runs: binding.runs };
  return { ...replaceMatches(value, regex, replacement.word, all), end };
}

function findClosingBrace(source: string, open: number): number {
  let depth = 0;
  for (let position = open + 1; position < source.length; position += 1) {
    if (source[position] === "{") depth += 1;
    else if (source[position] === "}") {
      depth -= 1;
      if (depth === 0) return position + 1;
    }
  }
  return source.length;
}

// ---------------------------------------------------------------------------------------------------
// BuildKit's shell patterns: `*` any string (shortest or longest), `?` one character, `\*` `\?` `\\`
// literal; every other character stands for itself (no bracket expressions).

/**
 * The regular expression BuildKit's `convertShellPatternToRegex` builds for a pattern, with Go's `.`
 * (any character but a newline); null for a pattern BuildKit refuses (an escape of another character).
 */
function shellPatternToRegex(pattern: string, { greedy, anchored }: { greedy: boolean; anchored: boolean }): RegExp | null {
  const chars = Array.from(pattern);
  let regex = anchored ? "^" : "";
  for (let index = 0; index < chars.length; index += 1) {
    const char = chars[index] ?? "";
    const next = chars[index + 1];
    if (char === "*") regex += greedy ? "[^\\n]*" : "[^\\n]*?";
    else if (char === "?") regex += "[^\\n]";
    else if (char === "\\") {
      // `\}` and `\/` are escapes of `${…}` itself, not of the pattern.
      if (next === "}" || next === "/") continue;
      if (next !== "*" && next !== "?" && next !== "\\") return null;
      regex += `\\${next}`;
      index += 1;
    } else regex += /[[\]{}.+()|^$]/.test(char) ? `\\${char}` : char;
  }
  return new RegExp(regex, "gu");
}

/** The part `[start, end)` of `value` left after removing the shortest (or, `greedy`, longest) prefix matching `pattern`. */
function trimPrefix(value: string, pattern: string, greedy: boolean): { start: number; end: number } | null {
  const regex = shellPatternToRegex(pattern, { greedy, anchored: true });
  if (regex === null) return null;
  const match = regex.exec(value);
  return { start: match?.[0].length ?? 0, end: value.length };
}

/** Like BuildKit: a suffix is a prefix of the reversed value, matched by the reversed pattern. */
function trimSuffix(value: string, pattern: string, greedy: boolean): { start: number; end: number } | null {
  const reversed = trimPrefix(Array.from(value).reverse().join(""), reversePattern(pattern), greedy);
  return reversed === null ? null : { start: 0, end: value.length - reversed.start };
}

/** Reverses a pattern, keeping each escape before the character it escapes (`a\*c` is `c\*a`). */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const reversed: string[] = [];
  for (let index = 0; index < chars.length; index += 1) {
    const char = chars[index] ?? "";
    if (char === "\\" && index < chars.length - 1) {
      reversed.unshift(char, chars[index + 1] ?? "");
      index += 1;
    } else reversed.unshift(char);
  }
  return reversed.join("");
}

/**
 * Replaces the first match, or every match the way Go's `ReplaceAllString` finds them: an empty match
 * right after a match is skipped, so replacing every match of the pattern `*` gives one replacement, not two.
 */
function replaceMatches(value: Traced, regex: RegExp, replacement: Traced, all: boolean): Traced {
  const text = value.text;
  const result = createTracedBuilder(value);
  let lastEnd = 0;
  let search = 0;
  while (search <= text.length) {
    regex.lastIndex = search;
    const match = regex.exec(text);
    if (match === null) break;
    const end = match.index + match[0].length;
    result.take(lastEnd, match.index);
    if (end > lastEnd || match.index === 0) result.append(replacement);
    lastEnd = end;
    if (!all) break;
    const width = search >= text.length ? 0 : (text.codePointAt(search) ?? 0) > 0xffff ? 2 : 1;
    search = search + width > end ? search + width : search + 1 > end ? search + 1 : end;
  }
  result.take(lastEnd, text.length);
  return result.build();
}
