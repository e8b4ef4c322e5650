import { appendFile, mkdir, realpath, rm, stat } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import { AppError, UpstreamError } from "../../errors.js";
import type { BuildRequest, BuildRun, ImageBuilder } from "../../ports/image-builder.js";
import type { Buildah } from "../../local/buildah.js";
import { logSize, readLogSince, readLogTail, runCommand } from "../../local/run-command.js";
import { checkSourceRequest, type SourceBuildPlan } from "./check-source-request.js";
import { findNetworkFailure, type NetworkFailure } from "./network-failure.js";
import { createLocalRunId, isLocalRunId, readRunRecord, writeRunRecord } from "./run-record.js";

export interface CreateBuildahBuilderOptions {
  /** The stack's buildah (its own storage, CA and registries configuration). */
  readonly buildah: Buildah;
  /** Holds `runs/<runId>/` with `build.log`, `run.json` and, during a build, the checkout `src/`. */
  readonly workDir: string;
  /** Absolute paths of the local git repositories a source recipe may name. */
  readonly allowedRepositories: readonly string[];
  /** The git executable; `git` on the PATH by default. */
  readonly git?: string;
  /**
   * False to build images without manifest annotations (Docker format), so no
   * `org.opencontainers.image.base.*` names the base, as with ACR Tasks. True by default.
   */
  readonly annotations?: boolean;
}

/** Lines of the build log a failed run's `reason` carries after its one-line summary. */
const reasonTailLines = 20;

/** A step that failed in an expected way (bad revision, missing Dockerfile, buildah exit): its one-line summary. */
class StepFailure extends Error {}

/** A pull or push that failed on the network: the run failed, but building again later may well succeed. */
class NetworkStepFailure extends StepFailure {
  constructor(message: string, readonly network: NetworkFailure, options: { cause: unknown }) {
    super(message, options);
  }
}

/** The service named in the upstream error of a pull or push that failed on the network. */
export const BUILDAH_REGISTRY_SERVICE = "registry";

/**
 * The local ImageBuilder: checks a source recipe's revision out of an allowed local git repository,
 * builds it with buildah (several platforms make a manifest list) with the base image as build args,
 * and pushes it to every tag of the recipe. `start()` runs the whole build before it returns, so the
 * run it returns is final; each run keeps `runs/<runId>/build.log` (its `logsUrl`) and
 * `runs/<runId>/run.json` (read by `get()`, also from another process). Runs may overlap: each has its
 * own folders and its own local image name `localhost/ripple-build/<runId>`.
 *
 * `start()` throws AppError `build_request_invalid` (not retryable) only for a request this builder can
 * never run (task recipe, repository not allowed, option-like revision, path leaving the checkout, bad
 * tag). A pull or push that fails on the network (connection refused or reset, timeout, DNS, the
 * registry's 429 or 5xx; see {@link findNetworkFailure}) ends the run `failed` on disk and throws a
 * retryable UpstreamError of service `registry` naming the step, the cause and the log, so the caller
 * builds again later. Everything else that goes wrong once the run exists (unknown revision, missing
 * Dockerfile, a RUN step exiting non-zero, buildah or git failing) is a `failed` run whose `reason` is a
 * one-line summary plus the log's last lines. Not idempotent: each call is a new run. `get()` reads `run.json`, is idempotent and throws AppError
 * `run_unknown` for an id without a record.
 */
