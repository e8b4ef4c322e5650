import { z } from "zod";
import type { RippleConfig } from "../config.js";
import type { Forge } from "../ports/forge.js";
import type { StateStore } from "../ports/state-store.js";
import type { WorkQueue } from "../ports/work-queue.js";
import { parseWith } from "../validation.js";
import { settlePullRequest } from "./run-pull-request-job.js";

export interface GitHubEventDeps {
  readonly store: StateStore;
  readonly config: RippleConfig;
  readonly forgeFor: (repository: string) => Forge | null;
  readonly queue: WorkQueue;
  readonly now: () => Date;
}

const Repository = z.object({ full_name: z.string().regex(/^[\w.-]+\/[\w.-]+$/), default_branch: z.string().min(1).optional() });
const PushEvent = z.object({ ref: z.string().min(1), repository: Repository });
const PullRequestEvent = z.object({
  action: z.string().min(1),
  repository: Repository,
  pull_request: z.object({ number: z.number().int(), merged: z.boolean().nullable().optional(), head: z.object({ ref: z.string().min(1) }) }),
});

/**
 * The configured repository a GitHub `owner/name` is (configured as `owner/name` or its github.com URL),
 * or the name itself when every repository of the App installation is scanned (of `github.owner`, if set).
 */
export function configuredRepository(config: RippleConfig, fullName: string): string | null {
  const wanted = fullName.toLowerCase();
  for (const { url } of config.repositories) {
    const name = url.replace(/^https:\/\/github\.com\//i, "").replace(/\.git$/, "").toLowerCase();
    if (name === wanted) return url;
  }
  const owner = config.github.owner?.toLowerCase();
  if (config.github.installationRepositories && (owner === undefined || wanted.startsWith(`${owner}/`))) return fullName;
  return null;
}

export type GitHubEventOutcome = { readonly kind: "ignored"; readonly reason: string } | { readonly kind: "handled"; readonly summary: string };

/**
 * Acts on a verified GitHub webhook delivery: a `push` to a configured repository's default branch
 * queues a rescan of it (answered at once; the scan job costs one call when unchanged); a `pull_request`
 * `closed` completes (merged) or fails (closed
 * without merging) the obligations of Ripple's pull request on that branch — its current one, or an
 * earlier one Ripple recorded there before a newer one replaced it. Other events are ignored.
 * Idempotent. @throws ValidationError for a payload without the fields used; the forge's retryable errors.
 */
export async function handleGitHubEvent(deps: GitHubEventDeps, name: string, payload: unknown): Promise<GitHubEventOutcome> {
  if (name === "push") {
    const push = parseWith(PushEvent, payload, "push event");
    const repository = configuredRepository(deps.config, push.repository.full_name);
    if (repository === null) return { kind: "ignored", reason: `${push.repository.full_name} is not configured` };
    if (push.repository.default_branch !== undefined && push.ref !== `refs/heads/${push.repository.default_branch}`) return { kind: "ignored", reason: `push to ${push.ref}, not the default branch` };
    if (deps.forgeFor(repository) === null) return { kind: "ignored", reason: `no forge serves ${repository}` };
    await deps.queue.enqueue("scans", { v: 1, repository });
    return { kind: "handled", summary: `rescan of ${repository} queued` };
  }
  if (name === "pull_request") {
    const event = parseWith(PullRequestEvent, payload, "pull_request event");
    if (event.action !== "closed") return { kind: "ignored", reason: `pull_request ${event.action}` };
    const repository = configuredRepository(deps.config, event.repository.full_name);
    if (repository === null) return { kind: "ignored", reason: `${event.repository.full_name} is not configured` };
    const settled = await settlePullRequest(deps, repository, event.pull_request.head.ref, event.pull_request.merged ? "merged" : "closed", event.pull_request.number);
    return { kind: "handled", summary: `pull request #${event.pull_request.number} ${event.pull_request.merged ? "merged" : "closed"}: ${settled} obligation(s) settled` };
  }
  return { kind: "ignored", reason: `event ${name} is not used` };
}
