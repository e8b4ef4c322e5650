import { createHash } from "node:crypto";

/** A file of a repository as stored: text, bytes, a symlink (target), or a submodule (commit SHA). */
export type TreeFile = string | { readonly bytes: Buffer } | { readonly symlink: string } | { readonly submodule: string };

/** A commit as stored. */
export interface StoredCommit {
  readonly sha: string;
  readonly tree: string;
  readonly parents: readonly string[];
  readonly message: string;
}

/** One entry of a git tree. */
export type Entry = { readonly mode: string; readonly type: "blob" | "tree" | "commit"; readonly sha: string };

/** The git object database of one repository of the GitHub contract server, and its refs (`heads/<branch>` → commit SHA). */
export interface GitObjects {
  readonly blobs: Map<string, Buffer>;
  readonly trees: Map<string, Map<string, Entry>>;
  readonly commits: Map<string, StoredCommit>;
  readonly refs: Map<string, string>;
}

/** The SHA-1 git gives an object of `kind` with `content`. */
function hashObject(kind: string, content: Buffer): string {
  return createHash("sha1").update(`${kind} ${content.length}\0`).update(content).digest("hex");
}

export function writeBlob(objects: GitObjects, content: Buffer): string {
  const sha = hashObject("blob", content);
  objects.blobs.set(sha, content);
  return sha;
}

function writeTree(objects: GitObjects, entries: Map<string, Entry>): string {
  // git sorts tree entries by name, with trees compared as if their name ended in "/".
  const names = [...entries.keys()].sort((a, b) => {
    const key = (name: string): string => (entries.get(name)?.type === "tree" ? `${name}/` : name);
    return Buffer.compare(Buffer.from(key(a)), Buffer.from(key(b)));
  });
  const content = Buffer.concat(
    names.map((name) => {
      const entry = entries.get(name) as Entry;
      return Buffer.concat([Buffer.from(`${entry.mode === "040000" ? "40000" : entry.mode} ${name}\0`), Buffer.from(entry.sha, "hex")]);
    }),
  );
  const sha = hashObject("tree", content);
  objects.trees.set(sha, new Map(names.map((name) => [name, entries.get(name) as Entry])));
  return sha;
}

/** Writes a commit of `tree` on `parents`, authored and committed at `seconds` (epoch); returns its SHA. */
export function writeCommit(objects: GitObjects, commit: { tree: string; parents: readonly string[]; message: string; seconds: number }): string {
  const { tree, parents, message } = commit;
  const stamp = `${commit.seconds} +0000`;
  const text = [`tree ${tree}`, ...parents.map((parent) => `parent ${parent}`), `author Ripple <ripple@example.com> ${stamp}`, `committer Ripple <ripple@example.com> ${stamp}`, "", message].join("\n");
  const sha = hashObject("commit", Buffer.from(text));
  objects.commits.set(sha, { sha, tree, parents: [...parents], message });
  return sha;
}

/** Every non-tree entry under `treeSha`, by full path (with `withTrees` also listing the trees, as GitHub's recursive answer). */
export function flatten(objects: GitObjects, treeSha: string, withTrees = false, prefix = ""): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const [name, entry] of objects.trees.get(treeSha) ?? []) {
    const path = `${prefix}${name}`;
    if (entry.type === "tree") {
      if (withTrees) out.set(path, entry);
      for (const [child, childEntry] of flatten(objects, entry.sha, withTrees, `${path}/`)) out.set(child, childEntry);
    } else {
      out.set(path, entry);
    }
  }
  return out;
}

/** Builds nested trees from a flat path → entry map; returns the root tree SHA. */
export function buildTree(objects: GitObjects, flat: Map<string, Entry>): string {
  const direct = new Map<string, Entry>();
  const children = new Map<string, Map<string, Entry>>();
  for (const [path, entry] of flat) {
    const slash = path.indexOf("/");
    if (slash === -1) {
      direct.set(path, entry);
      continue;
    }
    const head = path.slice(0, slash);
    const sub = children.get(head) ?? new Map<string, Entry>();
    sub.set(path.slice(slash + 1), entry);
    children.set(head, sub);
  }
  for (const [name, sub] of children) direct.set(name, { mode: "040000", type: "tree", sha: buildTree(objects, sub) });
  return writeTree(objects, direct);
}

/** Stores `file` and returns its tree entry. */
export function entryOf(objects: GitObjects, file: TreeFile): Entry {
  if (typeof file === "string") return { mode: "100644", type: "blob", sha: writeBlob(objects, Buffer.from(file)) };
  if ("bytes" in file) return { mode: "100644", type: "blob", sha: writeBlob(objects, file.bytes) };
  if ("symlink" in file) return { mode: "120000", type: "blob", sha: writeBlob(objects, Buffer.from(file.symlink)) };
  return { mode: "160000", type: "commit", sha: file.submodule };
}

/** A tree SHA, commit SHA or branch name as a tree SHA: GitHub peels commits on tree reads (never for `base_tree`). */
export function resolveTree(objects: GitObjects, name: string): string | undefined {
  if (objects.trees.has(name)) return name;
  const commitSha = objects.commits.has(name) ? name : objects.refs.get(`heads/${name}`);
  return commitSha === undefined ? undefined : objects.commits.get(commitSha)?.tree;
}

export function isAncestor(objects: GitObjects, ancestor: string, sha: string): boolean {
  const seen = new Set<string>();
  const queue = [sha];
  while (queue.length > 0) {
    const current = queue.shift() as string;
    if (current === ancestor) return true;
    if (seen.has(current)) continue;
    seen.add(current);
    queue.push(...(objects.commits.get(current)?.parents ?? []));
  }
  return false;
}
