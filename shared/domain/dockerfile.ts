/**
 * Reading the image references out of a Dockerfile: the base images of `FROM`, the images of
 * `COPY --from=` and `RUN --mount=…,from=`, and the BuildKit frontend of the `# syntax=` directive.
 *
 * The parser follows the Dockerfile reference and BuildKit (parser directives, indented ones included,
 * line continuations with the escape character, comments and blank lines inside continuations, heredocs,
 * global `ARG`s in `FROM`, variable substitution with its pattern operators in dockerfile-substitution.ts).
 * It keeps the source offsets of every logical line so a later rewriter can replace a reference byte for byte.
 */
import { expandTraced, expandWord, UNKNOWN, UNSET, type Binding, type EscapeChar, type Scope } from "./dockerfile-substitution.js";
import { imageName, parseImageRef } from "./image-ref.js";
import { contiguousSpan, createTracedBuilder, originAt, sliceTraced, tracedAt, trimTraced, untraced, type OriginRun, type Traced } from "./traced-text.js";

/** The instructions that can name an image; `syntax` is the parser directive. */
export type ImageInstruction = "FROM" | "COPY" | "RUN" | "syntax";

/** One image reference found in a Dockerfile. */
export interface ExtractedImage {
  /** Fully normalized `registry/repository` (`alpine` is `docker.io/library/alpine`); `""` when unresolved. */
  name: string;
  /** The tag as written; `latest` when neither a tag nor a digest is written; null when unresolved. */
  tag: string | null;
  /** The digest as written, else null. */
  digest: string | null;
  /** The `--platform` of a `FROM` after global `ARG` substitution (`$BUILDPLATFORM` stays as written), else null. */
  platform: string | null;
  /** 1-based line on which the instruction (or directive) starts. */
  line: number;
  instruction: ImageInstruction;
  /**
   * For `FROM`, the stage alias it declares (`AS build`, lowercased as BuildKit matches it); for `COPY`
   * and `RUN`, the alias of the enclosing stage; null when there is none.
   */
  stage: string | null;
  /** Present only when the reference depends on a value the Dockerfile does not give, or is not a valid reference. */
  unresolved?: true;
  /** The reference as written, present only with `unresolved`. */
  raw?: string;
}

/**
 * Lists the image references of a Dockerfile in source order. Stage references (`FROM build`,
 * `COPY --from=build`, `--from=0`) and `scratch` are not images and are left out. A reference that needs
 * a variable without a value, or that is not a valid image reference after substitution, is reported
 * with `unresolved: true` and its `raw` text instead of a guess. Pure; never throws.
 */
export function extractImages(text: string): ExtractedImage[] {
  return analyzeDockerfile(text).located.map((located) => located.image);
}

/** Offsets `[start, end)` into the text a Dockerfile was read from. */
export interface SourceSpan {
  readonly start: number;
  readonly end: number;
}

/** An image reference of a Dockerfile with the places in the source where a rewriter can change it. */
export interface LocatedImage {
  /** The reference, exactly as {@link extractImages} reports it. */
  readonly image: ExtractedImage;
  /** The reference after `ARG`/`ENV` substitution and quote removal, not normalized (`alpine:3.20@sha256:…`); null when unresolved. */
  readonly reference: string | null;
  /**
   * Where the digest (without the `@`) is written, when it is written in one piece: in the instruction, in
   * the `ARG` default the instruction expands, or in the `# syntax=` directive. Null when the reference has
   * no digest, or its digest is assembled from several places or written with escapes.
   */
  readonly digestSpan: SourceSpan | null;
  /**
   * Where `@<digest>` can be inserted to pin a reference that has no digest: after the reference when it is
   * written in one piece (possibly in an `ARG` default), else after the `FROM` image or `COPY --from=` word.
   * Null when the reference has a digest, is unresolved, or cannot be pinned in place.
   */
  readonly pinOffset: number | null;
}

/**
 * Lists the image references of a Dockerfile, like {@link extractImages}, with their source locations, so
 * that a digest can be replaced (or added) without touching any other byte. Pure; never throws.
 */
