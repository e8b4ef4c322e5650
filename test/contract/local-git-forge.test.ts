import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { closePullRequest, createLocalGitForge, mergePullRequest } from "../../shared/adapters/local-git/local-git-forge.js";
import type { ChangeRequest } from "../../shared/ports/forge.js";

/** git for the test's own set-up and checks, with no GIT_* variable of the caller leaking in. */
function git(cwd: string, ...args: string[]): string {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("GIT_")) env[name] = value;
  return execFileSync("git", ["-C", cwd, "-c", "user.name=Test", "-c", "user.email=test@example.test", ...args], { encoding: "utf8", env }).trimEnd();
}

/** A clock that answers 2024-05-01T00:00:00Z, then one minute later on every call. */
function minuteClock(): { now: () => Date; at: (minute: number) => string } {
  let minute = 0;
  const at = (m: number): string => new Date(Date.UTC(2024, 4, 1, 0, m)).toISOString();
  return { now: () => new Date(at(minute++)), at };
}

const temporaryDirectories: string[] = [];
afterEach(async () => {
  await Promise.all(temporaryDirectories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

interface Fixture {
  /** The repository with a work tree (with uncommitted, staged and untracked changes). */
  readonly repo: string;
  /** A bare clone of it. */
  readonly bare: string;
  /** The head of main in both. */
  readonly base: string;
}

const bigYaml = `# ${"x".repeat(1024 * 1024)}\n`;

async function createFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), "ripple-forge-"));
  temporaryDirectories.push(dir);
  const repo = join(dir, "app");
  execFileSync("git", ["init", "-q", "-b", "main", repo]);
  const write = async (path: string, text: string | Buffer): Promise<void> => {
    await mkdir(dirname(join(repo, path)), { recursive: true });
    await writeFile(join(repo, path), text);
  };
  await write("Dockerfile", "FROM alpine:3.19\n");
  await write("services/api/Dockerfile.prod", "FROM node:20\n");
  await write("build/app.Dockerfile", "FROM golang:1.22\n");
  await write("build/tools.dockerfile", "FROM debian:12\n");
  await write("Containerfile", "FROM fedora:40\n");
  await write("deploy/compose.yml", "services:\n  web:\n    image: nginx:1.27\n");
  await write("k8s/app.yaml", "image: redis:7\n");
  await write("ci/build.yml", "image: docker:27\n");
  await chmod(join(repo, "ci/build.yml"), 0o755);
  await write("README.md", "FROM is not read here\n");
  await write("big.yaml", bigYaml);
  await write("assets/logo.yml", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01]));
  await symlink("Dockerfile", join(repo, "link.Dockerfile"));
  git(repo, "add", ".");
  git(repo, "commit", "-qm", "first");
  // A submodule entry named like a candidate file (a gitlink to this repository's own first commit).
  git(repo, "update-index", "--add", "--cacheinfo", `160000,${git(repo, "rev-parse", "HEAD")},vendor/lib.yaml`);
  git(repo, "commit", "-qm", "submodule");
  await mkdir(join(repo, "vendor/lib.yaml"), { recursive: true }); // an uninitialized submodule, as after a plain clone
  const base = git(repo, "rev-parse", "HEAD");
  git(repo, "clone", "-q", "--bare", repo, join(dir, "app.git"));
  // Work in progress the forge must never see nor touch: a staged, an unstaged and an untracked change.
  await write("k8s/app.yaml", "image: redis:7.2\n");
  git(repo, "add", "k8s/app.yaml");
  await write("Dockerfile", "FROM work-in-progress\n");
  await write("notes.txt", "untracked\n");
  return { repo, bare: join(dir, "app.git"), base };
}

