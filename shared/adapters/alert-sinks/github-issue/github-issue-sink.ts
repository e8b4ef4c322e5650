import type { Octokit } from "@octokit/rest";
import { z } from "zod";
import { AppError, ConfigError, UpstreamError } from "../../../errors.js";
import type { AlertMessage, AlertSink } from "../../../ports/alert-sink.js";
import { GITHUB_SERVICE, answeredWith, toGitHubError } from "../../github/github-errors.js";
import { nextPageUrl } from "../../oci/link-header.js";
import { hasAlertMarker, renderIssueBody, renderIssueTitle, shownSequence } from "./issue-body.js";

/** Issues per `GET /repos/{o}/{r}/issues` page: GitHub's maximum. */
const ISSUES_PAGE_SIZE = 100;
const REPOSITORY = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})$/;
/** What GitHub answers an installation token that lacks a permission the endpoint needs. */
const NOT_ACCESSIBLE = /not accessible by integration/i;

export interface GitHubIssueSinkOptions {
  /** The sink's id in the configuration. */
  readonly id: string;
  /** An authenticated Octokit, normally from `createGitHubOctokit` (App installation auth, retry, throttling). */
  readonly octokit: Octokit;
  /** Where the issues are opened: `owner/name`. */
  readonly repository: string;
  /** Labels every alert issue carries; the listing that looks for an alert's issue filters on all of them. Default `["ripple-alert"]`. */
  readonly labels?: readonly string[];
}

/** The issue fields the sink reads from list, get, create and update answers (lenient: GitHub adds fields). */
const Issue = z.object({
  number: z.number().int().positive(),
  state: z.string(),
  body: z.string().nullish(),
  pull_request: z.unknown().optional(),
});
type Issue = z.infer<typeof Issue>;

/** One answer of the issues list, as the sink reads it. */
interface IssuesPage {
  readonly data: unknown;
  readonly headers: { readonly link?: string };
  readonly url: string;
}

/**
 * An {@link AlertSink} that keeps one GitHub issue per alert (campaign) in one repository.
 *
 * The issue is found by the hidden marker `<!-- ripple-alert: <dedupeKey> -->` in its body: first the issue
 * `previous` names (one `GET`, kept only if it still carries the marker), else by listing the
 * repository's issues with the sink's labels in any state, newest first, 100 a page, following `Link`
 * (pull requests, which the issues list includes, are skipped). Listing rather than the search API: search
 * is eventually consistent (a just-created issue is missing for a while) and has its own, smaller limit.
 *
 * - none found: `trigger` / `update` / `renotify` / `escalate` create it (title, body, labels); `resolve`
 *   has nothing to close and returns null;
 * - found: the body is rewritten in place (`PATCH`), reopening a closed issue while the alert is active;
 *   `renotify` and `escalate` add a comment first so watchers are notified (a body edit notifies nobody);
 *   `resolve` comments `Resolved: <summary>` (once: not on an issue already closed) and closes it as completed.
 *
 * Idempotent per (dedupeKey, sequence): the body records the sequence it shows, and a delivery whose
 * sequence is not newer changes nothing. The comment is written before the body, so a failure between the
 * two repeats the comment on redelivery rather than losing it.
 *
 * Returns the issue number as a string. @throws UpstreamError as {@link AlertSink.deliver}; a 403 for a
 * missing App permission names it (`issues=write`).
 */
export function createGitHubIssueSink(options: GitHubIssueSinkOptions): AlertSink {
  const { id, octokit } = options;
  const { owner, repo } = splitRepository(options.repository, id);
  const api: IssueApi = {
    octokit,
    owner,
    repo,
    labels: [...(options.labels ?? ["ripple-alert"])],
    apiOrigin: new URL(octokit.request.endpoint.DEFAULTS.baseUrl).origin,
    action: "",
    call(action, run) {
      this.action = `github-issue sink ${id}: ${action}`;
      return run();
    },
  };

  return {
    id,
    kind: "github-issue",
    async deliver(message, previous) {
      try {
        const issue = (previous === null ? null : await findByReference(api, previous, message.dedupeKey)) ?? (await findByListing(api, message.dedupeKey));
        if (issue === null) return message.action === "resolve" ? null : await createIssue(api, message);
        // Already shown (a redelivery) or older than what is shown (out of order): nothing to do.
        if (shownSequence(issue.body) >= message.sequence) return String(issue.number);
        await updateIssue(api, issue, message);
        return String(issue.number);
      } catch (error) {
        throw toSinkError(error, api.action);
      }
    },
  };
}

/** The sink's repository and client, and the request in flight (named in a failure). */
interface IssueApi {
  readonly octokit: Octokit;
  readonly owner: string;
  readonly repo: string;
  readonly labels: readonly string[];
  /** The only origin a `Link` page may come from. */
  readonly apiOrigin: string;
  action: string;
  /** Runs one request, remembering `action` for the error it may raise. */
  call<T>(action: string, run: () => Promise<T>): Promise<T>;
}

