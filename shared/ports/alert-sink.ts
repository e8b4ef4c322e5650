/**
 * Where on-call hears about late or failed work: one alert per campaign, delivered to each sink of its
 * route (PagerDuty, Teams, Slack, a GitHub issue, a signed webhook, an Event Grid topic). The message is
 * plain data built by the SLA monitor; each sink renders it in its own documented format.
 */

export type AlertSeverity = "warning" | "critical";

/**
 * What this delivery is: the alert's first notification (`trigger`), a change of its items or severity
 * (`update`), a reminder while it stays unresolved (`renotify`), the first notification of the escalation
 * route (`escalate`, sent to that route's sinks only), or its end (`resolve`: every obligation done or waived).
 */
export type AlertAction = "trigger" | "update" | "renotify" | "escalate" | "resolve";

/** A link shown with an item or the alert (run logs, pull request, campaign page, runbook). */
export interface AlertLink {
  readonly label: string;
  readonly url: string;
}

/** One late, at-risk, stuck or failed obligation of the campaign. */
export interface AlertItem {
  /** The dependent: an image reference, or `repository:path:line` of a pinned file reference. */
  readonly dependent: string;
  readonly kind: "rebuild" | "pull-request";
  /** `at-risk`, `predicted-breach`, `stuck`, `overdue` or `failed`. */
  readonly status: "at-risk" | "predicted-breach" | "stuck" | "overdue" | "failed";
  /** The step that is stuck, in words: `rebuild failed: …`, `pull request #12 unmerged for 30 h`, `pending: no recipe`. */
  readonly step: string;
  readonly dueAt: string;
  /** How late it is (positive) or how much time is left (negative), in milliseconds. */
  readonly lateByMs: number;
  readonly links: readonly AlertLink[];
}

export interface AlertMessage {
  /** Stable per campaign (`ripple-<campaignId>`): PagerDuty's `dedup_key`, the GitHub issue's marker, … */
  readonly dedupeKey: string;
  readonly action: AlertAction;
  readonly severity: AlertSeverity;
  /**
   * The first line: which base moved, how many dependents are late out of how many, and by how much
   * (`docker.io/library/alpine:3.20 patched (3f1a… → 9c2e…): 2 of 14 dependents late (1 failed, 1 overdue by up to 5 h 12 min)`).
   */
  readonly summary: string;
  readonly campaignId: string;
  /** The campaign's base tag, and the digests it moved between. */
  readonly base: string;
  readonly fromDigest: string | null;
  readonly toDigest: string;
  /** Obligations in the campaign, and how many are late (overdue or failed). */
  readonly total: number;
  readonly late: number;
  /** Empty on `resolve`. */
  readonly items: readonly AlertItem[];
  /** The campaign page. */
  readonly campaignUrl: string;
  /** The runbook section for the worst item's failure kind. */
  readonly runbookUrl: string;
  /** When the monitor built this message (ISO 8601). */
  readonly at: string;
  /** Increases with every delivery of this alert: receivers can drop an out-of-order one. */
  readonly sequence: number;
}

/**
 * One configured destination. `deliver` sends one message and returns the sink's reference to what it
 * created (a Slack message `ts`, a GitHub issue number, …) or null when the sink keeps none; the next
 * delivery of the same alert gets it back as `previous`, so a sink that can update in place does.
 * Idempotent per (dedupeKey, sequence) where the service allows it.
 * @throws UpstreamError: retryable for network failures, 408, 429 (with `details.retryAfterMs` when the
 *   service says how long to wait) and 5xx; not retryable for other 4xx (a bad key, a revoked webhook),
 *   whose message names the sink and the status but never the URL, key or token.
 */
export interface AlertSink {
  /** The sink's id in the configuration (unique), used for its delivery state. */
  readonly id: string;
  /** `pagerduty`, `teams`, `slack`, `github-issue`, `webhook` or `event-grid`. */
  readonly kind: string;
  deliver(message: AlertMessage, previous: string | null): Promise<string | null>;
}

/**
 * Ripple's lifecycle events for other systems to subscribe to (an Event Grid topic), besides the alerts:
 * type `Ripple.Campaign.Opened`, `Ripple.Obligation.Done`, `Ripple.Obligation.Failed`, `Ripple.Sla.AtRisk`,
 * `Ripple.Sla.Breached`, `Ripple.Sla.Resolved`.
 */
export interface RippleEvent {
  /** Unique and stable for a redelivery of the same fact (Event Grid / CloudEvents `id`). */
  readonly id: string;
  readonly type:
    | "Ripple.Campaign.Opened"
    | "Ripple.Obligation.Done"
    | "Ripple.Obligation.Failed"
    | "Ripple.Sla.AtRisk"
    | "Ripple.Sla.Breached"
    | "Ripple.Sla.Resolved";
  /** What it is about: `campaigns/<id>` or `campaigns/<id>/obligations/<dependentKey>`. */
  readonly subject: string;
  readonly time: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface RippleEventPublisher {
  /** Publishes a batch (at most 100). @throws UpstreamError as {@link AlertSink.deliver}. */
  publish(events: readonly RippleEvent[]): Promise<void>;
}
