/**
 * Reading the image references out of a Dockerfile: the base images of `FROM`, the images of
 * `COPY --from=` and `RUN --mount=…,from=`, and the BuildKit frontend of the `# syntax=` directive.
 *
 * The parser follows the Dockerfile reference (parser directives, line continuations with the escape
 * character, comments and blank lines inside continuations, heredocs, global `ARG`s in `FROM`). It keeps
 * the source offsets of every logical line so a later rewriter can replace a reference byte for byte.
 */
import { imageName, parseImageRef } from "./image-ref.js";

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
  return analyzeDockerfile(text).images;
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

function analyzeDockerfile(text: string): { images: ExtractedImage[]; stages: readonly Stage[] } {
  const lines = splitPhysicalLines(text);
  const { directives, escape } = readDirectives(lines);
  const images: ExtractedImage[] = [];
  const syntax = directives.find((directive) => directive.name === "syntax");
  if (syntax !== undefined) images.push(toExtracted(syntax.value, syntax.value, { instruction: "syntax", line: syntax.line, stage: null, platform: null }));

  const state: BuildState = { globalScope: createGlobalScope(), stages: [], current: null, escape };
  for (const logical of splitLogicalLines(lines, escape)) {
    const handler = INSTRUCTION_HANDLERS[logical.keyword];
    if (handler !== undefined) images.push(...handler(logical, state));
  }
  return { images, stages: state.stages };
}

// ---------------------------------------------------------------------------------------------------
// Physical lines, parser directives and logical lines

/** One line of the source; `start`/`end` are offsets into the original text, without the line break. */
interface PhysicalLine {
  readonly number: number;
  readonly start: number;
  readonly end: number;
  readonly content: string;
}

/** The part of a physical line that belongs to a logical line (continuation escape excluded). */
interface LineSegment {
  readonly line: number;
  readonly start: number;
  readonly end: number;
}

/** A heredoc body that follows an instruction; `firstLine`..`lastLine` include the terminator line. */
interface HeredocBody {
  readonly name: string;
  readonly firstLine: number;
  readonly lastLine: number;
}

/**
 * One instruction with its continuation lines joined. `text` is the concatenation of the segments, so
 * index `i` of `text` maps back to the source through the segments' lengths.
 */
interface LogicalLine {
  readonly keyword: string;
  readonly text: string;
  readonly argsStart: number;
  readonly segments: readonly LineSegment[];
  readonly heredocs: readonly HeredocBody[];
}

interface Directive {
  readonly name: string;
  readonly value: string;
  readonly line: number;
  readonly valueStart: number;
}

type EscapeChar = "\\" | "`";

const KNOWN_DIRECTIVES: ReadonlySet<string> = new Set(["syntax", "escape", "check"]);
const DIRECTIVE_LINE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/d;
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
    lines.push({ number, start, end, content: text.slice(start, end) });
    if (newline < 0) break;
    start = newline + 1;
    number += 1;
  }
  return lines;
}

/**
 * Reads the parser directives at the top. Directives stop at the first line that is not a known
 * directive (a comment, a blank line, an instruction, an unknown or repeated directive).
 */
function readDirectives(lines: readonly PhysicalLine[]): { directives: Directive[]; escape: EscapeChar } {
  const directives: Directive[] = [];
  for (const line of lines) {
    const match = DIRECTIVE_LINE.exec(line.content);
    const name = match?.[1]?.toLowerCase();
    const value = match?.[2];
    if (name === undefined || value === undefined || !KNOWN_DIRECTIVES.has(name)) break;
    // BuildKit rejects a repeated directive; we keep the first and read no further.
    if (directives.some((directive) => directive.name === name)) break;
    directives.push({ name, value, line: line.number, valueStart: line.start + (match?.indices?.[2]?.[0] ?? 0) });
  }
  const escapeValue = directives.find((directive) => directive.name === "escape")?.value;
  return { directives, escape: escapeValue === "`" ? "`" : "\\" };
}

function isBlankOrComment(content: string): boolean {
  const trimmed = content.trimStart();
  return trimmed === "" || trimmed.startsWith("#");
}

