import { describe, expect, it } from "vitest";
import { expandTraced, expandWord, UNKNOWN, UNSET, type Binding, type EscapeChar, type Scope } from "../../../shared/domain/dockerfile-substitution.js";
import { tracedAt, untraced, type Traced } from "../../../shared/domain/traced-text.js";

/**
 * A scope where a name given a string is set (its value read from source offset 100 on), a name given null is
 * declared without a value, and any other name is unknown (it may come from the base image's ENV).
 */
function scopeOf(values: Record<string, string | null>): Scope {
  return {
    lookup: (name): Binding => {
      if (!Object.hasOwn(values, name)) return UNKNOWN;
      const value = values[name];
      return value === null || value === undefined ? UNSET : { state: "set", value, runs: tracedAt(value, 100).runs };
    },
  };
}

const scope = scopeOf({ A: "x", E: "", U: null, V: "3.20.1", P: "a/b/c", AAA: "aaa", M: "😀a😀", S: "a b", B: "a\\b", BR: "a}b", QM: "a?b", FF: "\uFFFF" });

describe("expandWord", () => {
  it.each<[string, string, string | null]>([
    ["a literal word", "alpine:3.20", "alpine:3.20"],
    ["$NAME", "$A", "x"],
    ["${NAME}", "${A}", "x"],
    ["a name ends at the first character that cannot be in a name", "$A-$A.$A", "x-x.x"],
    ["a name takes letters, digits and underscores", "${V}_$AAA", "3.20.1_aaa"],
    ["a variable set to the empty string", "a${E}b", "ab"],
    ["a variable declared without a value", "$U", null],
    ["a variable that may come from the base image", "$Q", null],
    ["a lone $ is literal", "$", "$"],
    ["a $ at the end is literal", "a$", "a$"],
    ["a $ before a character that cannot start a name is literal", "a$/b", "a$/b"],
    ["a positional parameter", "$1", null],
    ["a special parameter", "$@", null],
    ["the special parameter $-", "a$-", null],
    ["${} is a bad substitution", "${}", null],
    ["${1}", "${1}", null],
    ["an unterminated ${", "${A", null],

    // Quotes and escapes
    ["single quotes keep $ literal", "'$A'", "$A"],
    ["single quotes keep the escape literal", "'a\\b'", "a\\b"],
    ["an unterminated single quote", "'abc", null],
    ["double quotes expand variables and keep spaces", '"$A b"', "x b"],
    ["a double quote inside single quotes is literal", "'\"'", '"'],
    ["a single quote inside double quotes is literal", "\"'\"", "'"],
    ["an unterminated double quote", '"abc', null],
    ["an escaped $ is literal", "\\$A", "$A"],
    ["an escaped escape", "\\\\", "\\"],
    ["an escaped ordinary character loses its escape", "\\a", "a"],
    ["an escaped quote", "\\'", "'"],
    ["in double quotes an escape of an ordinary character stays", '"a\\b"', "a\\b"],
    ["in double quotes an escape of $ is taken", '"\\$A"', "$A"],
    ["in double quotes an escape of a double quote is taken", '"\\""', '"'],
    ["in double quotes an escape of the escape is taken", '"\\\\"', "\\"],
    ["an escape that ends the word escapes nothing and is dropped, as BuildKit drops it", "a\\", "a"],
    ["quotes glued to a word", "al'pi'\"ne\"", "alpine"],

    // ${NAME<op>word}
    ["${NAME:-word} of a set variable", "${A:-d}", "x"],
    ["${NAME:-word} of an empty variable", "${E:-d}", "d"],
    ["${NAME:-word} of a variable without a value", "${U:-d}", "d"],
    ["${NAME-word} of an empty variable", "${E-d}", ""],
    ["${NAME-word} of a variable without a value", "${U-d}", "d"],
    ["${NAME:-word} of a variable that may come from the base image", "${Q:-d}", null],
    ["${NAME:+word} of a set variable", "${A:+d}", "d"],
    ["${NAME:+word} of an empty variable", "${E:+d}", ""],
    ["${NAME+word} of an empty variable", "${E+d}", "d"],
    ["${NAME+word} of a variable without a value", "${U+d}", ""],
    ["${NAME:+word} of a variable that may come from the base image", "${Q:+d}", null],
    ["${NAME:?word} of a set variable", "${A:?m}", "x"],
    ["${NAME:?word} of an empty variable fails the build", "${E:?m}", null],
    ["${NAME?word} of an empty variable", "${E?m}", ""],
    ["${NAME?word} of a variable without a value fails the build", "${U?m}", null],
    ["a default word is expanded", "${U:-$A.$V}", "x.3.20.1"],
    ["a default word keeps its quotes' content", "${U:-'a b'}", "a b"],
    ["an escaped } in a default word", "${U:-a\\}b}", "a}b"],
    ["a default word that is not used may name an unknown variable", "${A:-$Q}", "x"],
    ["a default word that is used may not", "${U:-$Q}", null],
    ["an alternative word that is not used may name an unknown variable", "${U:+$Q}", ""],
    ["an alternative word that is used may not", "${A:+$Q}", null],
    ["a default word without its }", "${A:-d", null],
    ["a default word with an unterminated quote", "${U:-'d}", null],
    ["a value with a space is kept whole", "${S}", "a b"],
    ["an operator BuildKit does not know", "${A^}", null],
    ["an operator BuildKit does not know, with a / after it", "${V^a/b}", null],
    ["${NAME=word} is not supported by BuildKit", "${V=a/b}", null],
    ["${NAME:=word} is not supported by BuildKit", "${A:=d}", null],
    ["text around a substitution", "pre-${A:-d}-post", "pre-x-post"],

    // Prefix and suffix removal
    ["an empty pattern removes nothing", "${A#}", "x"],
    ["* as the shortest prefix is empty", "${V#*}", "3.20.1"],
    ["* as the longest prefix is the whole value", "${V##*}", ""],
    ["* as the shortest suffix is empty", "${V%*}", "3.20.1"],
    ["* as the longest suffix is the whole value", "${V%%*}", ""],
    ["a prefix pattern must match at the start", "${V#2*}", "3.20.1"],
    ["a suffix pattern must match at the end", "${V%2}", "3.20.1"],
    ["a suffix pattern with * in the middle, shortest", "${V%.*0*}", "3"],
    ["a suffix pattern with an escaped * reads it backwards in one piece", "${V%0\\**}", "3.20.1"],
    ["a regular-expression character in a pattern is literal", "${V#3.}", "20.1"],
    ["? in a pattern matches any one character", "${V#3?2}", "0.1"],
    [". in a pattern matches only a dot", "${AAA#.}", "aaa"],
    ["a pattern with regular-expression characters", "${P#a/(b}", "a/b/c"],
    ["an escaped } in a pattern is a }", "${BR%\\}b}", "a"],
    ["an escaped / in a pattern is a /", "${P#a\\/}", "b/c"],
    ["an escaped ? in a pattern is a ?", "${QM#a\\?}", "b"],
    ["an escaped escape in a pattern is the escape character", "${B#a\\\\}", "b"],
    ["an escape of an ordinary character in double quotes stays in a pattern, itself escaped", '${B#"a\\b"}', ""],
    ["a prefix of a variable without a value", "${U#a}", null],
    ["a suffix with an unterminated pattern", "${V%.*", null],

    // Replacement
    ["the first match is replaced", "${AAA/a/b}", "baa"],
    ["text around a replacement", "pre-${V/./-}-post", "pre-3-20.1-post"],
    ["every match is replaced", "${AAA//a/b}", "bbb"],
    ["an escaped / in the pattern", "${P//\\//-}", "a-b-c"],
    ["an escape in a replacement stays, as BuildKit reads replacements raw", "${P/\\//\\/\\/}", "a\\/\\/b/c"],
    ["an empty pattern matches before every character, as Go's ReplaceAllString finds it", "${V///x}", "x3x.x2x0x.x1x"],
    ["an empty pattern matches once at the start of an empty value", "${E//*/x}", "x"],
    ["? matches one code point, not one UTF-16 unit", "${M//?/x}", "xxx"],
    ["an empty pattern matches between code points", "${M///x}", "x😀xax😀x"],
    ["U+FFFF is one code point", "${FF///x}", "x\uFFFFx"],
    ["a replace-all's replacement with a $ would go through Go's template expansion", "${V//./\\$}", null],
    ["a replacement of a variable without a value", "${U/a/b}", null],
    ["a replacement with an escape BuildKit refuses in its pattern", "${V/\\a/b}", null],
    ["a replacement whose pattern is never closed", "${V/a", null],
    ["a replacement whose replacement is never closed", "${V/a/b", null],
  ])("%s: %s", (_title, word, expected) => {
    expect(expandWord(word, scope, "\\")).toBe(expected);
  });

  it.each<[string, string, string | null]>([
    ["a variable without a value stays as written", "a-$U-b", "a-$U-b"],
    ["an unknown variable stays as written", "${Q}/x", "${Q}/x"],
    ["a positional parameter stays as written", "$1x", "$1x"],
    ["a bad substitution stays as written up to its }", "${}-$A", "${}-x"],
    ["a bad substitution after a } stays as written up to its own }", "a}${}-$A", "a}${}-x"],
    ["an unknown operator stays as written up to the } that closes it", "${A^${A}}-$A", "${A^${A}}-x"],
    ["nothing inside an unknown operator's braces is expanded", "${A^${A}$A}-$A", "${A^${A}$A}-x"],
    ["a quote inside an unknown operator's braces opens nothing", "${A^'}x'", null],
    ["a replacement without its second / stays as written up to its }", "${V/a}-$A", "${V/a}-x"],
    ["an operator on an unknown variable stays as written", "${Q:-d}x", "${Q:-d}x"],
    ["a pattern operator on an unknown variable stays as written", "${Q%.*}x", "${Q%.*}x"],
    ["a replacement on an unknown variable stays as written", "${Q/a/b}x", "${Q/a/b}x"],
    ["an unknown operator stays as written", "${A^}-$A", "${A^}-x"],
    ["a known variable is still expanded", "$A-$Q", "x-$Q"],
    ["an unterminated ${ stays as written to the end", "a${A:-b", "a${A:-b"],
    ["an unterminated quote is still refused", "'a", null],
  ])("keeping unresolved references: %s", (_title, word, expected) => {
    expect(expandWord(word, scope, "\\", true)).toBe(expected);
  });

  it.each<[string, string, string | null]>([
    ["the backtick escapes $", "`$A", "$A"],
    ["the backslash is an ordinary character", "C:\\$A", "C:\\x"],
    ["the backtick escapes a quote", "`'", "'"],
    ["in double quotes the backtick escapes $", '"`$A"', "$A"],
    ["in double quotes the backslash stays", '"a\\$A"', "a\\x"],
  ])("with the escape directive set to a backtick, %s", (_title, word, expected) => {
    expect(expandWord(word, scope, "`")).toBe(expected);
  });
});