function change(repository: string, baseSha: string, overrides: Partial<ChangeRequest> = {}): ChangeRequest {
  return {
    repository,
    branch: "ripple/alpine-3.20",
    title: "Bump alpine to 3.20",
    body: "Pins alpine:3.20.",
    labels: ["dependencies"],
    files: [
      { path: "Dockerfile", text: "FROM alpine:3.20\n" },
      { path: "ci/build.yml", text: "image: docker:28\n" },
      { path: "deploy/new/values.yaml", text: "image: alpine:3.20\n" },
    ],
    baseSha,
    ...overrides,
  };
}

async function readRecord(gitDir: string, number: number): Promise<unknown> {
  return JSON.parse(await readFile(join(gitDir, "ripple", "pulls", `${number}.json`), "utf8"));
}

async function recordFiles(gitDir: string): Promise<string[]> {
  return (await readdir(join(gitDir, "ripple", "pulls"))).sort();
}

const expectedFiles = [
  { path: "Containerfile", text: "FROM fedora:40\n" },
  { path: "Dockerfile", text: "FROM alpine:3.19\n" },
  { path: "build/app.Dockerfile", text: "FROM golang:1.22\n" },
  { path: "build/tools.dockerfile", text: "FROM debian:12\n" },
  { path: "ci/build.yml", text: "image: docker:27\n" },
  { path: "deploy/compose.yml", text: "services:\n  web:\n    image: nginx:1.27\n" },
  { path: "k8s/app.yaml", text: "image: redis:7\n" },
  { path: "services/api/Dockerfile.prod", text: "FROM node:20\n" },
];

const expectedSkipped = [
  { path: "assets/logo.yml", reason: "binary" },
  { path: "big.yaml", reason: "too large" },
  { path: "link.Dockerfile", reason: "symlink" },
  { path: "vendor/lib.yaml", reason: "submodule" },
];

describe("local git forge: scan", () => {
  it.each([
    ["with a work tree", "repo"],
    ["bare", "bare"],
  ] as const)("reads the candidate files of the default branch's head of a repository %s, skipping with reasons", async (_, which) => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.repo, fixture.bare] });
    expect(await forge.scan(fixture[which])).toEqual({
      repository: fixture[which],
      revision: fixture.base,
      unchanged: false,
      files: expectedFiles,
      skipped: expectedSkipped,
      cursor: fixture.base,
      calls: 0,
      rateLimitRemaining: null,
    });
  });

  it("answers unchanged for the cursor of the last scan, and reads again once the default branch moved", async () => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.bare] });
    const first = await forge.scan(fixture.bare);
    expect(await forge.scan(fixture.bare, { since: first.cursor })).toEqual({
      repository: fixture.bare,
      revision: fixture.base,
      unchanged: true,
      files: [],
      skipped: [],
      cursor: fixture.base,
      calls: 0,
      rateLimitRemaining: null,
    });
    const blob = execFileSync("git", ["-C", fixture.bare, "hash-object", "-w", "--stdin"], { input: "FROM alpine:3.21\n", encoding: "utf8" }).trim();
    const tree = execFileSync("git", ["-C", fixture.bare, "mktree"], { input: `100644 blob ${blob}\tDockerfile\n`, encoding: "utf8" }).trim();
    const next = git(fixture.bare, "commit-tree", tree, "-p", fixture.base, "-m", "second");
    git(fixture.bare, "update-ref", "refs/heads/main", next);
    expect(await forge.scan(fixture.bare, { since: first.cursor })).toEqual({
      repository: fixture.bare,
      revision: next,
      unchanged: false,
      files: [{ path: "Dockerfile", text: "FROM alpine:3.21\n" }],
      skipped: [],
      cursor: next,
      calls: 0,
      rateLimitRemaining: null,
    });
  });

  it("skips a tree entry whose path leaves the repository", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ripple-forge-"));
    temporaryDirectories.push(dir);
    const bare = join(dir, "hostile.git");
    execFileSync("git", ["init", "-q", "--bare", "-b", "main", bare]);
    const blob = execFileSync("git", ["-C", bare, "hash-object", "-w", "--stdin"], { input: "FROM evil\n", encoding: "utf8" }).trim();
    const inner = execFileSync("git", ["-C", bare, "mktree"], { input: `100644 blob ${blob}\tDockerfile\n`, encoding: "utf8" }).trim();
    const tree = execFileSync("git", ["-C", bare, "mktree"], { input: `040000 tree ${inner}\t..\n100644 blob ${blob}\tDockerfile\n`, encoding: "utf8" }).trim();
    const commit = git(bare, "commit-tree", tree, "-m", "hostile");
    git(bare, "update-ref", "refs/heads/main", commit);
    const forge = createLocalGitForge({ repositories: [bare] });
    expect(await forge.scan(bare)).toEqual({
      repository: bare,
      revision: commit,
      unchanged: false,
      files: [{ path: "Dockerfile", text: "FROM evil\n" }],
      skipped: [{ path: "../Dockerfile", reason: "outside the repository" }],
      cursor: commit,
      calls: 0,
      rateLimitRemaining: null,
    });
  });

  it("turns a git failure (a lost blob) into a retryable upstream error", async () => {
    const fixture = await createFixture();
    const blob = git(fixture.repo, "rev-parse", `${fixture.base}:Containerfile`);
    await unlink(join(fixture.repo, ".git", "objects", blob.slice(0, 2), blob.slice(2)));
    const forge = createLocalGitForge({ repositories: [fixture.repo] });
    await expect(forge.scan(fixture.repo)).rejects.toMatchObject({
      name: "UpstreamError",
      code: "upstream_failed",
      service: "git",
      retryable: true,
      message: `git: git ls-tree answered "100644 blob ${blob}     BAD\tContainerfile" in ${join(fixture.repo, ".git")} at ${fixture.base}`,
    });
  });
});