/** Joins continuation lines into instructions, skipping comments, blank lines and heredoc bodies. */
function splitLogicalLines(lines: readonly PhysicalLine[], escape: EscapeChar): LogicalLine[] {
  const continuation = new RegExp(`${escape === "`" ? "`" : "\\\\"}[ \\t]*$`);
  const logical: LogicalLine[] = [];
  let index = 0;
  while (index < lines.length) {
    const first = lines[index];
    index += 1;
    if (first === undefined || isBlankOrComment(first.content)) continue;

    const segments: LineSegment[] = [];
    let text = "";
    let line: PhysicalLine | undefined = first;
    while (line !== undefined) {
      const match = continuation.exec(line.content);
      const length = match === null ? line.content.length : match.index;
      segments.push({ line: line.number, start: line.start, end: line.start + length });
      text += line.content.slice(0, length);
      if (match === null) break;
      // Comment and blank lines inside a continuation are dropped, not ended on.
      while (index < lines.length && isBlankOrComment(lines[index]?.content ?? "")) index += 1;
      line = lines[index];
      if (line !== undefined) index += 1;
    }

    const head = /^\s*(\S+)\s*/.exec(text);
    const keyword = head?.[1]?.toUpperCase() ?? "";
    const argsStart = head?.[0].length ?? text.length;
    const heredocs: HeredocBody[] = [];
    for (const marker of findHeredocMarkers(keyword, text, argsStart, escape)) {
      const firstLine = lines[index]?.number;
      if (firstLine === undefined) break;
      while (index < lines.length) {
        const body = lines[index];
        index += 1;
        const candidate = marker.chomp ? (body?.content ?? "").replace(/^\t+/, "") : body?.content;
        if (candidate === marker.name) break;
      }
      heredocs.push({ name: marker.name, firstLine, lastLine: lines[index - 1]?.number ?? firstLine });
    }
    logical.push({ keyword, text, argsStart, segments, heredocs });
  }
  return logical;
}

/** Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`) of a RUN/COPY/ADD in shell form, in order. */
function findHeredocMarkers(keyword: string, text: string, argsStart: number, escape: EscapeChar): Array<{ name: string; chomp: boolean }> {
  if (!HEREDOC_INSTRUCTIONS.has(keyword) || isJsonArray(text.slice(argsStart))) return [];
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
  let position = from;
  while (position < text.length) {
    while (position < text.length && /\s/.test(text[position] ?? "")) position += 1;
    if (position >= text.length) break;
    const start = position;
    let quote: string | null = null;
    while (position < text.length) {
      const char = text[position] ?? "";
      if (quote === null && /\s/.test(char)) break;
      if (char === escape && quote !== "'") position += 1;
      else if (quote === null && (char === '"' || char === "'")) quote = char;
      else if (char === quote) quote = null;
      position += 1;
    }
    position = Math.min(position, text.length);
    words.push({ text: text.slice(start, position), start, end: position });
  }
  return words;
}

/** Splits the leading `--name[=value]` flags off an instruction's words (BuildKit stops at the first other word or at `--`). */
function readFlags(words: readonly Word[]): { flags: Flag[]; rest: Word[] } {
  const flags: Flag[] = [];
  let index = 0;
  for (; index < words.length; index += 1) {
    const word = words[index];
    if (word === undefined || !word.text.startsWith("--")) break;
    if (word.text === "--") {
      index += 1;
      break;
    }
    const equals = word.text.indexOf("=");
    const name = (equals < 0 ? word.text.slice(2) : word.text.slice(2, equals)).toLowerCase();
    flags.push({ name, value: equals < 0 ? null : word.text.slice(equals + 1), word });
  }
  return { flags, rest: words.slice(index) };
}

/** Removes shell quotes and escapes from a flag value, as BuildKit does before reading it. */
function unquoteFlagValue(value: string, escape: EscapeChar): string {
  let text = "";
  let quote: string | null = null;
  for (let position = 0; position < value.length; position += 1) {
    const char = value[position] ?? "";
    if (char === escape && quote !== "'" && position + 1 < value.length) {
      position += 1;
      text += value[position] ?? "";
    } else if (quote === null && (char === '"' || char === "'")) quote = char;
    else if (char === quote) quote = null;
    else text += char;
  }
  return text;
}

/** Splits an unquoted `--mount` value (CSV: `type=cache,from=build,"target=/a,b"`) into lowercased keys and values. */
function readMountOptions(value: string): Map<string, string> {
  const options = new Map<string, string>();
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (const char of value) {
    if (char === '"') quoted = !quoted;
    else if (char === "," && !quoted) {
      fields.push(field);
      field = "";
    } else field += char;
  }
  fields.push(field);
  for (const entry of fields) {
    const equals = entry.indexOf("=");
    if (equals > 0) options.set(entry.slice(0, equals).trim().toLowerCase(), entry.slice(equals + 1).trim());
  }
  return options;
}

// ---------------------------------------------------------------------------------------------------
// Variable expansion

/** What a variable is bound to: a value, declared without one, or unknowable here (build-time, base image ENV). */
type Binding = { readonly state: "set"; readonly value: string } | { readonly state: "unset" } | { readonly state: "unknown" };

interface Scope {
  lookup(name: string): Binding;
}

