import { describe, expect, it } from "vitest";
import type { ReferenceSite } from "../../../shared/domain/pins-site.js";
import { locateYamlSites } from "../../../shared/domain/pins-yaml.js";

const OLD = "sha256:d4a28e59ebd25e224d35fb665a1305a4f700b6d8c954eae9bab9f5748d658efa";
const NEW = "sha256:11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437";
const OTHER = "sha256:9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91";
const ALPINE = "docker.io/library/alpine";

/** A site as a reader checks it: the edit shown as the line it changes, after writing `NEW` there. */
type Site = Omit<ReferenceSite, "edit"> & { after: string | null };

/** Joins lines with `\n`, so a case reads like the file it stands for. */
function lines(...text: string[]): string {
  return text.join("\n");
}

function site(name: string, tag: string | null, digest: string | null, text: string, after: string | null): Site {
  return { name, tag, digest, text, after };
}

/** The sites of `text`, each edit applied alone and reported as the whole line that holds it. */
function read(text: string, workflow = false): Site[] {
  return locateYamlSites(text, { workflow }).map(({ edit, ...rest }) => {
    if (edit === null) return { ...rest, after: null };
    const edited = text.slice(0, edit.start) + edit.replacement(NEW) + text.slice(edit.end);
    const end = edited.indexOf("\n", edit.start);
    return { ...rest, after: edited.slice(edited.lastIndexOf("\n", edit.start - 1) + 1, end < 0 ? undefined : end) };
  });
}

