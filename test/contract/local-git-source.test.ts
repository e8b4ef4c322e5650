import { execFileSync } from "node:child_process";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalGitSource } from "../../shared/adapters/local-git/local-git-source.js";

describe("local git source on a real repository", () => {
  let dir: string;
  let repo: string;
  let first: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-git-"));
    repo = join(dir, "app");
    const git = (...args: string[]) => execFileSync("git", ["-C", repo, ...args], { encoding: "utf8" }).trim();
    execFileSync("git", ["init", "-q", "-b", "main", repo]);
    git("config", "user.email", "ripple@example.test");
    git("config", "user.name", "Ripple test");
    await writeFile(join(repo, "Dockerfile"), "FROM alpine:3.19\n");
    git("add", ".");
    git("commit", "-qm", "first");
    first = git("rev-parse", "HEAD");
    await writeFile(join(repo, "Dockerfile"), "FROM alpine:3.20\n");
    await writeFile(join(repo, "big"), "x".repeat(1024 * 1024 + 10));
    await symlink("/etc/hostname", join(repo, "link"));
    git("add", ".");
    git("commit", "-qm", "second");
    await writeFile(join(repo, "Dockerfile"), "FROM uncommitted\n");
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reads a file at a branch or a commit, never the work tree", async () => {
    const source = createLocalGitSource({ repositories: [repo] });
    expect(await source.readFile(repo, "main", "Dockerfile")).toBe("FROM alpine:3.20\n");
    expect(await source.readFile(repo, first, "./Dockerfile")).toBe("FROM alpine:3.19\n");
  });

  it("answers null for a missing file, revision, or a repository that is not configured", async () => {
    const source = createLocalGitSource({ repositories: [repo] });
    expect(await source.readFile(repo, "main", "Containerfile")).toBeNull();
    expect(await source.readFile(repo, "no-such-branch", "Dockerfile")).toBeNull();
    expect(await source.readFile(join(dir, "other"), "main", "Dockerfile")).toBeNull();
    expect(source.canRead("https://github.com/contoso/app")).toBe(false);
  });

  it("reads a committed symlink as its target text, not the file it points at", async () => {
    const source = createLocalGitSource({ repositories: [repo] });
    expect(await source.readFile(repo, "main", "link")).toBe("/etc/hostname");
  });

  it.each([
    ["a path with ..", "main", "../app/Dockerfile", "path \"../app/Dockerfile\" leaves the repository"],
    ["an absolute path", "main", "/etc/passwd", "path \"/etc/passwd\" leaves the repository"],
    ["an option-like revision", "--output=/tmp/x", "Dockerfile", "revision \"--output=/tmp/x\" is not a plain branch, tag or commit"],
  ])("refuses %s", async (_, revision, path, message) => {
    const source = createLocalGitSource({ repositories: [repo] });
    await expect(source.readFile(repo, revision, path)).rejects.toMatchObject({ code: "validation_failed", message });
  });

  it("refuses a file over 1 MiB", async () => {
    const source = createLocalGitSource({ repositories: [repo] });
    await expect(source.readFile(repo, "main", "big")).rejects.toMatchObject({ code: "file_too_large" });
  });
});