export function locateImages(text: string): LocatedImage[] {
  return analyzeDockerfile(text).located.map(toLocatedImage);
}

/**
 * The image the final stage is built on — what the built image's base is — following `FROM <stage>`
 * back to the stage's own base; null for `scratch`, an empty file, or an unresolvable reference
 * (then the entry with `unresolved: true` is returned, never a guess). Pure; never throws.
 */
export function finalBaseImage(text: string): ExtractedImage | null {
  const { stages } = analyzeDockerfile(text);
  return stages.at(-1)?.base ?? null;
}

/** An extracted image with the traced text of its reference, and the end of the word it is written in. */
interface Located {
  readonly image: ExtractedImage;
  readonly reference: Traced | null;
  /** Source offset just after the word that names the image, where a digest may be appended; null when there is none. */
  readonly wordEnd: number | null;
}

function analyzeDockerfile(text: string): { located: Located[]; stages: readonly Stage[] } {
  const lines = splitPhysicalLines(text);
  const escape = readEscapeDirective(lines);
  const located: Located[] = [];
  const syntax = detectSyntax(lines);
  if (syntax !== undefined) {
    const reference = tracedAt(syntax.value, syntax.valueStart);
    const image = toExtracted(syntax.value, syntax.value, { instruction: "syntax", line: syntax.line, stage: null, platform: null });
    located.push({ image, reference, wordEnd: syntax.valueStart + syntax.value.length });
  }

  const state: BuildState = { globalScope: createGlobalScope(), stages: [], current: null, escape };
  for (const logical of splitLogicalLines(lines, escape)) {
    const handler = INSTRUCTION_HANDLERS[logical.keyword];
    if (handler !== undefined) located.push(...handler(logical, state));
  }
  return { located, stages: state.stages };
}

function toLocatedImage({ image, reference, wordEnd }: Located): LocatedImage {
  if (reference === null || image.unresolved) return { image, reference: reference?.text ?? null, digestSpan: null, pinOffset: null };
  const trimmed = trimTraced(reference);
  const at = trimmed.text.indexOf("@");
  if (at >= 0) return { image, reference: trimmed.text, digestSpan: contiguousSpan(sliceTraced(trimmed, at + 1)), pinOffset: null };
  return { image, reference: trimmed.text, digestSpan: null, pinOffset: contiguousSpan(trimmed)?.end ?? wordEnd };
}

// ---------------------------------------------------------------------------------------------------
// Physical lines, parser directives and logical lines

/**
 * One line of the source; `start`/`end` are offsets into `source`, without the line break. Its text is cut
 * out only where needed ({@link contentOf}): most lines are only looked at.
 */
interface PhysicalLine {
  readonly source: string;
  readonly number: number;
  readonly start: number;
  readonly end: number;
}

function contentOf(line: PhysicalLine): string {
  return line.source.slice(line.start, line.end);
}

/**
 * One instruction with its continuation lines joined (continuation escapes and the comment lines between
 * them left out); its runs tell where each piece of `text` is in the source.
 */
interface LogicalLine extends Traced {
  readonly keyword: string;
  /** The 1-based line the instruction starts on. */
  readonly line: number;
  readonly argsStart: number;
}

interface Directive {
  readonly name: string;
  readonly value: string;
  readonly line: number;
  readonly valueStart: number;
}

const KNOWN_DIRECTIVES: ReadonlySet<string> = new Set(["syntax", "escape", "check"]);
/**
 * What follows the `#` of a directive and the white space after it; `\s` as Go reads it. The trailing white
 * space is captured to find where the value starts (the match is the whole body), without the slow `d` flag.
 */
const DIRECTIVE_BODY = /^([a-zA-Z][a-zA-Z0-9]*)[ \t\n\f\r]*=[ \t\n\f\r]*(.+?)([ \t\n\f\r]*)$/;
const HEREDOC_INSTRUCTIONS: ReadonlySet<string> = new Set(["RUN", "COPY", "ADD"]);
const HEREDOC_WORD = /^\d*<<(-?)([^<]+)$/;