const UNSET: Binding = { state: "unset" };
const UNKNOWN: Binding = { state: "unknown" };

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

/** The state of one expansion: `ok` turns false at the first reference that cannot be resolved. */
interface Expansion {
  readonly source: string;
  readonly scope: Scope;
  readonly escape: EscapeChar;
  readonly keepUnresolved: boolean;
  ok: boolean;
}

/**
 * Expands `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?word}`
 * and removes quotes and escapes, like BuildKit's word processing. Returns null when a variable has no
 * value or uses an operator we do not evaluate, unless `keepUnresolved`, which leaves such a reference
 * as written.
 */
function expandWord(source: string, scope: Scope, escape: EscapeChar, keepUnresolved = false): string | null {
  const expansion: Expansion = { source, scope, escape, keepUnresolved, ok: true };
  const { text, end } = expandUntil(expansion, 0, false);
  return expansion.ok && end === source.length ? text : null;
}

/** Expands from `position` to the end, or to the `}` that closes the enclosing `${…}` when `inBraces`. */
function expandUntil(expansion: Expansion, position: number, inBraces: boolean): { text: string; end: number } {
  const { source, escape } = expansion;
  let text = "";
  let inDouble = false;
  while (position < source.length) {
    const char = source[position] ?? "";
    if (inBraces && !inDouble && char === "}") return { text, end: position };
    if (char === escape) {
      const next = source[position + 1];
      if (next === undefined) text += char;
      else if (inDouble && next !== "$" && next !== '"' && next !== escape) text += char + next;
      else text += next;
      position += 2;
    } else if (char === "'" && !inDouble) {
      const close = source.indexOf("'", position + 1);
      if (close < 0) {
        expansion.ok = false;
        return { text, end: source.length };
      }
      text += source.slice(position + 1, close);
      position = close + 1;
    } else if (char === '"') {
      inDouble = !inDouble;
      position += 1;
    } else if (char === "$") {
      const reference = expandReference(expansion, position);
      text += reference.text;
      position = reference.end;
    } else {
      text += char;
      position += 1;
    }
  }
  if (inDouble || inBraces) expansion.ok = false;
  return { text, end: position };
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Expands the `$…` reference at `start`; returns its text and the index just after it. */
function expandReference(expansion: Expansion, start: number): { text: string; end: number } {
  const { source, scope } = expansion;
  const unresolved = (end: number): { text: string; end: number } => {
    if (!expansion.keepUnresolved) expansion.ok = false;
    return { text: source.slice(start, end), end };
  };

  if (source[start + 1] !== "{") {
    const name = NAME.exec(source.slice(start + 1))?.[0];
    if (name === undefined) {
      // `$1`, `$@` and friends are shell parameters we do not know; a lone `$` is literal.
      return /^[0-9@*#?$!-]/.test(source[start + 1] ?? "") ? unresolved(start + 2) : { text: "$", end: start + 1 };
    }
    const binding = scope.lookup(name);
    const end = start + 1 + name.length;
    return binding.state === "set" ? { text: binding.value, end } : unresolved(end);
  }

  const nameStart = start + 2;
  const name = NAME.exec(source.slice(nameStart))?.[0];
  if (name === undefined) return unresolved(findClosingBrace(source, start));
  let position = nameStart + name.length;
  if (source[position] === "}") {
    const binding = scope.lookup(name);
    return binding.state === "set" ? { text: binding.value, end: position + 1 } : unresolved(position + 1);
  }
  const colon = source[position] === ":";
  const operator = source[colon ? position + 1 : position];
  if (operator !== "-" && operator !== "+" && operator !== "?") return unresolved(findClosingBrace(source, start));
  position += colon ? 2 : 1;

  // The word is expanded in isolation so an unresolved variable in it only matters if the word is used.
  const inner: Expansion = { ...expansion, ok: true };
  const word = expandUntil(inner, position, true);
  if (source[word.end] !== "}") return unresolved(source.length);
  const end = word.end + 1;
  const useWord = (): { text: string; end: number } => (inner.ok ? { text: word.text, end } : unresolved(end));

  const binding = scope.lookup(name);
  if (binding.state === "unknown") return unresolved(end);
  const present = binding.state === "set" && (!colon || binding.value !== "");
  if (operator === "-") return present && binding.state === "set" ? { text: binding.value, end } : useWord();
  if (operator === "+") return present ? useWord() : { text: "", end };
  return present && binding.state === "set" ? { text: binding.value, end } : unresolved(end);
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

/** Reads `ARG a=1 b` / `ENV a=1 b=2` / `ENV a 1` into bindings, expanding values with `scope`. */
function readAssignments(words: readonly Word[], scope: Scope, escape: EscapeChar, legacyForm: boolean): Array<[string, Binding | null]> {
  const first = words[0];
  if (legacyForm && first !== undefined && !first.text.includes("=")) {
    const rest = words.slice(1).map((word) => word.text).join(" ");
    return [[first.text, toBinding(expandWord(rest, scope, escape))]];
  }
  return words.map((word): [string, Binding | null] => {
    const equals = word.text.indexOf("=");
    if (equals < 0) return [word.text, null];
    return [word.text.slice(0, equals), toBinding(expandWord(word.text.slice(equals + 1), scope, escape))];
  });
}

function toBinding(value: string | null): Binding {
  return value === null ? UNKNOWN : { state: "set", value };
}

// ---------------------------------------------------------------------------------------------------
// Instruction handlers

interface BuildState {
  readonly globalScope: Scope & { args: Map<string, Binding> };
  readonly stages: Stage[];
  current: Stage | null;
  readonly escape: EscapeChar;
}

type InstructionHandler = (line: LogicalLine, state: BuildState) => ExtractedImage[];

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

function handleArg(line: LogicalLine, state: BuildState): ExtractedImage[] {
  const stage = state.current;
  const scope = stage === null ? state.globalScope : stageScope(stage);
  for (const [name, binding] of readAssignments(wordsOf(line, state), scope, state.escape, false)) {
    if (stage === null) {
      if (binding !== null || !state.globalScope.args.has(name)) state.globalScope.args.set(name, binding ?? UNSET);
    } else {
      // A bare `ARG X` in a stage takes the global default of X, if there is one.
      stage.args.set(name, binding ?? state.globalScope.args.get(name) ?? UNSET);
    }
  }
  return [];
}

function handleEnv(line: LogicalLine, state: BuildState): ExtractedImage[] {
  const stage = state.current;
  if (stage === null) return [];
  for (const [name, binding] of readAssignments(wordsOf(line, state), stageScope(stage), state.escape, true)) {
    if (binding !== null) stage.env.set(name, binding);
  }
  return [];
}

function findStage(state: BuildState, name: string): Stage | undefined {
  const lower = name.toLowerCase();
  return state.stages.find((stage) => stage.alias === lower);
}

function handleFrom(line: LogicalLine, state: BuildState): ExtractedImage[] {
  const { flags, rest } = readFlags(wordsOf(line, state));
  const image = rest[0];
  const asKeyword = rest[1];
  const alias = asKeyword !== undefined && asKeyword.text.toLowerCase() === "as" ? (rest[2]?.text.toLowerCase() ?? null) : null;
  const platformValue = flags.find((flag) => flag.name === "platform")?.value ?? null;
  const platform = platformValue === null ? null : expandWord(platformValue, state.globalScope, state.escape, true);

  const expanded = image === undefined ? null : expandWord(image.text, state.globalScope, state.escape);
  const parent = expanded === null ? undefined : findStage(state, expanded);
  const extracted = image === undefined || parent !== undefined || expanded === "scratch"
    ? null
    : toExtracted(image.text, expanded, { instruction: "FROM", line: line.segments[0]?.line ?? 0, stage: alias, platform: platform ?? platformValue });
  const stage: Stage = { alias, base: parent !== undefined ? parent.base : extracted, env: new Map(parent?.env ?? []), args: new Map() };
  state.stages.push(stage);
  state.current = stage;
  return extracted === null ? [] : [extracted];
}

function handleCopy(line: LogicalLine, state: BuildState): ExtractedImage[] {
  const from = readFlags(wordsOf(line, state)).flags.find((flag) => flag.name === "from")?.value;
  return from === undefined || from === null ? [] : resolveFromValue(from, line, "COPY", state);
}

function handleRun(line: LogicalLine, state: BuildState): ExtractedImage[] {
  return readFlags(wordsOf(line, state))
    .flags.filter((flag) => flag.name === "mount" && flag.value !== null)
    .flatMap((flag) => {
      const from = readMountOptions(unquoteFlagValue(flag.value ?? "", state.escape)).get("from");
      return from === undefined ? [] : resolveFromValue(from, line, "RUN", state);
    });
}

/** A `--from` value names a stage (by alias or index), `scratch`, or an image. */
function resolveFromValue(raw: string, line: LogicalLine, instruction: "COPY" | "RUN", state: BuildState): ExtractedImage[] {
  const stage = state.current;
  const expanded = expandWord(raw, stage === null ? state.globalScope : stageScope(stage), state.escape);
  if (expanded !== null && (/^\d+$/.test(expanded) || expanded === "scratch" || findStage(state, expanded) !== undefined)) return [];
  return [toExtracted(raw, expanded, { instruction, line: line.segments[0]?.line ?? 0, stage: stage?.alias ?? null, platform: null })];
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