describe("expandTraced", () => {
  const escape: EscapeChar = "\\";

  /** The word as read from source offset 10 on, or from nowhere when `origin` is null; built inside each test. */
  const wordOf = (text: string, origin: number | null = 10): Traced => (origin === null ? untraced(text) : tracedAt(text, origin));

  it.each<[string, string, number | null, Traced | null]>([
    ["a literal word is returned as it is", "alpine", 10, { text: "alpine", runs: [{ origin: 10, length: 6 }] }],
    ["quotes are removed and the rest keeps its offsets", '"alpine"', 10, { text: "alpine", runs: [{ origin: 11, length: 6 }] }],
    ["an escape is removed", "a\\:b", 10, { text: "a:b", runs: [{ origin: 10, length: 1 }, { origin: 12, length: 2 }] }],
    [
      "a variable's value comes from where the variable was given",
      "alpine:$V", 10,
      { text: "alpine:3.20.1", runs: [{ origin: 10, length: 7 }, { origin: 100, length: 6 }] },
    ],
    ["a default word comes from the word", "${U:-3.20}", 10, { text: "3.20", runs: [{ origin: 15, length: 4 }] }],
    ["a trimmed value keeps the offsets of what is left", "${V#3.}", 10, { text: "20.1", runs: [{ origin: 102, length: 4 }] }],
    ["a suffix removal keeps the offsets of what is left", "${V%.*}", 10, { text: "3.20", runs: [{ origin: 100, length: 4 }] }],
    [
      "a replacement is read from the replacement word",
      "${V/./-}", 10,
      { text: "3-20.1", runs: [{ origin: 100, length: 1 }, { origin: 16, length: 1 }, { origin: 102, length: 4 }] },
    ],
    ["a $ kept as written keeps its offset", "a$", 10, { text: "a$", runs: [{ origin: 10, length: 2 }] }],
    ["an empty result has no runs", "${E}", 10, { text: "", runs: [] }],
    ["an empty alternative adds nothing", "a${U:+d}", 10, { text: "a", runs: [{ origin: 10, length: 1 }] }],
    ["text read from nowhere stays so", "'ab'", null, { text: "ab", runs: [{ origin: -1, length: 2 }] }],
    ["an unresolved variable", "$Q", 10, null],
  ])("%s", (_title, text, origin, expected) => {
    expect(expandTraced(wordOf(text, origin), scope, escape)).toEqual(expected);
  });

  it("keeps an unresolved reference with the offsets it was written at", () => {
    expect(expandTraced(wordOf("a:${Q}"), scope, escape, true)).toEqual({ text: "a:${Q}", runs: [{ origin: 10, length: 6 }] });
  });
});