describe("local git forge: proposeChange", () => {
  it("makes exactly one commit on the base with every file, moves the branch to it, and stores an open record", async () => {
    const fixture = await createFixture();
    const clock = minuteClock();
    const forge = createLocalGitForge({ repositories: [fixture.repo], labels: ["ripple"], now: clock.now });
    const statusBefore = git(fixture.repo, "status", "--porcelain");
    expect(statusBefore).toBe(" M Dockerfile\nM  k8s/app.yaml\n?? notes.txt");
    const indexBefore = await readFile(join(fixture.repo, ".git", "index"));

    const pull = await forge.proposeChange(change(fixture.repo, fixture.base));

    const head = git(fixture.repo, "rev-parse", "refs/heads/ripple/alpine-3.20");
    expect(pull).toEqual({
      repository: fixture.repo,
      branch: "ripple/alpine-3.20",
      number: 1,
      url: `file://${fixture.repo}#pull/1`,
      state: "open",
      title: "Bump alpine to 3.20",
      body: "Pins alpine:3.20.",
      labels: ["dependencies", "ripple"],
      headSha: head,
      baseSha: fixture.base,
    });
    expect(git(fixture.repo, "rev-list", "--parents", `${fixture.base}..${head}`)).toBe(`${head} ${fixture.base}`);
    expect(git(fixture.repo, "show", "--stat", "--format=%an <%ae>|%cn <%ce>|%s|%b", head)).toBe(
      [
        "Ripple <ripple@localhost>|Ripple <ripple@localhost>|Bump alpine to 3.20|Pins alpine:3.20.",
        "",
        "",
        " Dockerfile             | 2 +-",
        " ci/build.yml           | 2 +-",
        " deploy/new/values.yaml | 1 +",
        " 3 files changed, 3 insertions(+), 2 deletions(-)",
      ].join("\n"),
    );
    expect(git(fixture.repo, "show", `${head}:Dockerfile`)).toBe("FROM alpine:3.20");
    expect(git(fixture.repo, "show", `${head}:deploy/new/values.yaml`)).toBe("image: alpine:3.20");
    expect(git(fixture.repo, "ls-tree", head, "ci/build.yml").split(" ")[0]).toBe("100755");
    const untouched = (revision: string): string[] =>
      git(fixture.repo, "ls-tree", "-r", revision)
        .split("\n")
        .filter((line) => !/\t(Dockerfile|ci\/build\.yml|deploy\/new\/values\.yaml)$/.test(line));
    expect(untouched(head)).toEqual(untouched(fixture.base));
    expect(await readdir(join(fixture.repo, ".git", "ripple"))).toEqual(["pulls"]);
    expect(await recordFiles(join(fixture.repo, ".git"))).toEqual(["1.json"]);
    expect(await readRecord(join(fixture.repo, ".git"), 1)).toEqual({
      number: 1,
      branch: "ripple/alpine-3.20",
      title: "Bump alpine to 3.20",
      body: "Pins alpine:3.20.",
      labels: ["dependencies", "ripple"],
      state: "open",
      headSha: head,
      baseSha: fixture.base,
      createdAt: clock.at(0),
      updatedAt: clock.at(0),
    });
    // The repository's own HEAD, index and work tree are as they were.
    expect(git(fixture.repo, "symbolic-ref", "HEAD")).toBe("refs/heads/main");
    expect(git(fixture.repo, "rev-parse", "HEAD")).toBe(fixture.base);
    expect(git(fixture.repo, "status", "--porcelain")).toBe(statusBefore);
    expect(await readFile(join(fixture.repo, ".git", "index"))).toEqual(indexBefore);
  });

  it("updates the branch's open record in place on a second proposal, and keeps the commit when nothing changed", async () => {
    const fixture = await createFixture();
    const clock = minuteClock();
    const forge = createLocalGitForge({ repositories: [fixture.bare], now: clock.now });
    const first = await forge.proposeChange(change(fixture.bare, fixture.base));
    const second = await forge.proposeChange(
      change(fixture.bare, fixture.base, { title: "Bump alpine to 3.20.1", body: "Pins alpine:3.20.1.", labels: ["security"], files: [{ path: "Dockerfile", text: "FROM alpine:3.20.1\n" }] }),
    );
    const head = git(fixture.bare, "rev-parse", "refs/heads/ripple/alpine-3.20");
    expect(second).toEqual({ ...first, title: "Bump alpine to 3.20.1", body: "Pins alpine:3.20.1.", labels: ["security"], headSha: head });
    expect(head).not.toBe(first.headSha);
    expect(git(fixture.bare, "rev-list", "--parents", `${fixture.base}..${head}`)).toBe(`${head} ${fixture.base}`);
    expect(git(fixture.bare, "diff", "--name-status", fixture.base, head)).toBe("M\tDockerfile");
    expect(await recordFiles(fixture.bare)).toEqual(["1.json"]);
    expect(await readRecord(fixture.bare, 1)).toEqual({
      number: 1,
      branch: "ripple/alpine-3.20",
      title: "Bump alpine to 3.20.1",
      body: "Pins alpine:3.20.1.",
      labels: ["security"],
      state: "open",
      headSha: head,
      baseSha: fixture.base,
      createdAt: clock.at(0),
      updatedAt: clock.at(1),
    });

    const again = await forge.proposeChange(
      change(fixture.bare, fixture.base, { title: "Bump alpine to 3.20.1", body: "Pins alpine:3.20.1.", labels: ["security"], files: [{ path: "Dockerfile", text: "FROM alpine:3.20.1\n" }] }),
    );
    expect(again).toEqual(second);
    expect(await recordFiles(fixture.bare)).toEqual(["1.json"]);
  });

  it("opens a new record when the branch's pull request was closed", async () => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.bare] });
    const first = await forge.proposeChange(change(fixture.bare, fixture.base));
    expect(await closePullRequest(fixture.bare, first.number)).toEqual({ ...first, state: "closed" });
    expect(await forge.findPullRequest(fixture.bare, first.branch)).toEqual({ ...first, state: "closed" });

    const second = await forge.proposeChange(change(fixture.bare, fixture.base, { title: "Bump alpine again" }));
    expect(second).toEqual({ ...first, number: 2, url: `file://${fixture.bare}#pull/2`, title: "Bump alpine again", headSha: git(fixture.bare, "rev-parse", "refs/heads/ripple/alpine-3.20") });
    expect(await recordFiles(fixture.bare)).toEqual(["1.json", "2.json"]);
    expect(await readRecord(fixture.bare, 1)).toMatchObject({ state: "closed", title: "Bump alpine to 3.20" });
    expect(await forge.findPullRequest(fixture.bare, first.branch)).toEqual(second);
  });

  it("serves two proposals for two branches at the same time", async () => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.bare] });
    const [a, b] = await Promise.all([
      forge.proposeChange(change(fixture.bare, fixture.base, { branch: "ripple/a", files: [{ path: "Dockerfile", text: "FROM a\n" }] })),
      forge.proposeChange(change(fixture.bare, fixture.base, { branch: "ripple/b", files: [{ path: "Containerfile", text: "FROM b\n" }] })),
    ]);
    expect([a.number, b.number].sort()).toEqual([1, 2]);
    expect(a.headSha).toBe(git(fixture.bare, "rev-parse", "refs/heads/ripple/a"));
    expect(b.headSha).toBe(git(fixture.bare, "rev-parse", "refs/heads/ripple/b"));
    expect(git(fixture.bare, "diff", "--name-status", fixture.base, "ripple/a")).toBe("M\tDockerfile");
    expect(git(fixture.bare, "diff", "--name-status", fixture.base, "ripple/b")).toBe("M\tContainerfile");
    expect(await forge.findPullRequest(fixture.bare, "ripple/a")).toEqual(a);
    expect(await forge.findPullRequest(fixture.bare, "ripple/b")).toEqual(b);
    expect(await recordFiles(fixture.bare)).toEqual(["1.json", "2.json"]);
  });

  it("serves two proposals for the same branch at the same time with one record", async () => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.bare] });
    const [a, b] = await Promise.all([
      forge.proposeChange(change(fixture.bare, fixture.base, { title: "a", files: [{ path: "Dockerfile", text: "FROM a\n" }] })),
      forge.proposeChange(change(fixture.bare, fixture.base, { title: "b", files: [{ path: "Dockerfile", text: "FROM b\n" }] })),
    ]);
    expect([a.number, b.number]).toEqual([1, 1]);
    const last = await forge.findPullRequest(fixture.bare, "ripple/alpine-3.20");
    expect([a, b]).toContainEqual(last);
    expect(last?.headSha).toBe(git(fixture.bare, "rev-parse", "refs/heads/ripple/alpine-3.20"));
    expect(git(fixture.bare, "show", `${last?.headSha}:Dockerfile`)).toBe(`FROM ${last?.title}`);
    expect(await recordFiles(fixture.bare)).toEqual(["1.json"]);
  });

  it.each([
    ["an unknown repository", { repository: "/nowhere/app.git" }, { code: "repository_not_configured" }],
    ["a relative repository path", { repository: "app.git" }, { code: "repository_not_configured" }],
    ["a branch name git refuses", { branch: "ripple/a..b" }, { code: "validation_failed", message: 'branch "ripple/a..b" is not a valid branch name' }],
    ["an option-like branch name", { branch: "-f" }, { code: "validation_failed", message: 'branch "-f" is not a valid branch name' }],
    ["a branch shorthand", { branch: "@{-1}" }, { code: "validation_failed", message: 'branch "@{-1}" is not a valid branch name' }],
    ["the default branch", { branch: "main" }, { code: "validation_failed", message: 'branch "main" is the default branch' }],
    ["a path with ..", { files: [{ path: "deploy/../../etc/Dockerfile", text: "x" }] }, { code: "validation_failed", issues: [{ path: "files.0.path", message: '"deploy/../../etc/Dockerfile" leaves the repository (must be relative, without . or ..)' }] }],
    ["an absolute path", { files: [{ path: "/etc/Dockerfile", text: "x" }] }, { code: "validation_failed", issues: [{ path: "files.0.path", message: '"/etc/Dockerfile" leaves the repository (must be relative, without . or ..)' }] }],
    ["a path inside .git", { files: [{ path: ".git/hooks/pre-commit", text: "x" }] }, { code: "validation_failed", issues: [{ path: "files.0.path", message: '".git/hooks/pre-commit" is inside .git' }] }],
    ["a path named twice", { files: [{ path: "Dockerfile", text: "a" }, { path: "./Dockerfile", text: "b" }] }, { code: "validation_failed", issues: [{ path: "files.1.path", message: '"Dockerfile" is named twice' }] }],
    ["no files", { files: [] }, { code: "validation_failed", issues: [{ path: "files", message: "must name at least one file" }] }],
    ["a short base sha", { baseSha: "abc123" }, { code: "validation_failed", issues: [{ path: "baseSha", message: "must be a full commit sha" }] }],
    ["an unknown base commit", { baseSha: "0123456789abcdef0123456789abcdef01234567" }, { code: "validation_failed", issues: [{ path: "baseSha", message: "unknown commit" }] }],
    ["a file where the base has a folder", { files: [{ path: "services", text: "x" }] }, { code: "validation_failed", issues: [{ path: "files", message: "services is a directory, symlink or submodule" }] }],
    ["a file below a file of the base", { files: [{ path: "Dockerfile/inner", text: "x" }] }, { code: "validation_failed", issues: [{ path: "files", message: "'Dockerfile/inner' appears as both a file and as a directory" }] }],
    ["a symlink of the base", { files: [{ path: "link.Dockerfile", text: "FROM x\n" }] }, { code: "validation_failed", issues: [{ path: "files", message: "link.Dockerfile is a directory, symlink or submodule" }] }],
    ["a change that changes nothing", { files: [{ path: "Dockerfile", text: "FROM alpine:3.19\n" }] }, { code: "validation_failed", issues: [{ path: "files", message: "no change" }] }],
  ] as const)("refuses %s and changes nothing", async (_, overrides, expected) => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.bare] });
    const refsBefore = git(fixture.bare, "for-each-ref");
    await expect(forge.proposeChange(change(fixture.bare, fixture.base, overrides as Partial<ChangeRequest>))).rejects.toMatchObject(expected);
    expect(git(fixture.bare, "for-each-ref")).toBe(refsBefore);
    await expect(readdir(join(fixture.bare, "ripple", "pulls"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("local git forge: findPullRequest and merging", () => {
  it("answers null for a branch without a pull request and refuses an unknown repository", async () => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.bare] });
    expect(await forge.findPullRequest(fixture.bare, "ripple/none")).toBeNull();
    await expect(forge.findPullRequest(fixture.repo, "ripple/none")).rejects.toMatchObject({ code: "repository_not_configured" });
    await expect(forge.scan(fixture.repo)).rejects.toMatchObject({ code: "repository_not_configured" });
  });

  it.each([
    ["a folder inside a repository's work tree", "services"],
    ["a folder inside a bare repository", "refs"],
    ["a missing folder", "missing"],
  ] as const)("refuses %s even when configured: it is not a repository", async (_, folder) => {
    const fixture = await createFixture();
    const inside = join(folder === "refs" ? fixture.bare : fixture.repo, folder);
    const forge = createLocalGitForge({ repositories: [inside] });
    await expect(forge.scan(inside)).rejects.toMatchObject({ code: "repository_not_found", message: `${inside} is not a git repository` });
  });

  it("fast-forwards the default branch when it has not moved, and then finds the pull request merged", async () => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.bare] });
    const pull = await forge.proposeChange(change(fixture.bare, fixture.base));
    expect(await mergePullRequest(fixture.bare, pull.number)).toEqual({ ...pull, state: "merged" });
    expect(git(fixture.bare, "rev-parse", "refs/heads/main")).toBe(pull.headSha);
    expect(await forge.findPullRequest(fixture.bare, pull.branch)).toEqual({ ...pull, state: "merged" });
    expect(await readRecord(fixture.bare, 1)).toMatchObject({ state: "merged" });
    expect(await mergePullRequest(fixture.bare, pull.number)).toEqual({ ...pull, state: "merged" });
  });

  it("makes a merge commit when the default branch moved on", async () => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.bare] });
    const pull = await forge.proposeChange(change(fixture.bare, fixture.base, { files: [{ path: "Dockerfile", text: "FROM alpine:3.20\n" }] }));
    const other = await forge.proposeChange(change(fixture.bare, fixture.base, { branch: "ripple/fedora", files: [{ path: "Containerfile", text: "FROM fedora:41\n" }] }));
    await mergePullRequest(fixture.bare, other.number);
    expect(await mergePullRequest(fixture.bare, pull.number)).toEqual({ ...pull, state: "merged" });
    const main = git(fixture.bare, "rev-parse", "refs/heads/main");
    expect(git(fixture.bare, "rev-list", "--parents", "-n", "1", main)).toBe(`${main} ${other.headSha} ${pull.headSha}`);
    expect(git(fixture.bare, "log", "-1", "--format=%an <%ae>|%s", main)).toBe("Ripple <ripple@localhost>|Merge pull request #1 from ripple/alpine-3.20");
    expect(git(fixture.bare, "diff", "--name-status", fixture.base, main)).toBe("M\tContainerfile\nM\tDockerfile");
    expect(await forge.findPullRequest(fixture.bare, "ripple/fedora")).toEqual({ ...other, state: "merged" });
    expect(await forge.findPullRequest(fixture.bare, pull.branch)).toEqual({ ...pull, state: "merged" });
  });

  it("finds an open record merged once its head reached the default branch by other means, and opens a new one on the next proposal", async () => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.bare] });
    const pull = await forge.proposeChange(change(fixture.bare, fixture.base));
    git(fixture.bare, "update-ref", "refs/heads/main", pull.headSha, fixture.base);
    expect(await readRecord(fixture.bare, 1)).toMatchObject({ state: "open" });
    expect(await forge.findPullRequest(fixture.bare, pull.branch)).toEqual({ ...pull, state: "merged" });

    const next = await forge.proposeChange(change(fixture.bare, pull.headSha, { files: [{ path: "Dockerfile", text: "FROM alpine:3.21\n" }] }));
    expect(next).toMatchObject({ number: 2, state: "open", baseSha: pull.headSha });
    expect(await readRecord(fixture.bare, 1)).toMatchObject({ state: "merged" });
  });

  it("refuses to merge a closed pull request, to close a merged one, and unknown numbers", async () => {
    const fixture = await createFixture();
    const forge = createLocalGitForge({ repositories: [fixture.bare] });
    const closed = await forge.proposeChange(change(fixture.bare, fixture.base, { branch: "ripple/closed" }));
    await closePullRequest(fixture.bare, closed.number);
    await expect(mergePullRequest(fixture.bare, closed.number)).rejects.toMatchObject({ code: "pull_request_closed" });
    const merged = await forge.proposeChange(change(fixture.bare, fixture.base, { branch: "ripple/merged" }));
    await mergePullRequest(fixture.bare, merged.number);
    await expect(closePullRequest(fixture.bare, merged.number)).rejects.toMatchObject({ code: "pull_request_merged" });
    await expect(closePullRequest(fixture.bare, 99)).rejects.toMatchObject({ code: "pull_request_not_found" });
    expect(git(fixture.bare, "rev-parse", "refs/heads/main")).toBe(merged.headSha);
  });
});
