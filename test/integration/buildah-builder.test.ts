/**
 * The local ImageBuilder on the real local stack: source builds from a local git repository with
 * buildah, pushed over TLS to the Distribution registry, checked by reading the registry back.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBuildahBuilder } from "../../shared/adapters/buildah-builder/buildah-builder.js";
import { findNetworkFailure } from "../../shared/adapters/buildah-builder/network-failure.js";
import { findFreePort } from "../../shared/local/free-port.js";
import { startRegistry, type LocalRegistry } from "../../shared/local/registry.js";
import { startStack, type Stack } from "../../shared/local/stack.js";
import type { BuildRecipe, BuildRequest, BuildRun, ImageBuilder } from "../../shared/ports/image-builder.js";

const ociManifest = "application/vnd.oci.image.manifest.v1+json";
const ociIndex = "application/vnd.oci.image.index.v1+json";
const manifestAccept = [ociManifest, ociIndex, "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"].join(", ");
const baseDigestAnnotation = "org.opencontainers.image.base.digest";

interface RegistryAnswer {
  status: number;
  digest: string;
  body: Record<string, unknown>;
}

describe("buildah builder on the local stack", () => {
  let dir: string;
  let stack: Stack;
  let registry: string;
  let workDir: string;
  let repo: string;
  let firstCommit: string;
  let baseDigest: string;
  let otherBaseDigest: string;
  let builder: ImageBuilder;
  let repoStatusBefore: string;
  /** The stack's registry once a test has stopped and started it again (stopped with the stack). */
  let restartedRegistry: LocalRegistry | undefined;

  const git = (...args: string[]): string =>
    execFileSync("git", ["-C", repo, "-c", "user.name=Ripple test", "-c", "user.email=ripple@example.test", ...args], { encoding: "utf8" }).trim();

  async function commitFiles(files: Record<string, string>, message: string): Promise<string> {
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(repo, path)), { recursive: true });
      await writeFile(join(repo, path), text);
    }
    git("add", "--all");
    git("commit", "--quiet", "-m", message);
    return git("rev-parse", "HEAD");
  }

  /** GET from the stack's registry over TLS, trusting only the stack CA. */
  function getFromRegistry(path: string, accept: string): Promise<RegistryAnswer> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${stack.registry.url}${path}`, { ca: stack.tls.caPem, headers: { Accept: accept }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const bytes = Buffer.concat(chunks);
          const body = res.statusCode === 200 ? (JSON.parse(bytes.toString("utf8")) as Record<string, unknown>) : {};
          resolve({ status: res.statusCode ?? 0, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, body });
        });
      });
      req.on("error", reject);
      req.end();
    });
  }

  const getManifest = (repository: string, reference: string): Promise<RegistryAnswer> => getFromRegistry(`/v2/${repository}/manifests/${reference}`, manifestAccept);

  /** The labels of a pushed single-platform image, read from its config blob. */
  async function labelsOf(repository: string, reference: string): Promise<Record<string, string>> {
    const manifest = await getManifest(repository, reference);
    const config = (manifest.body.config as { digest: string }).digest;
    const blob = await getFromRegistry(`/v2/${repository}/blobs/${config}`, "application/octet-stream");
    return ((blob.body.config as { Labels?: Record<string, string> }).Labels ?? {});
  }

  function sourceRequest(image: string, recipe: Partial<Extract<BuildRecipe, { kind: "source" }>> = {}, base = { key: `${registry}/ripple/busybox:1`, digest: baseDigest }): BuildRequest {
    return {
      image: `${registry}/${image}`,
      registry,
      recipe: { kind: "source", repository: repo, revision: "main", dockerfile: "Dockerfile", context: ".", args: {}, tags: [`${registry}/${image}`], platforms: [], ...recipe },
      base,
      idempotencyKey: `${registry}/${image}|${base.digest}`,
    };
  }

  const finalRun = (run: BuildRun, status: "succeeded" | "failed", reason: unknown = null): unknown => ({
    runId: expect.stringMatching(/^local-\d{14}-[0-9a-f]{6}$/) as unknown,
    status,
    logsUrl: join(workDir, "runs", run.runId, "build.log"),
    startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
    finishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
    reason,
  });

  /** A failed run's expected reason: `summary`, then the last 20 lines the log had before its closing line. */
  async function reasonFrom(run: BuildRun, summary: string): Promise<string> {
    const lines = (await readFile(join(workDir, "runs", run.runId, "build.log"), "utf8")).trimEnd().split("\n");
    expect(lines.at(-1)).toBe(`# run ${run.runId} failed ${run.finishedAt}: ${summary}`);
    return `${summary}\n${lines.slice(0, -1).slice(-20).join("\n")}`;
  }

  const runFolder = (run: BuildRun): Promise<string[]> => readdir(join(workDir, "runs", run.runId)).then((names) => names.sort());

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ripple-buildah-builder-"));
    stack = await startStack({ dir: join(dir, "stack") });
    registry = stack.registry.host;
    workDir = join(dir, "builder");

    const pushBase = async (marker: string, tag: string): Promise<string> => {
      const context = await stack.buildah.makeBusyboxBaseContext(join(dir, `base-${tag}`), marker);
      await stack.buildah.build({ context, tag: `localhost/ripple/busybox:${tag}` });
      return stack.buildah.push({ image: `localhost/ripple/busybox:${tag}`, destination: `${registry}/ripple/busybox:${tag}` });
    };
    baseDigest = await pushBase("builder test base, release 1", "1");
    otherBaseDigest = await pushBase("builder test base, release 2", "2");

    repo = join(dir, "app");
    execFileSync("git", ["init", "--quiet", "-b", "main", repo]);
    firstCommit = await commitFiles({ Dockerfile: `FROM ${registry}/ripple/busybox:1\nRUN echo first > /version\nLABEL app.revision=first\n` }, "first");
    git("branch", "release");
    await commitFiles(
      {
        Dockerfile: `FROM ${registry}/ripple/busybox:1\nRUN echo second > /version\nLABEL app.revision=second\n`,
        "multi/Dockerfile": `FROM ${registry}/ripple/busybox:1\nCOPY app.txt /app/app.txt\n`,
        "multi/app.txt": "multi-arch app\n",
        "pinned/Dockerfile": [
          "ARG RIPPLE_BASE_DIGEST",
          `FROM ${registry}/ripple/busybox:1@\${RIPPLE_BASE_DIGEST}`,
          "ARG RIPPLE_BASE_IMAGE",
          "ARG RIPPLE_IMAGE",
          "ARG FLAVOUR",
          "LABEL built.base=$RIPPLE_BASE_IMAGE built.image=$RIPPLE_IMAGE flavour=$FLAVOUR",
          "",
        ].join("\n"),
        "broken/Dockerfile": `FROM ${registry}/ripple/busybox:1\nRUN echo about to fail && false\n`,
        "fresh/Dockerfile": `FROM ${registry}/ripple/busybox:2\nLABEL app.revision=fresh\n`,
        // A step that fails with the words of a network failure in its output is still a failed build.
        "offline/Dockerfile": `FROM ${registry}/ripple/busybox:1\nRUN echo "dial tcp 10.0.0.1:443: connect: connection refused" && exit 3\n`,
      },
      "second",
    );
    // An uncommitted change in the work tree must never reach a build, nor be touched by one.
    await writeFile(join(repo, "Dockerfile"), "FROM uncommitted\n");
    repoStatusBefore = git("status", "--porcelain");

    builder = createBuildahBuilder({ buildah: stack.buildah, workDir, allowedRepositories: [repo] });
  });

  afterAll(async () => {
    await restartedRegistry?.stop();
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("builds branch main, pushes every tag and keeps the run's record and log", async () => {
    const request = sourceRequest("apps/web:2", { tags: [`${registry}/apps/web:2`, `${registry}/apps/web:2.0.1`] });
    const run = await builder.start(request);
    expect(run).toEqual(finalRun(run, "succeeded"));

    const pushed = await getManifest("apps/web", "2");
    expect(pushed.status).toBe(200);
    expect(pushed.body.mediaType).toBe(ociManifest);
    expect((pushed.body.annotations as Record<string, string>)[baseDigestAnnotation]).toBe(baseDigest);
    expect((await getManifest("apps/web", "2.0.1")).digest).toBe(pushed.digest);
    expect(await labelsOf("apps/web", "2")).toEqual({ "io.buildah.version": expect.any(String) as unknown, "app.revision": "second" });

    expect(await builder.get(run.runId)).toEqual(run);
    expect(await createBuildahBuilder({ buildah: stack.buildah, workDir, allowedRepositories: [] }).get(run.runId)).toEqual(run);
    const log = await readFile(join(workDir, "runs", run.runId, "build.log"), "utf8");
    expect(log).toContain(`$ git clone --quiet --no-hardlinks --no-checkout -- ${repo} `);
    expect(log).toContain("$ buildah bud ");
    expect(log).toContain(`\n# pushed ${registry}/apps/web:2 ${pushed.digest}\n`);
    expect(log).toContain(`\n# pushed ${registry}/apps/web:2.0.1 ${pushed.digest}\n`);
    expect(log.trimEnd().split("\n").at(-1)).toBe(`# run ${run.runId} succeeded ${run.finishedAt}`);
    expect(await runFolder(run)).toEqual(["build.log", "run.json"]);
    expect(git("status", "--porcelain")).toBe(repoStatusBefore);
  });

  it("builds older revisions (a commit, another branch) at once, each from its own Dockerfile", async () => {
    const [atCommit, atBranch] = await Promise.all([
      builder.start(sourceRequest("apps/old:commit", { revision: firstCommit })),
      builder.start(sourceRequest("apps/old:branch", { revision: "release" })),
    ]);
    expect([atCommit, atBranch]).toEqual([finalRun(atCommit, "succeeded"), finalRun(atBranch, "succeeded")]);
    expect(atCommit.runId).not.toBe(atBranch.runId);
    expect(await labelsOf("apps/old", "commit")).toEqual({ "io.buildah.version": expect.any(String) as unknown, "app.revision": "first" });
    expect(await labelsOf("apps/old", "branch")).toEqual({ "io.buildah.version": expect.any(String) as unknown, "app.revision": "first" });
  });

  it("builds a Dockerfile in a subfolder for two platforms and pushes an OCI index", async () => {
    const run = await builder.start(sourceRequest("apps/multi:2", { dockerfile: "multi/Dockerfile", context: "./multi", platforms: ["linux/amd64", "linux/arm64"] }));
    expect(run).toEqual(finalRun(run, "succeeded"));
    const index = await getManifest("apps/multi", "2");
    expect(index.status).toBe(200);
    expect(index.body.mediaType).toBe(ociIndex);
    const children = index.body.manifests as Array<{ mediaType: string; platform: { os: string; architecture: string } }>;
    const platforms = children.map((child) => ({ mediaType: child.mediaType, platform: `${child.platform.os}/${child.platform.architecture}` }));
    expect(platforms.sort((a, b) => a.platform.localeCompare(b.platform))).toEqual([
      { mediaType: ociManifest, platform: "linux/amd64" },
      { mediaType: ociManifest, platform: "linux/arm64" },
    ]);
  });

  it("passes the base digest, base, image and recipe args as build args", async () => {
    // The tag in the Dockerfile names release 1; only RIPPLE_BASE_DIGEST can make the build use release 2.
    const base = { key: `${registry}/ripple/busybox:1`, digest: otherBaseDigest };
    const run = await builder.start(sourceRequest("apps/pinned:2", { dockerfile: "pinned/Dockerfile", context: "pinned", args: { FLAVOUR: "pinned" } }, base));
    expect(run).toEqual(finalRun(run, "succeeded"));
    const pushed = await getManifest("apps/pinned", "2");
    expect((pushed.body.annotations as Record<string, string>)[baseDigestAnnotation]).toBe(otherBaseDigest);
    expect(await labelsOf("apps/pinned", "2")).toEqual({
      "io.buildah.version": expect.any(String) as unknown,
      "built.base": `${registry}/ripple/busybox:1`,
      "built.image": `${registry}/apps/pinned:2`,
      flavour: "pinned",
    });
  });

  it("reports a broken Dockerfile as a failed run with the log tail, and pushes nothing", async () => {
    const run = await builder.start(sourceRequest("apps/broken:2", { dockerfile: "broken/Dockerfile" }));
    const main = git("rev-parse", "main").slice(0, 12);
    expect(run).toEqual(finalRun(run, "failed", await reasonFrom(run, `buildah build of broken/Dockerfile at main (${main}) failed (exit 1)`)));
    expect(run.reason).toMatch(/^STEP 2\/2: RUN echo about to fail && false$/m);
    expect(await builder.get(run.runId)).toEqual(run);
    expect((await getManifest("apps/broken", "2")).status).toBe(404);
    expect(await runFolder(run)).toEqual(["build.log", "run.json"]);
  });

  it("reports a revision the repository does not have as a failed run", async () => {
    const run = await builder.start(sourceRequest("apps/missing:2", { revision: "no-such-branch" }));
    expect(run).toEqual(finalRun(run, "failed", await reasonFrom(run, `revision no-such-branch is not a commit of ${repo}`)));
    expect(run.reason).toContain(`$ git -C ${repo} rev-parse --verify --quiet no-such-branch^{commit}`);
    expect(await runFolder(run)).toEqual(["build.log", "run.json"]);
  });

  it("reports a RUN step that fails with network words in its output as a failed run, not a retryable one", async () => {
    const run = await builder.start(sourceRequest("apps/offline:2", { dockerfile: "offline/Dockerfile" }));
    const main = git("rev-parse", "main").slice(0, 12);
    expect(run).toEqual(finalRun(run, "failed", await reasonFrom(run, `buildah build of offline/Dockerfile at main (${main}) failed (exit 3)`)));
  });

  /** Starts a build expected to throw: what it threw (null if nothing), and the run folder it left. */
  async function startFailing(request: BuildRequest): Promise<{ failure: unknown; runId: string; logFile: string }> {
    const runsBefore = await readdir(join(workDir, "runs")).catch((): string[] => []);
    const failure = await builder.start(request).then(
      () => null,
      (error: unknown) => error,
    );
    const runId = (await readdir(join(workDir, "runs"))).find((name) => !runsBefore.includes(name))!;
    return { failure, runId, logFile: join(workDir, "runs", runId, "build.log") };
  }

  it("reports a push the registry refuses on the network as a retryable upstream failure, not a failed build", async () => {
    const closed = `127.0.0.1:${await findFreePort()}`;
    const { failure, runId, logFile } = await startFailing(sourceRequest("apps/unpushed:2", { tags: [`${closed}/apps/unpushed:2`] }));
    expect(failure).toMatchObject({
      name: "UpstreamError",
      code: "upstream_failed",
      retryable: true,
      service: "registry",
      status: null,
      message: `registry: buildah push of ${registry}/apps/unpushed:2 to ${closed}/apps/unpushed:2 failed on the network (connection refused); logs: ${logFile}`,
    });
    expect(await builder.get(runId)).toMatchObject({ runId, status: "failed", logsUrl: logFile, reason: expect.stringMatching(/^buildah push .* failed on the network \(connection refused\)\n/) as unknown });
  });

  /**
   * A TLS relay in front of the stack's registry that answers the first `refusals` manifest PUTs as
   * Distribution does when concurrent pushes of the same layers race in it, and records every manifest PUT.
   */
  async function startRefusingRelay(refusals: number): Promise<{ host: string; manifestPuts: string[]; close: () => Promise<void> }> {
    const manifestPuts: string[] = [];
    const relay = createHttpsServer({ cert: await readFile(stack.tls.certPath), key: await readFile(stack.tls.keyPath) }, (req, res) => {
      const isManifestPut = req.method === "PUT" && /\/manifests\//.test(req.url ?? "");
      if (isManifestPut) manifestPuts.push(req.url ?? "");
      if (isManifestPut && manifestPuts.length <= refusals) {
        req.resume();
        // Both errors, as the registry answered in the race: buildah's own retries give up on such a list.
        const errors = [{ code: "DIGEST_INVALID" }, { code: "MANIFEST_BLOB_UNKNOWN", message: "blob unknown to registry", detail: "sha256:0" }];
        res.writeHead(400, { "Content-Type": "application/json" }).end(JSON.stringify({ errors }));
        return;
      }
      const upstream = httpsRequest(`${stack.registry.url}${req.url ?? "/"}`, { method: req.method, headers: req.headers, ca: stack.tls.caPem, agent: false }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
    const close = (): Promise<void> => new Promise((resolve) => relay.close(() => resolve()));
    return { host: `127.0.0.1:${(relay.address() as AddressInfo).port}`, manifestPuts, close };
  }

  it("pushes again when the registry refuses a manifest for a blob it was just sent, as concurrent pushes of the same layers can make it", async () => {
    const relay = await startRefusingRelay(1);
    const logFile = join(dir, "raced-push.log");
    try {
      const digest = await stack.buildah.push({ image: "localhost/ripple/busybox:1", destination: `${relay.host}/apps/raced:1`, logFile });
      expect(relay.manifestPuts).toEqual(["/v2/apps/raced/manifests/1", "/v2/apps/raced/manifests/1"]);
      expect(digest).toBe((await getManifest("apps/raced", "1")).digest);
      expect(await readFile(logFile, "utf8")).toContain("\n# the registry refused the manifest for a blob it had just been sent (concurrent pushes of the same layers race in the registry); pushing again, attempt 2 of 3\n");
    } finally {
      await relay.close();
    }
  });

  it("hands a push the registry keeps refusing for an unknown blob back as a retryable upstream failure after three tries", async () => {
    const relay = await startRefusingRelay(3);
    try {
      const { failure, runId, logFile } = await startFailing(sourceRequest("apps/refused-push:2", { tags: [`${relay.host}/apps/refused-push:2`] }));
      expect(failure).toMatchObject({
        name: "UpstreamError",
        retryable: true,
        service: "registry",
        status: 400,
        message: `registry: buildah push of ${registry}/apps/refused-push:2 to ${relay.host}/apps/refused-push:2 was refused by the registry (blob unknown to registry); logs: ${logFile}`,
      });
      expect(relay.manifestPuts).toEqual(Array(3).fill("/v2/apps/refused-push/manifests/2"));
      expect(await builder.get(runId)).toMatchObject({ runId, status: "failed" });
    } finally {
      await relay.close();
    }
  });

  it("rides out a registry outage: the base pull fails as retryable while it is down, and the same build succeeds once it is back", async () => {
    // Release 2 by tag was never pulled here: the build must pull it from the registry.
    const request = sourceRequest("apps/outage:2", { dockerfile: "fresh/Dockerfile" });
    const port = Number(registry.split(":")[1]);
    await stack.registry.stop();
    try {
      await expect(builder.start(request)).rejects.toMatchObject({
        name: "UpstreamError",
        retryable: true,
        service: "registry",
        message: expect.stringMatching(new RegExp(`^registry: buildah build of fresh/Dockerfile at main \\([0-9a-f]{12}\\) failed on the network \\(connection refused\\); logs: `)) as unknown,
      });
    } finally {
      restartedRegistry = await startRegistry({ dir: join(dir, "stack", "registry"), tls: stack.tls, port, notify: { url: stack.webhookUrl, secret: stack.settings["RIPPLE_WEBHOOK_SECRET"]! } });
    }
    const run = await builder.start(request);
    expect(run).toEqual(finalRun(run, "succeeded"));
    expect((await getManifest("apps/outage", "2")).status).toBe(200);
  });

  it.each([
    ["a task recipe", (request: BuildRequest): BuildRequest => ({ ...request, recipe: { kind: "task", task: "patch-web" } }), "ACR task patch-web cannot run on the local builder"],
    ["a repository not allowed", (request: BuildRequest) => ({ ...request, recipe: { ...source(request), repository: "/srv/repos/other" } }), "repository /srv/repos/other is not a local git repository this builder may build from"],
    ["a Dockerfile outside the checkout", (request: BuildRequest) => ({ ...request, recipe: { ...source(request), dockerfile: "sub/../../Dockerfile" } }), 'dockerfile "sub/../../Dockerfile" must be a path inside the repository (relative, without ..)'],
    ["a context outside the checkout", (request: BuildRequest) => ({ ...request, recipe: { ...source(request), context: ".." } }), 'context ".." must be a path inside the repository (relative, without ..)'],
    ["an option-like revision", (request: BuildRequest) => ({ ...request, recipe: { ...source(request), revision: "-x" } }), 'revision "-x" is not a branch, tag or commit'],
    ["a tag without registry", (request: BuildRequest) => ({ ...request, recipe: { ...source(request), tags: ["apps/web:2"] } }), 'tag "apps/web:2" is not a full registry/repository:tag reference'],
  ])("refuses %s with build_request_invalid before starting a run", async (_, change, message) => {
    const runsBefore = await readdir(join(workDir, "runs")).catch(() => []);
    await expect(builder.start(change(sourceRequest("apps/refused:1")))).rejects.toMatchObject({ name: "AppError", code: "build_request_invalid", retryable: false, message });
    expect(await readdir(join(workDir, "runs")).catch(() => [])).toEqual(runsBefore);
  });

  it.each(["local-20000101000000-abcdef", "../runs", ""])("answers run_unknown for run id %j", async (runId) => {
    await expect(builder.get(runId)).rejects.toMatchObject({ name: "AppError", code: "run_unknown", message: `no local build run ${runId}` });
  });
});

describe("findNetworkFailure reads buildah's closing error only", () => {
  const tag = "127.0.0.1:5000/apps/web:2";
  it.each([
    [`Error: pushing image "x" to "docker://${tag}": trying to reuse blob sha256:1 at destination: pinging container registry 127.0.0.1:5000: Get "https://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused`, { cause: "connection refused", status: null }],
    [`Error: creating build container: initializing source docker://${tag}: reading manifest 2 in 127.0.0.1:5000/apps/web: received unexpected HTTP status: 503 Service Unavailable`, { cause: "503 Service Unavailable", status: 503 }],
    [`Error: writing blob: uploading layer chunked: StatusCode: 502, "<html>bad gateway</html>"`, { cause: "502", status: 502 }],
    [`Error: initializing source docker://${tag}: reading manifest 2 in apps/web: toomanyrequests: You have reached your pull rate limit.`, { cause: "toomanyrequests", status: 429 }],
    [`Error: initializing source docker://registry.invalid/a:1: pinging container registry registry.invalid: Get "https://registry.invalid/v2/": dial tcp: lookup registry.invalid on 127.0.0.53:53: no such host`, { cause: "no such host", status: null }],
    [`Error: pushing image: writing blob: Patch "https://r/v2/a/blobs/uploads/1": read tcp 127.0.0.1:4->127.0.0.1:5000: read: connection reset by peer`, { cause: "connection reset by peer", status: null }],
    [`Error: copying system image from manifest list: net/http: TLS handshake timeout`, { cause: "TLS handshake timeout", status: null }],
    [`Error: pushing image "x" to "docker://${tag}": writing manifest: uploading manifest 2 to ${tag}: errors:\ndigest invalid\nmanifest blob unknown: blob unknown to registry`, { cause: "blob unknown to registry", status: 400 }],
  ])("%s is a network failure", (line, expected) => {
    expect(findNetworkFailure(`STEP 1/2: FROM ${tag}\nTrying to pull...\n${line}\n`)).toEqual(expected);
  });

  it.each([
    ["a RUN step exiting non-zero, whatever its text", 'STEP 2/2: RUN curl https://x\ncurl: (7) connection refused\nError: building at STEP "RUN curl https://x || echo connection refused": while running runtime: exit status 7'],
    ["a base that does not exist", `Error: creating build container: initializing source docker://${tag}: reading manifest 2 in 127.0.0.1:5000/apps/web: manifest unknown: manifest unknown`],
    ["a Dockerfile error", 'Error: building at STEP "COPY missing /": checking on sources under "/src": copier: stat: "/missing": no such file or directory'],
    ["an authentication failure", `Error: initializing source docker://${tag}: reading manifest 2 in apps/web: unauthorized: authentication required`],
    ["network words in earlier output only", "connection refused\ntime=x level=warning msg=\"Failed, retrying\"\nError: no such image"],
    ["a blob unknown when pulling, not when writing a manifest", `Error: creating build container: copying blob sha256:1: reading blob sha256:1: blob unknown: blob unknown to registry`],
  ])("%s is not", (_, output) => {
    expect(findNetworkFailure(output)).toBeNull();
  });
});

function source(request: BuildRequest): Extract<BuildRecipe, { kind: "source" }> {
  if (request.recipe.kind !== "source") throw new Error("expected a source recipe");
  return request.recipe;
}
