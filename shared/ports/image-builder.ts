/**
 * Rebuilds an image on a new base: ACR Tasks in Azure (`scheduleRun`, `runs.get`), buildah locally.
 */

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "canceled" | "timed-out";

export const FINAL_RUN_STATUSES: readonly RunStatus[] = ["succeeded", "failed", "canceled", "timed-out"];

/** How to rebuild one image, resolved from configuration or the image's own annotations. */
export type BuildRecipe =
  | {
      /** Run an existing ACR task by name, overriding the base image values. */
      readonly kind: "task";
      readonly task: string;
    }
  | {
      /** Build from source: a git repository at a revision, a Dockerfile and its context. */
      readonly kind: "source";
      readonly repository: string;
      readonly revision: string;
      readonly dockerfile: string;
      readonly context: string;
      readonly args: Readonly<Record<string, string>>;
      /** Full references to push, `registry/repository:tag`; at least the image's own tag. */
      readonly tags: readonly string[];
      /**
       * `os/arch[/variant]`; empty means the builder's default platform. Several make a multi-platform
       * image (an index): a builder pushes it with every platform or not at all.
       */
      readonly platforms: readonly string[];
    };

export interface BuildRequest {
  /** The image being rebuilt: its tag key `registry/repository:tag`. */
  readonly image: string;
  readonly registry: string;
  readonly recipe: BuildRecipe;
  /** The base tag key and the digest the rebuild must use; passed to the build as overrides. */
  readonly base: { readonly key: string; readonly digest: string };
  /** Stable per (image, base digest): adapters that can tag a run with it do, for traceability. */
  readonly idempotencyKey: string;
  /**
   * Set when this claim was held before — an earlier attempt whose outcome is unknown, or a worker that
   * crashed before it recorded a run id — to the time (ISO) the earlier attempt began: a builder that can
   * find a run it started for this request since then returns that run instead of starting another.
   * A builder that cannot yet tell whether such a run exists throws `run_outcome_unknown` (see
   * {@link ImageBuilder.start}); the caller asks again later with the same `resumeSince`.
   */
  readonly resumeSince?: string;
  /**
   * Run ids Ripple has recorded for other requests (other (image, base digest) keys) of the registry:
   * none of them is this request's run, whatever a builder's lookup of runs since `resumeSince` finds.
   * Absent when there are none.
   */
  readonly knownRunIds?: readonly string[];
}

export interface BuildRun {
  readonly runId: string;
  readonly status: RunStatus;
  /**
   * Where the build log is, durably and without a credential: `acr-run:<registry resource>/<run id>` for ACR
   * Tasks (a live link is signed only when someone reads it, {@link ImageBuilder.signLogs}), or a local
   * file path. Never a SAS URL: run records, obligations, logs and the read API all carry this.
   */
  readonly logsUrl: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  /** Why a run failed, was canceled or timed out. */
  readonly reason: string | null;
}

export interface ImageBuilder {
  /**
   * Starts a build and returns its run. A builder that runs synchronously (buildah) returns the run in
   * its final state. Not idempotent by itself: the rebuild worker claims (image, base digest) before
   * calling it, so a redelivered job never starts a second run; with `request.resumeSince` a builder that
   * can look runs up (ACR Tasks) returns the run an earlier attempt of the claim started, if any. A pull
   * or push that fails on the network is an UpstreamError (retryable), not a failed run: the build is not
   * at fault.
   * @throws UpstreamError (retryable for network, 429, 5xx); AppError `build_request_invalid` when the
   * recipe cannot be built by this builder (not retryable); AppError `run_outcome_unknown` (retryable,
   * `details.retryAfterMs`, `details.candidates`: the run ids in question) when an earlier request of
   * this build may have started a run that cannot be told apart yet from other requests' runs: nothing
   * was started, and starting now could start a second run — ask again later with the same `resumeSince`.
   */
  start(request: BuildRequest): Promise<BuildRun>;
  /**
   * The run's current state. Idempotent. `request` is the one that started the run: a builder whose run
   * ends in a step of its own needs it to take that step (ACR Tasks pushes a multi-platform image's
   * index once every platform is built; pushing it again is harmless).
   * @throws UpstreamError as for `start`; AppError `build_request_invalid` when the run needs `request`
   * and it is missing.
   */
  get(runId: string, request?: BuildRequest): Promise<BuildRun>;
  /**
   * A link to read the log that `logsUrl` points at, made now and short-lived (ACR: the run's log SAS
   * link); for a local file, the path. Null when the builder cannot tell. For people reading a run, never
   * stored.
   * @throws UpstreamError as for `start`.
   */
  signLogs(logsUrl: string): Promise<string | null>;
}

/**
 * Source tarballs of repositories a builder cannot fetch by itself (private ones), downloaded with the
 * forge's own credentials so that none reaches the builder's service.
 */
export interface SourceArchives {
  /** Whether `repository`, as a recipe names it, is fetched here rather than cloned by the builder. */
  has(repository: string): boolean;
  /**
   * The gzipped tarball of `repository` at `revision`, as the forge serves it: one top-level folder
   * holding the repository's files. Idempotent (a read).
   * @throws UpstreamError (retryable for network, 429, 5xx); AppError `source_not_found` when the
   * repository or revision does not exist.
   */
  download(repository: string, revision: string): Promise<Uint8Array>;
}