function splitPhysicalLines(text: string): PhysicalLine[] {
  const lines: PhysicalLine[] = [];
  let start = text.startsWith("\uFEFF") ? 1 : 0;
  let number = 1;
  while (start <= text.length) {
    const newline = text.indexOf("\n", start);
    const lineEnd = newline < 0 ? text.length : newline;
    const end = lineEnd > start && text[lineEnd - 1] === "\r" ? lineEnd - 1 : lineEnd;
    lines.push({ source: text, number, start, end });
    if (newline < 0) break;
    start = newline + 1;
    number += 1;
  }
  return lines;
}

/**
 * The escape character of the parser directives at the top, read as BuildKit's parser reads them: each
 * line with its leading white space stripped, `#`, white space, `name = value` (the name in any case).
 * Directives stop at the first line that is not a known directive (a comment, a blank line, an
 * instruction, an unknown or repeated directive).
 */
function readEscapeDirective(lines: readonly PhysicalLine[]): EscapeChar {
  const escapeValue = readDirectiveBlock(lines, { stripIndent: true }).find((directive) => directive.name === "escape")?.value;
  return escapeValue === "`" ? "`" : "\\";
}

/**
 * The `# syntax=` directive as BuildKit's `DetectSyntax` finds the frontend: after a `#!` first line, and
 * without stripping leading white space, so an indented one is a directive to the parser but selects nothing.
 */
function detectSyntax(lines: readonly PhysicalLine[]): Directive | undefined {
  const afterShebang = lines[0]?.source.startsWith("#!", lines[0].start) ? lines.slice(1) : lines;
  return readDirectiveBlock(afterShebang, { stripIndent: false }).find((directive) => directive.name === "syntax");
}

function readDirectiveBlock(lines: readonly PhysicalLine[], { stripIndent }: { stripIndent: boolean }): Directive[] {
  const directives: Directive[] = [];
  for (const line of lines) {
    const content = contentOf(line);
    const indent = stripIndent ? content.length - content.trimStart().length : 0;
    if (content[indent] !== "#") break;
    const afterHash = content.slice(indent + 1);
    const bodyStart = indent + 1 + afterHash.length - afterHash.trimStart().length;
    const body = content.slice(bodyStart);
    const match = DIRECTIVE_BODY.exec(body);
    const name = match?.[1]?.toLowerCase();
    const value = match?.[2];
    if (name === undefined || value === undefined || !KNOWN_DIRECTIVES.has(name)) break;
    // BuildKit rejects a repeated directive; we keep the first and read no further.
    if (directives.some((directive) => directive.name === name)) break;
    directives.push({ name, value, line: line.number, valueStart: line.start + bodyStart + body.length - (match?.[3]?.length ?? 0) - value.length });
  }
  return directives;
}

/** `\s` of a regular expression, for one UTF-16 code unit, without a regular expression in the hot loops. */
const OTHER_SPACE = /\s/;

function isSpace(code: number): boolean {
  if (code < 128) return code === 32 || (code >= 9 && code <= 13);
  return OTHER_SPACE.test(String.fromCharCode(code));
}

/** The index of the first character from `position` on that is not `\s`, or `text.length`. */
function skipSpaces(text: string, position: number): number {
  while (position < text.length && isSpace(text.charCodeAt(position))) position += 1;
  return position;
}

const HASH = 35;

function isBlankOrComment({ source, start, end }: PhysicalLine): boolean {
  let first = start;
  while (first < end && isSpace(source.charCodeAt(first))) first += 1;
  return first === end || source.charCodeAt(first) === HASH;
}

/**
 * Where the continuation escape of a line is in the line (the escape character followed by only spaces and tabs),
 * else -1. As in BuildKit, an escape right after another (`C:\\`) is not a continuation: the instruction ends there.
 */
function continuationIndex({ source, start, end }: PhysicalLine, escape: EscapeChar): number {
  let last = end;
  while (last > start && (source.charCodeAt(last - 1) === 32 || source.charCodeAt(last - 1) === 9)) last -= 1;
  if (last === start || source[last - 1] !== escape) return -1;
  // Before the first character of a line is its line break, never an escape.
  return source[last - 2] === escape ? -1 : last - 1 - start;
}