export function createBuildahBuilder(options: CreateBuildahBuilderOptions): ImageBuilder {
  const { buildah } = options;
  const runsDir = join(resolve(options.workDir), "runs");
  const git = options.git ?? "git";
  const gitEnv: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" };

  /** Creates a fresh run folder; a clash of random ids within one second just draws again. */
  const createRunFolder = async (): Promise<{ runId: string; runDir: string }> => {
    await mkdir(runsDir, { recursive: true });
    for (;;) {
      const runId = createLocalRunId();
      const runDir = join(runsDir, runId);
      try {
        await mkdir(runDir);
        return { runId, runDir };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
    }
  };

  const log = (logFile: string, text: string): Promise<void> => appendFile(logFile, text.endsWith("\n") ? text : `${text}\n`);

  /** Runs git with its output in the log; returns the captured output when `capture` is set instead. */
  const runGit = async (args: readonly string[], logFile: string, capture = false): Promise<{ code: number | null; output: string }> => {
    await log(logFile, `$ git ${args.join(" ")}`);
    const result = await runCommand(git, args, { cwd: runsDir, env: gitEnv, ...(capture ? {} : { logFile }) });
    if (capture && result.output !== "") await log(logFile, result.output);
    return result;
  };

  /** Fails the step unless `path` (inside the checkout) exists, is of the right kind and does not leave the checkout through a symlink. */
  const checkInsideCheckout = async (src: string, path: string, kind: "file" | "directory", what: string, at: string): Promise<string> => {
    const absolute = join(src, path);
    const real = await realpath(absolute).catch(() => undefined);
    if (real === undefined) throw new StepFailure(`${what} ${path} does not exist at ${at}`);
    const inside = relative(await realpath(src), real);
    if (inside === ".." || inside.startsWith("../") || isAbsolute(inside)) throw new StepFailure(`${what} ${path} leads outside the repository at ${at}`);
    const info = await stat(real);
    if (kind === "file" ? !info.isFile() : !info.isDirectory()) throw new StepFailure(`${what} ${path} is not a ${kind} at ${at}`);
    return absolute;
  };

  const runBuild = async (request: BuildRequest, plan: SourceBuildPlan, runId: string, runDir: string, logFile: string): Promise<void> => {
    const src = join(runDir, "src");
    const localImage = `localhost/ripple-build/${runId}`;
    const multiPlatform = plan.platforms.length > 0;

    // Resolve in the source repository (read only), so a branch name means its branch there, not a remote-tracking copy.
    const resolved = await runGit(["-C", plan.repository, "rev-parse", "--verify", "--quiet", `${plan.revision}^{commit}`], logFile, true);
    const commit = resolved.output.split("\n").map((line) => line.trim()).find((line) => /^[0-9a-f]{40,64}$/.test(line));
    if (resolved.code !== 0 || commit === undefined) throw new StepFailure(`revision ${plan.revision} is not a commit of ${plan.repository}`);
    const at = `${plan.revision} (${commit.slice(0, 12)})`;

    const clone = await runGit(["clone", "--quiet", "--no-hardlinks", "--no-checkout", "--", plan.repository, src], logFile);
    if (clone.code !== 0) throw new StepFailure(`git clone of ${plan.repository} failed (exit ${clone.code ?? "by signal"})`);
    const checkout = await runGit(["-C", src, "checkout", "--quiet", "--detach", commit], logFile);
    if (checkout.code !== 0) throw new StepFailure(`git checkout of ${at} failed (exit ${checkout.code ?? "by signal"})`);

    const dockerfile = await checkInsideCheckout(src, plan.dockerfile, "file", "Dockerfile", at);
    const context = await checkInsideCheckout(src, plan.context, "directory", "build context", at);

    await runBuildah(logFile, `buildah build of ${plan.dockerfile} at ${at}`, () =>
      buildah.build({ context, dockerfile, tag: localImage, platforms: plan.platforms, buildArgs: plan.buildArgs, logFile, annotations: options.annotations ?? true }),
    );
    for (const tag of plan.tags) {
      const digest = await runBuildah(logFile, `buildah push of ${request.image} to ${tag}`, () => buildah.push({ image: localImage, destination: tag, manifestList: multiPlatform, logFile }));
      await log(logFile, `# pushed ${tag} ${digest}`);
    }
  };

  return {
    // The log is a file of the stack's: its path is all there is to sign.
    signLogs: async (logsUrl) => logsUrl,
    async start(request) {
      const plan = checkSourceRequest(request, options.allowedRepositories);
      const { runId, runDir } = await createRunFolder();
      const logFile = join(runDir, "build.log");
      const startedAt = new Date().toISOString();
      const running: BuildRun = { runId, status: "running", logsUrl: logFile, startedAt, finishedAt: null, reason: null };
      await log(
        logFile,
        [
          `# ripple local build ${runId} started ${startedAt}`,
          `# image ${request.image} on base ${request.base.key}@${request.base.digest} (idempotency key ${request.idempotencyKey})`,
          `# source ${plan.repository} at ${plan.revision}, Dockerfile ${plan.dockerfile}, context ${plan.context}`,
          `# platforms ${plan.platforms.length > 0 ? plan.platforms.join(", ") : "default"}; tags ${plan.tags.join(", ")}`,
        ].join("\n"),
      );
      await writeRunRecord(runDir, running);

      let failure: unknown = null;
      try {
        await runBuild(request, plan, runId, runDir, logFile);
      } catch (error) {
        failure = error;
      } finally {
        await rm(join(runDir, "src"), { recursive: true, force: true });
      }

      const summary = failure === null ? null : failure instanceof StepFailure ? failure.message : `local build failed unexpectedly: ${firstLine(failure)}`;
      const finishedAt = new Date().toISOString();
      const reason = summary === null ? null : `${summary}\n${await readLogTail(logFile, reasonTailLines)}`;
      await log(logFile, summary === null ? `# run ${runId} succeeded ${finishedAt}` : `# run ${runId} failed ${finishedAt}: ${summary}`);
      const final: BuildRun = { ...running, status: summary === null ? "succeeded" : "failed", finishedAt, reason };
      await writeRunRecord(runDir, final);
      // This run is over, but the build is not at fault: the caller retries it (a new run) later.
      if (failure instanceof NetworkStepFailure) {
        throw new UpstreamError(BUILDAH_REGISTRY_SERVICE, `${failure.message}; logs: ${logFile}`, { status: failure.network.status, retryable: true, cause: failure });
      }
      return final;
    },

    async get(runId) {
      const run = isLocalRunId(runId) ? await readRunRecord(join(runsDir, runId)) : undefined;
      if (run === undefined) throw new AppError("run_unknown", `no local build run ${runId}`, { retryable: false, details: { runId } });
      return run;
    },
  };
}

/**
 * Runs one buildah command whose output goes to `logFile`. A failure is a StepFailure named `what`; one
 * whose closing error shows a pull or push failing on the network is a NetworkStepFailure.
 */
async function runBuildah<T>(logFile: string, what: string, command: () => Promise<T>): Promise<T> {
  const logged = await logSize(logFile);
  try {
    return await command();
  } catch (error) {
    const network = findNetworkFailure(await readLogSince(logFile, logged));
    if (network !== null) {
      const where = network.status === 400 ? "was refused by the registry" : "failed on the network";
      throw new NetworkStepFailure(`${what} ${where} (${network.cause})`, network, { cause: error });
    }
    throw new StepFailure(`${what} failed${exitOf(error)}`, { cause: error });
  }
}

function exitOf(error: unknown): string {
  const exitCode = error instanceof AppError ? error.details.exitCode : undefined;
  return typeof exitCode === "number" ? ` (exit ${exitCode})` : exitCode === null ? " (ended by a signal)" : `: ${firstLine(error)}`;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] ?? text;
}