describe("locateYamlSites", () => {
  describe("which keys hold an image", () => {
    it.each<[string, string, boolean, Site[]]>([
      [
        "an image: string without a digest is pinned after its last character",
        lines("services:", "  app:", "    image: alpine:3.20 # base"),
        false,
        [site(ALPINE, "3.20", null, "alpine:3.20", `    image: alpine:3.20@${NEW} # base`)],
      ],
      [
        "a workflow step's uses: docker:// keeps its scheme",
        lines("jobs:", "  a:", "    steps:", "      - uses: docker://alpine:3.20", `      - uses: 'docker://alpine@${OLD}'`),
        true,
        [site(ALPINE, "3.20", null, "alpine:3.20", `      - uses: docker://alpine:3.20@${NEW}`), site(ALPINE, null, OLD, `alpine@${OLD}`, `      - uses: 'docker://alpine@${NEW}'`)],
      ],
      ["a workflow step's uses: of an action is not an image", lines("jobs:", "  a:", "    steps:", "      - uses: actions/checkout@v4"), true, []],
      [
        "a workflow job's container: map holds its image in image:",
        lines("jobs:", "  a:", "    container:", `      image: node:20@${OLD}`, "      options: --cpus 1"),
        true,
        [site("docker.io/library/node", "20", OLD, `node:20@${OLD}`, `      image: node:20@${NEW}`)],
      ],
      [
        "in a workflow, a docker:// or image value under any other key is not an image",
        lines("env:", `  BASE: alpine@${OLD}`, "jobs:", "  a:", "    steps:", "      - run: echo", "        with:", `          args: docker://alpine@${OLD}`),
        true,
        [],
      ],
      ["outside a workflow, uses: docker:// is not an image", lines("steps:", `  - uses: docker://alpine@${OLD}`), false, []],
      ["outside a workflow, container: is not an image", lines("spec:", `  container: alpine@${OLD}`), false, []],
      [
        "a Helm shape only under an image: key",
        lines("exporter:", "  repository: prom/exporter", "  tag: v1", `  digest: ${OLD}`, "image:", "  repository: prom/exporter", "  tag: v1", `  digest: ${OLD}`),
        false,
        [site("docker.io/prom/exporter", "v1", OLD, `prom/exporter:v1@${OLD}`, `  digest: ${NEW}`)],
      ],
      [
        "an image: alias to a Helm shape is read where its anchor is",
        lines("defaults: &base", "  repository: alpine", `  digest: ${OLD}`, "image: *base"),
        false,
        [site(ALPINE, null, OLD, `alpine@${OLD}`, `  digest: ${NEW}`)],
      ],
      ["one document with an error spoils the stream", lines(`image: alpine@${OLD}`, "---", "image: [alpine"), false, []],
      ["an image: value that is not a reference", lines("image: Alpine:3.20", "---", "image: [alpine, busybox]"), false, []],
    ])("%s", (_, text, workflow, sites) => {
      expect(read(text, workflow)).toEqual(sites);
    });
  });

  describe("where a string can be changed", () => {
    it.each<[string, string, Site[]]>([
      ["a folded block scalar with a digest", lines("image: >-", `  alpine@${OLD}`, `# was alpine@${OTHER}`), [site(ALPINE, null, OLD, `alpine@${OLD}`, `  alpine@${NEW}`)]],
      ["a folded block scalar without a digest cannot be pinned", lines("image: >-", "  alpine:3.20"), [site(ALPINE, "3.20", null, "alpine:3.20", null)]],
      ["a double-quoted string with an escape cannot be pinned", 'image: "alpine\\x3a3.20"', [site(ALPINE, "3.20", null, "alpine:3.20", null)]],
      ["a digest written with an escape cannot be changed", `image: "alpine@sha256:\\x64${OLD.slice("sha256:d".length)}"`, [site(ALPINE, null, OLD, `alpine@${OLD}`, null)]],
      ["an escape before the digest does not hide it", `image: "alpine\\x3a3.20@${OLD}"`, [site(ALPINE, "3.20", OLD, `alpine:3.20@${OLD}`, `image: "alpine\\x3a3.20@${NEW}"`)]],
      ["a single-quoted string with an escaped quote is not a reference", "image: 'alpine''s:3.20'", []],
    ])("%s", (_, text, sites) => {
      expect(read(text)).toEqual(sites);
    });
  });

  describe("Helm shapes", () => {
    it.each<[string, string, Site[]]>([
      [
        "a registry is part of the name",
        lines("image:", "  registry: ghcr.io", "  repository: contoso/api", "  tag: 1.2.3", `  digest: ${OLD}`),
        [site("ghcr.io/contoso/api", "1.2.3", OLD, `ghcr.io/contoso/api:1.2.3@${OLD}`, `  digest: ${NEW}`)],
      ],
      [
        "an empty or null registry is Docker Hub",
        lines("a:", "  image:", '    registry: ""', "    repository: alpine", `    digest: ${OLD}`, "b:", "  image:", "    registry: ~", "    repository: alpine", `    digest: ${OTHER}`),
        [site(ALPINE, null, OLD, `alpine@${OLD}`, `    digest: ${NEW}`), site(ALPINE, null, OTHER, `alpine@${OTHER}`, `    digest: ${NEW}`)],
      ],
      ["no tag: the reference is written without one", lines("image:", "  repository: alpine", `  digest: ${OLD}`), [site(ALPINE, null, OLD, `alpine@${OLD}`, `  digest: ${NEW}`)]],
      ["a tag that is only a digest", lines("image:", "  repository: alpine", `  tag: "@${OLD}"`), [site(ALPINE, null, OLD, `alpine@${OLD}`, `  tag: "@${NEW}"`)]],
      ["a quoted null is a tag, not nothing", lines("image:", "  repository: alpine", "  tag: 'null'", `  digest: ${OLD}`), [site(ALPINE, "null", OLD, `alpine:null@${OLD}`, `  digest: ${NEW}`)]],
      [
        "a digest in the digest field and another in the tag are two sites",
        lines("image:", "  repository: alpine", `  tag: 3.20@${OTHER}`, `  digest: ${OLD}`),
        [site(ALPINE, "3.20", OLD, `alpine:3.20@${OLD}`, `  digest: ${NEW}`), site(ALPINE, "3.20", OTHER, `alpine:3.20@${OTHER}`, `  tag: 3.20@${NEW}`)],
      ],
      ["a digest in the tag and an empty digest field", lines("image:", "  repository: alpine", `  tag: 3.20@${OLD}`, '  digest: ""'), [site(ALPINE, "3.20", OLD, `alpine:3.20@${OLD}`, `  tag: 3.20@${NEW}`)]],
      [
        "a digest in a tag written with an escape is found in the source",
        lines("image:", "  repository: alpine", `  tag: "3.20\\x40${OLD}"`),
        [site(ALPINE, "3.20", OLD, `alpine:3.20@${OLD}`, `  tag: "3.20\\x40${NEW}"`)],
      ],
      ["a tag written with an escape cannot be pinned", lines("image:", "  repository: alpine", '  tag: "3.2\\x30"'), [site(ALPINE, "3.20", null, "alpine:3.20", null)]],
      ["an empty tag cannot be pinned", lines("image:", "  repository: alpine", '  tag: ""'), [site(ALPINE, null, null, "alpine", null)]],
      ["a null tag cannot be pinned", lines("image:", "  repository: alpine", "  tag: ~"), [site(ALPINE, null, null, "alpine", null)]],
      ["no tag and no digest field cannot be pinned", lines("image:", "  repository: alpine"), [site(ALPINE, null, null, "alpine", null)]],
      ["a tag that is not a tag", lines("image:", "  repository: alpine", '  tag: "3.20 beta"', `  digest: ${OLD}`), []],
      ["a digest in the tag that is not a digest", lines("image:", "  repository: alpine", '  tag: "3.20@sha256:abc"'), []],
      ["a repository that carries a tag", lines("image:", "  repository: alpine:3.20", `  digest: ${OLD}`), []],
      ["a repository that carries a digest", lines("image:", `  repository: alpine@${OLD}`), []],
      ["a repository that is not a name", lines("image:", "  repository: Alpine", `  digest: ${OLD}`), []],
      ["no repository", lines("image:", "  registry: ghcr.io", `  digest: ${OLD}`), []],
      [
        "a JSON-style flow mapping keeps its spacing when its null digest is filled",
        'image: {"repository": "alpine", "tag": "3.20", "digest":~}',
        [site(ALPINE, "3.20", null, "alpine:3.20", `image: {"repository": "alpine", "tag": "3.20", "digest":${NEW}}`)],
      ],
    ])("%s", (_, text, sites) => {
      expect(read(text)).toEqual(sites);
    });
  });

  describe("an empty Helm digest field is filled", () => {
    it.each<[string, string | null]>([
      ["  digest:", `  digest: ${NEW}`],
      ["  digest: ", `  digest: ${NEW}`],
      ["  digest: ~", `  digest: ${NEW}`],
      ["  digest: null", `  digest: ${NEW}`],
      ["  digest: Null", `  digest: ${NEW}`],
      ["  digest: NULL", `  digest: ${NEW}`],
      ['  digest: ""', `  digest: "${NEW}"`],
      ["  digest: ''", `  digest: '${NEW}'`],
      ["  digest: |-", null],
      ['  digest: "\\\n    "', null],
    ])("%j → %j", (field, after) => {
      expect(read(lines("image:", "  repository: alpine", "  tag: 3.20", field, "  pullPolicy: Always"))).toEqual([site(ALPINE, "3.20", null, "alpine:3.20", after)]);
    });

    it.each<[string]>([["  digest: '~'"], ['  digest: "null"']])("a quoted %s is text, not a digest", (field) => {
      expect(read(lines("image:", "  repository: alpine", "  tag: 3.20", field))).toEqual([]);
    });
  });
});