/** The issue `previous` names, if it still exists, is no pull request and carries the alert's marker. */
async function findByReference(api: IssueApi, previous: string, dedupeKey: string): Promise<Issue | null> {
  if (!/^[1-9]\d*$/.test(previous)) return null;
  const { octokit, owner, repo } = api;
  try {
    const { data } = await api.call(`reading issue #${previous} of ${owner}/${repo}`, () => octokit.rest.issues.get({ owner, repo, issue_number: Number(previous) }));
    const issue = parseIssue(data, api.action);
    return issue.pull_request === undefined && hasAlertMarker(issue.body, dedupeKey) ? issue : null;
  } catch (error) {
    // Deleted (410), transferred or never there (404): look for the alert's issue by its marker instead.
    if (answeredWith(error, [404, 410])) return null;
    throw error;
  }
}

/** The newest issue carrying the alert's marker, listing the labelled issues in any state page by page. */
async function findByListing(api: IssueApi, dedupeKey: string): Promise<Issue | null> {
  const { octokit, owner, repo } = api;
  let next: string | null = null;
  for (let page = 1; ; page += 1) {
    const url: string | null = next;
    const response: IssuesPage = await api.call(`listing issues of ${owner}/${repo} (page ${page})`, (): Promise<IssuesPage> =>
      url === null
        ? octokit.rest.issues.listForRepo({ owner, repo, state: "all", labels: api.labels.join(","), per_page: ISSUES_PAGE_SIZE })
        : octokit.request({ method: "GET", url }),
    );
    const items = z.array(z.unknown()).safeParse(response.data);
    if (!items.success) throw new UpstreamError(GITHUB_SERVICE, `${api.action}: unexpected response body`, { retryable: false });
    const found = items.data.map((item) => parseIssue(item, api.action)).find((issue) => issue.pull_request === undefined && hasAlertMarker(issue.body, dedupeKey));
    if (found !== undefined) return found;
    next = nextPageUrl(response.headers.link, response.url, { origin: api.apiOrigin, service: GITHUB_SERVICE, action: api.action })?.href ?? null;
    if (next === null) return null;
  }
}

async function createIssue(api: IssueApi, message: AlertMessage): Promise<string> {
  const { octokit, owner, repo } = api;
  const { data } = await api.call(`creating an issue in ${owner}/${repo}`, () =>
    octokit.rest.issues.create({ owner, repo, title: renderIssueTitle(message), body: renderIssueBody(message), labels: [...api.labels] }),
  );
  return String(parseIssue(data, api.action).number);
}

/** Comments when the delivery should notify watchers, then rewrites title and body, closing or reopening the issue as the alert stands. */
async function updateIssue(api: IssueApi, issue: Issue, message: AlertMessage): Promise<void> {
  const { octokit, owner, repo } = api;
  const comment = (body: string): Promise<unknown> =>
    api.call(`commenting on issue #${issue.number} of ${owner}/${repo}`, () => octokit.rest.issues.createComment({ owner, repo, issue_number: issue.number, body }));
  const resolving = message.action === "resolve";
  if (resolving && issue.state === "open") await comment(`Resolved: ${message.summary}`);
  else if (message.action === "renotify" || message.action === "escalate") await comment(notice(message));
  const state = resolving
    ? { state: "closed" as const, state_reason: "completed" as const }
    : issue.state === "open" ? {} : { state: "open" as const, state_reason: "reopened" as const };
  await api.call(`updating issue #${issue.number} of ${owner}/${repo}`, () =>
    octokit.rest.issues.update({ owner, repo, issue_number: issue.number, title: renderIssueTitle(message), body: renderIssueBody(message), ...state }),
  );
}

/** The comment that makes watchers look again: a reminder or, for the escalation route, an escalation. */
function notice(message: AlertMessage): string {
  const what = message.action === "escalate" ? "Escalated" : "Still unresolved";
  return `${what} (${message.severity}): ${message.summary}\n\n[Campaign page](${message.campaignUrl}) · [Runbook](${message.runbookUrl})`;
}

function parseIssue(data: unknown, action: string): Issue {
  const parsed = Issue.safeParse(data);
  if (!parsed.success) throw new UpstreamError(GITHUB_SERVICE, `${action}: unexpected response body`, { retryable: false });
  return parsed.data;
}

/**
 * An Octokit failure as the port's UpstreamError ({@link toGitHubError}), and for GitHub's 403 "Resource
 * not accessible by integration" the App permission the endpoint wants, from GitHub's
 * `x-accepted-github-permissions` header (`issues=write` when it is missing).
 */
function toSinkError(error: unknown, action: string): AppError {
  const mapped = toGitHubError(error, action);
  if (!(mapped instanceof UpstreamError) || mapped.status !== 403 || mapped.retryable || !NOT_ACCESSIBLE.test(mapped.message)) return mapped;
  const accepted = (error as { response?: { headers?: Record<string, unknown> } }).response?.headers?.["x-accepted-github-permissions"];
  const permission = typeof accepted === "string" && accepted.trim() !== "" ? accepted.trim() : "issues=write";
  const text = mapped.message.slice(`${GITHUB_SERVICE}: `.length);
  return new UpstreamError(GITHUB_SERVICE, `${text}; the GitHub App installation needs the ${permission} permission`, { status: 403, retryable: false });
}

function splitRepository(repository: string, id: string): { owner: string; repo: string } {
  const match = REPOSITORY.exec(repository);
  if (match === null || match[2] === "." || match[2] === "..") {
    throw new ConfigError(`github-issue sink ${id}: repository must be owner/name`, [{ path: "repository", message: "expected owner/name" }]);
  }
  return { owner: match[1] ?? "", repo: match[2] ?? "" };
}