/** Joins continuation lines into instructions, skipping comments, blank lines and heredoc bodies. */
function splitLogicalLines(lines: readonly PhysicalLine[], escape: EscapeChar): LogicalLine[] {
  const logical: LogicalLine[] = [];
  const cursor = { index: 0 };
  while (cursor.index < lines.length) {
    const first = lines[cursor.index];
    cursor.index += 1;
    if (first === undefined || isBlankOrComment(first)) continue;
    const { text, runs } = joinContinuation(lines, first, cursor, escape);
    const { keyword, argsStart } = readKeyword(text);
    skipHeredocBodies(lines, cursor, findHeredocMarkers(keyword, text, argsStart, escape));
    logical.push({ keyword, line: first.number, text, runs, argsStart });
  }
  return logical;
}

/** Joins `first` and the lines that continue it, moving `cursor` past them. */
function joinContinuation(lines: readonly PhysicalLine[], first: PhysicalLine, cursor: { index: number }, escape: EscapeChar): Traced {
  const runs: OriginRun[] = [];
  let text = "";
  let line: PhysicalLine | undefined = first;
  while (line !== undefined) {
    const continued = continuationIndex(line, escape);
    const length = continued < 0 ? line.end - line.start : continued;
    text += line.source.slice(line.start, line.start + length);
    // The pieces of an instruction are never adjacent in the source (an escape and a line break lie between), so runs need no merging.
    if (length > 0) runs.push({ origin: line.start, length });
    if (continued < 0) break;
    // Comment and blank lines inside a continuation are dropped, not ended on.
    for (let next = lines[cursor.index]; next !== undefined && isBlankOrComment(next); next = lines[cursor.index]) cursor.index += 1;
    line = lines[cursor.index];
    if (line !== undefined) cursor.index += 1;
  }
  return { text, runs };
}

/** The instruction's keyword (uppercased) and where its arguments start, after the white space that follows it. */
function readKeyword(text: string): { keyword: string; argsStart: number } {
  const start = skipSpaces(text, 0);
  let end = start;
  while (end < text.length && !isSpace(text.charCodeAt(end))) end += 1;
  return { keyword: text.slice(start, end).toUpperCase(), argsStart: skipSpaces(text, end) };
}

/** Moves `cursor` past the heredoc bodies that follow an instruction, one per marker, terminator included. */
function skipHeredocBodies(lines: readonly PhysicalLine[], cursor: { index: number }, markers: ReadonlyArray<{ name: string; chomp: boolean }>): void {
  for (const marker of markers) {
    for (let body = lines[cursor.index]; body !== undefined; body = lines[cursor.index]) {
      cursor.index += 1;
      const content = contentOf(body);
      if ((marker.chomp ? content.replace(/^\t+/, "") : content) === marker.name) break;
    }
  }
}

/** Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`) of a RUN/COPY/ADD in shell form, in order. */
function findHeredocMarkers(keyword: string, text: string, argsStart: number, escape: EscapeChar): Array<{ name: string; chomp: boolean }> {
  // Every marker has `<<`: most instructions have none and need not be split into words.
  if (!HEREDOC_INSTRUCTIONS.has(keyword) || !text.includes("<<", argsStart) || isJsonArray(text.slice(argsStart))) return [];
  const markers: Array<{ name: string; chomp: boolean }> = [];
  for (const word of splitWords(text, argsStart, escape)) {
    const match = HEREDOC_WORD.exec(word.text);
    if (match === null) continue;
    const quoted = /^(["'])(.*)\1$/.exec(match[2] ?? "");
    const name = quoted === null ? (match[2] ?? "") : (quoted[2] ?? "");
    if (/^[^\s"'$]+$/.test(name)) markers.push({ name, chomp: match[1] === "-" });
  }
  return markers;
}

function isJsonArray(text: string): boolean {
  const trimmed = text.trim();
  if (!trimmed.startsWith("[")) return false;
  try {
    return Array.isArray(JSON.parse(trimmed));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------
// Words and flags

/** A whitespace-separated word of a logical line, quotes and escapes kept; `start`/`end` index `text`. */
interface Word {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

interface Flag {
  readonly name: string;
  readonly value: string | null;
  readonly word: Word;
}

function splitWords(text: string, from: number, escape: EscapeChar): Word[] {
  const words: Word[] = [];
  for (let word = nextWord(text, from, escape); word !== null; word = nextWord(text, word.end, escape)) words.push(word);
  return words;
}

const SINGLE_QUOTE = 39;
const DOUBLE_QUOTE = 34;

/** The first word at or after `position`, or null when only white space is left. */
function nextWord(text: string, position: number, escape: EscapeChar): Word | null {
  position = skipSpaces(text, position);
  if (position >= text.length) return null;
  const start = position;
  const escapeCode = escape.charCodeAt(0);
  let quote = 0;
  while (position < text.length) {
    const code = text.charCodeAt(position);
    if (quote === 0 && isSpace(code)) break;
    if (code === escapeCode && quote !== SINGLE_QUOTE) position += 1;
    else if (quote === 0 && (code === DOUBLE_QUOTE || code === SINGLE_QUOTE)) quote = code;
    else if (code === quote) quote = 0;
    position += 1;
  }
  position = Math.min(position, text.length);
  return { text: text.slice(start, position), start, end: position };
}

/**
 * Reads the leading `--name[=value]` flags of an instruction (BuildKit stops at the first other word or at
 * `--`) and at most `restCount` words after them; the words further on are not split.
 */
function readFlags(line: LogicalLine, escape: EscapeChar, restCount: number): { flags: Flag[]; rest: Word[] } {
  const flags: Flag[] = [];
  const rest: Word[] = [];
  let inFlags = true;
  for (let word = nextWord(line.text, line.argsStart, escape); word !== null; word = nextWord(line.text, word.end, escape)) {
    if (inFlags && word.text.startsWith("--")) {
      if (word.text === "--") inFlags = false;
      else flags.push(toFlag(word));
      continue;
    }
    if (rest.length === restCount) break;
    inFlags = false;
    rest.push(word);
  }
  return { flags, rest };
}

function toFlag(word: Word): Flag {
  const equals = word.text.indexOf("=");
  const name = (equals < 0 ? word.text.slice(2) : word.text.slice(2, equals)).toLowerCase();
  return { name, value: equals < 0 ? null : word.text.slice(equals + 1), word };
}

/** Removes shell quotes and escapes from a flag value, as BuildKit does before reading it. */
function unquoteFlagValue(value: Traced, escape: EscapeChar): Traced {
  const unquoted = createTracedBuilder(value);
  let quote: string | null = null;
  for (let position = 0; position < value.text.length; position += 1) {
    const char = value.text[position] ?? "";
    if (char === escape && quote !== "'" && position + 1 < value.text.length) {
      position += 1;
      unquoted.take(position, position + 1);
    } else if (quote === null && (char === '"' || char === "'")) quote = char;
    else if (char === quote) quote = null;
    else unquoted.take(position, position + 1);
  }
  return unquoted.build();
}

/** Splits an unquoted `--mount` value (CSV: `type=cache,from=build,"target=/a,b"`) into lowercased keys and values. */
function readMountOptions(value: Traced): Map<string, Traced> {
  const options = new Map<string, Traced>();
  const fields: Traced[] = [];
  let field = createTracedBuilder(value);
  let quoted = false;
  for (let position = 0; position < value.text.length; position += 1) {
    const char = value.text[position];
    if (char === '"') quoted = !quoted;
    else if (char === "," && !quoted) {
      fields.push(field.build());
      field = createTracedBuilder(value);
    } else field.take(position, position + 1);
  }
  fields.push(field.build());
  for (const entry of fields) {
    const equals = entry.text.indexOf("=");
    if (equals > 0) options.set(entry.text.slice(0, equals).trim().toLowerCase(), trimTraced(sliceTraced(entry, equals + 1, entry.text.length)));
  }
  return options;
}

// ---------------------------------------------------------------------------------------------------
// Scopes and assignments (the expansion itself is in dockerfile-substitution.ts)

/** Set by BuildKit from the build and target platforms: never known from the text. */
const PLATFORM_ARGS: ReadonlySet<string> = new Set([
  "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
  "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
]);

function createGlobalScope(): Scope & { args: Map<string, Binding> } {
  const args = new Map<string, Binding>();
  return {
    args,
    // An undeclared meta-arg expands to nothing in BuildKit, so `${X:-d}` is `d`; a bare `$X` stays unresolved.
    lookup: (name) => args.get(name) ?? (PLATFORM_ARGS.has(name) ? UNKNOWN : UNSET),
  };
}

interface Stage {
  readonly alias: string | null;
  /** The image this stage is built on (through parent stages); null for scratch. */
  readonly base: ExtractedImage | null;
  readonly env: Map<string, Binding>;
  readonly args: Map<string, Binding>;
}

/** Inside a stage, ENV wins over ARG; anything else may come from the base image's ENV, so it is unknown. */
function stageScope(stage: Stage): Scope {
  return { lookup: (name) => stage.env.get(name) ?? stage.args.get(name) ?? UNKNOWN };
}

/** Reads `ARG a=1 b` / `ENV a=1 b=2` / `ENV a 1` of `line` into bindings, expanding values with `scope`. */
function readAssignments(line: LogicalLine, words: readonly Word[], scope: Scope, escape: EscapeChar, legacyForm: boolean): Array<[string, Binding | null]> {
  const first = words[0];
  if (legacyForm && first !== undefined && !first.text.includes("=")) {
    const rest = words.slice(1).map((word) => word.text).join(" ");
    return [[first.text, toBinding(expandTraced(untraced(rest), scope, escape))]];
  }
  return words.map((word): [string, Binding | null] => {
    const equals = word.text.indexOf("=");
    if (equals < 0) return [word.text, null];
    return [word.text.slice(0, equals), toBinding(expandTraced(traceWord(line, word, equals + 1), scope, escape))];
  });
}

function toBinding(value: Traced | null): Binding {
  return value === null ? UNKNOWN : { state: "set", value: value.text, runs: value.runs };
}

// ---------------------------------------------------------------------------------------------------
// Instruction handlers

interface BuildState {
  readonly globalScope: Scope & { args: Map<string, Binding> };
  readonly stages: Stage[];
  current: Stage | null;
  readonly escape: EscapeChar;
}

type InstructionHandler = (line: LogicalLine, state: BuildState) => Located[];

const INSTRUCTION_HANDLERS: Readonly<Record<string, InstructionHandler>> = {
  ARG: handleArg,
  ENV: handleEnv,
  FROM: handleFrom,
  COPY: handleCopy,
  RUN: handleRun,
};

function wordsOf(line: LogicalLine, state: BuildState): Word[] {
  return splitWords(line.text, line.argsStart, state.escape);
}

function handleArg(line: LogicalLine, state: BuildState): Located[] {
  const stage = state.current;
  const scope = stage === null ? state.globalScope : stageScope(stage);
  for (const [name, binding] of readAssignments(line, wordsOf(line, state), scope, state.escape, false)) {
    // A bare `ARG X` keeps what X is globally: its earlier global default, or the builder's value of a platform ARG.
    (stage === null ? state.globalScope.args : stage.args).set(name, binding ?? state.globalScope.lookup(name));
  }
  return [];
}

function handleEnv(line: LogicalLine, state: BuildState): Located[] {
  const stage = state.current;
  if (stage === null) return [];
  for (const [name, binding] of readAssignments(line, wordsOf(line, state), stageScope(stage), state.escape, true)) {
    if (binding !== null) stage.env.set(name, binding);
  }
  return [];
}

function findStage(state: BuildState, name: string): Stage | undefined {
  const lower = name.toLowerCase();
  return state.stages.find((stage) => stage.alias === lower);
}

function handleFrom(line: LogicalLine, state: BuildState): Located[] {
  // The image, `AS` and the alias: the words after them are not read.
  const { flags, rest } = readFlags(line, state.escape, 3);
  const image = rest[0];
  const asKeyword = rest[1];
  const alias = asKeyword !== undefined && asKeyword.text.toLowerCase() === "as" ? (rest[2]?.text.toLowerCase() ?? null) : null;
  const platformValue = flags.find((flag) => flag.name === "platform")?.value ?? null;
  const platform = platformValue === null ? null : expandWord(platformValue, state.globalScope, state.escape, true);

  const reference = image === undefined ? null : expandTraced(traceWord(line, image), state.globalScope, state.escape);
  const expanded = reference?.text ?? null;
  const parent = expanded === null ? undefined : findStage(state, expanded);
  const extracted = image === undefined || parent !== undefined || expanded === "scratch"
    ? null
    : toExtracted(image.text, expanded, { instruction: "FROM", line: line.line, stage: alias, platform: platform ?? platformValue });
  const stage: Stage = { alias, base: parent !== undefined ? parent.base : extracted, env: new Map(parent?.env ?? []), args: new Map() };
  state.stages.push(stage);
  state.current = stage;
  return extracted === null || image === undefined ? [] : [{ image: extracted, reference, wordEnd: wordEndOffset(line, image) }];
}

function handleCopy(line: LogicalLine, state: BuildState): Located[] {
  const from = readFlags(line, state.escape, 0).flags.find((flag) => flag.name === "from");
  if (from === undefined || from.value === null) return [];
  const raw = traceWord(line, from.word, from.word.text.length - from.value.length);
  return resolveFromValue(raw, line, "COPY", state, wordEndOffset(line, from.word));
}

function handleRun(line: LogicalLine, state: BuildState): Located[] {
  return readFlags(line, state.escape, 0)
    .flags.filter((flag) => flag.name === "mount" && flag.value !== null)
    .flatMap((flag) => {
      const value = traceWord(line, flag.word, flag.word.text.length - (flag.value ?? "").length);
      const from = readMountOptions(unquoteFlagValue(value, state.escape)).get("from");
      // Inside a CSV list, only a `from=` written in one piece can take a digest, so no word-end fallback.
      return from === undefined ? [] : resolveFromValue(from, line, "RUN", state, null);
    });
}

/** A `--from` value names a stage (by alias or index), `scratch`, or an image. */
function resolveFromValue(raw: Traced, line: LogicalLine, instruction: "COPY" | "RUN", state: BuildState, wordEnd: number | null): Located[] {
  const stage = state.current;
  const reference = expandTraced(raw, stage === null ? state.globalScope : stageScope(stage), state.escape);
  const expanded = reference?.text ?? null;
  if (expanded !== null && (/^\d+$/.test(expanded) || expanded === "scratch" || findStage(state, expanded) !== undefined)) return [];
  const image = toExtracted(raw.text, expanded, { instruction, line: line.line, stage: stage?.alias ?? null, platform: null });
  return [{ image, reference, wordEnd }];
}

// ---------------------------------------------------------------------------------------------------
// Traced text: where each character came from, so a rewriter can find it in the source

/** A word of a logical line (from character `from` of the word on) with the source offset of each character. */
function traceWord(line: LogicalLine, word: Word, from = 0): Traced {
  return sliceTraced(line, word.start + from, word.end);
}

function wordEndOffset(line: LogicalLine, word: Word): number | null {
  const last = originAt(line, word.end - 1);
  return last === undefined ? null : last + 1;
}

function toExtracted(
  raw: string,
  expanded: string | null,
  where: Pick<ExtractedImage, "instruction" | "line" | "stage" | "platform">,
): ExtractedImage {
  const parsed = expanded === null ? null : parseImageRef(expanded);
  if (parsed === null || !parsed.ok) return { name: "", tag: null, digest: null, ...where, unresolved: true, raw };
  return { name: imageName(parsed.value), tag: parsed.value.tag, digest: parsed.value.digest, ...where };
}
