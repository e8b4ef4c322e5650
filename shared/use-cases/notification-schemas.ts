/**
 * Zod schemas for the registry notifications Ripple accepts: Azure Event Grid events, CloudEvents
 * 1.0, classic ACR webhooks and CNCF Distribution envelopes. Lenient by design: unknown fields are
 * allowed (and dropped); only the fields Ripple reads are required, and those are checked against
 * the OCI grammars.
 */
import type { ContainerRegistryEventRequest, ContainerRegistryEventTarget, KnownSystemEventTypes } from "@azure/eventgrid";
import { z } from "zod";
import { isTag } from "../domain/image-ref.js";

/** Event Grid / CloudEvents types Ripple recognizes, spelled as the Azure SDK spells them. */
export const ACR_EVENT_TYPES = {
  imagePushed: "Microsoft.ContainerRegistry.ImagePushed",
  imageDeleted: "Microsoft.ContainerRegistry.ImageDeleted",
  chartPushed: "Microsoft.ContainerRegistry.ChartPushed",
  chartDeleted: "Microsoft.ContainerRegistry.ChartDeleted",
} as const satisfies Record<string, KnownSystemEventTypes>;

export const SUBSCRIPTION_VALIDATION_EVENT_TYPE = "Microsoft.EventGrid.SubscriptionValidationEvent" satisfies KnownSystemEventTypes;

/** Digest algorithms registered by the OCI image spec, with the encoding each one requires. */
const REGISTERED_DIGEST_ALGORITHMS: Readonly<Record<string, { pattern: RegExp; expected: string }>> = {
  sha256: { pattern: /^[a-f0-9]{64}$/, expected: "64 lowercase hex characters" },
  sha512: { pattern: /^[a-f0-9]{128}$/, expected: "128 lowercase hex characters" },
  blake3: { pattern: /^[a-f0-9]{64}$/, expected: "64 lowercase hex characters" },
};
// OCI image spec: digest ::= algorithm ":" encoded
const DIGEST_GRAMMAR = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
// OCI distribution spec: path components of a repository name.
const REPOSITORY_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const REPOSITORY_COMPONENT_TEXT = "[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*";
const MAX_REPOSITORY_LENGTH = 255;
/** A host name has at most 253 characters (RFC 1035); six more leave room for `:port`. */
const MAX_HOST_LENGTH = 259;

/** Longest event id accepted (senders use GUIDs or UUIDs); a longer one is refused, never stored or echoed. */
export const MAX_EVENT_ID_LENGTH = 256;
/** Longest Event Grid validation code accepted (Event Grid sends a GUID); it is echoed back, so it is bounded. */
export const MAX_VALIDATION_CODE_LENGTH = 256;
/** Longest media type accepted (RFC 6838: 127 characters for the type and for the subtype, plus parameters). */
export const MAX_MEDIA_TYPE_LENGTH = 255;

/** The actions an ACR event or webhook names (Event Grid `data.action`, ACR webhook `action`). */
export const ACR_ACTIONS = ["push", "delete", "quarantine", "chart_push", "chart_delete"] as const;
/** The actions a CNCF Distribution notification names. */
export const DISTRIBUTION_ACTIONS = ["push", "pull", "mount", "delete"] as const;
const HOST_NAME = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\](?::[0-9]{1,5})?$/;

/** A value for an error message: quoted, and cut short so hostile input cannot flood a log line. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** Why `text` is not an OCI digest with a registered algorithm, or null when it is one. */
export function describeDigestProblem(text: string): string | null {
  const match = DIGEST_GRAMMAR.exec(text);
  if (match === null) return `${quote(text)} is not a digest (expected algorithm:encoded, e.g. sha256:<64 hex>)`;
  const algorithm = match[1] ?? "";
  const encoded = match[2] ?? "";
  const registered = REGISTERED_DIGEST_ALGORITHMS[algorithm];
  if (registered === undefined) return `unsupported digest algorithm ${quote(algorithm)} (expected sha256, sha512 or blake3)`;
  if (!registered.pattern.test(encoded)) return `${algorithm} digest must be ${registered.expected}`;
  return null;
}

/** Why `text` is not a tag per the OCI distribution grammar, or null when it is one. */
export function describeTagProblem(text: string): string | null {
  return isTag(text) ? null : `tag ${quote(text)} is not valid (expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127})`;
}

/** Why `text` is not a repository name per the OCI distribution grammar, or null when it is one. */
export function describeRepositoryProblem(text: string): string | null {
  if (text === "") return "repository name is empty";
  if (text.length > MAX_REPOSITORY_LENGTH) return `repository name is longer than ${MAX_REPOSITORY_LENGTH} characters`;
  if (text !== text.toLowerCase()) return `repository name ${quote(text)} must be lowercase`;
  const bad = text.split("/").find((component) => !REPOSITORY_COMPONENT.test(component));
  if (bad !== undefined) return `repository name ${quote(text)} has an invalid path component ${quote(bad)} (expected ${REPOSITORY_COMPONENT_TEXT})`;
  return null;
}

/** Why `text` is not a registry host (name or IP, optional port), or null when it is one. */
export function describeHostProblem(text: string): string | null {
  if (text.length > MAX_HOST_LENGTH) return `registry host is longer than ${MAX_HOST_LENGTH} characters`;
  return HOST_NAME.test(text) || IPV6_HOST.test(text) ? null : `${quote(text)} is not a valid registry host`;
}

function checkedString(describe: (text: string) => string | null) {
  return z.string().superRefine((text, ctx) => {
    const problem = describe(text);
    if (problem !== null) ctx.addIssue({ code: "custom", message: problem, input: text });
  });
}

const NonEmptyString = z.string().min(1, "must not be empty");

function boundedString(max: number) {
  return NonEmptyString.max(max, `longer than ${max} characters`);
}

/** A sender's event id: non-empty, at most {@link MAX_EVENT_ID_LENGTH} characters. */
export const EventId = boundedString(MAX_EVENT_ID_LENGTH);
export type EventId = z.infer<typeof EventId>;

/** A media type as a registry reports it, bounded. */
export const MediaType = boundedString(MAX_MEDIA_TYPE_LENGTH);
export type MediaType = z.infer<typeof MediaType>;

/** A size in bytes (`target.size`, `target.length`): a whole number, not negative. */
export const ByteSize = z.number({ error: "expected a number of bytes" }).int("must be a whole number of bytes").nonnegative("must not be negative");
export type ByteSize = z.infer<typeof ByteSize>;

/** An OCI content digest with a registered algorithm (`sha256:` + 64 hex, …). */
export const Digest = checkedString(describeDigestProblem);
export type Digest = z.infer<typeof Digest>;

/** An image tag (OCI distribution grammar). */
export const Tag = checkedString(describeTagProblem);
export type Tag = z.infer<typeof Tag>;

/** A repository name (OCI distribution grammar): lowercase components separated by `/`. */
export const RepositoryName = checkedString(describeRepositoryProblem);
export type RepositoryName = z.infer<typeof RepositoryName>;

/** A registry host with optional port, as the registry saw it in the HTTP `Host` header. */
export const RegistryHost = checkedString(describeHostProblem);
export type RegistryHost = z.infer<typeof RegistryHost>;

/** An RFC 3339 date-time with any offset and precision, normalized to UTC ISO 8601 (millisecond precision). */
export const Timestamp = z
  .iso.datetime({
    offset: true,
    error: (issue) => (issue.input === undefined ? "required" : "expected an RFC 3339 date-time such as 2024-05-01T12:00:00Z"),
  })
  .transform((text, ctx) => {
    const millis = Date.parse(text);
    if (Number.isNaN(millis)) {
      ctx.addIssue({ code: "custom", message: `${quote(text)} is not a real date`, input: text });
      return z.NEVER;
    }
    return new Date(millis).toISOString();
  });
export type Timestamp = z.infer<typeof Timestamp>;

/** The fields of an ACR event's `target` that Ripple reads (Event Grid, CloudEvents and ACR webhooks). */
export const AcrEventTarget = z.object({
  mediaType: MediaType.nullish(),
  size: ByteSize.nullish(),
  digest: Digest.nullish(),
  length: ByteSize.nullish(),
  repository: RepositoryName,
  tag: Tag.nullish(),
});
export type AcrEventTarget = z.infer<typeof AcrEventTarget>;

/** The fields of an ACR event's `request` that Ripple reads. */
export const AcrEventRequest = z.object({ host: RegistryHost });
export type AcrEventRequest = z.infer<typeof AcrEventRequest>;

/** `data` of `Microsoft.ContainerRegistry.ImagePushed` / `ImageDeleted`, in both Event Grid and CloudEvents schemas. */
export const AcrImageEventData = z.object({
  timestamp: Timestamp.nullish(),
  /** Checked against the event type by the parser: an `ImagePushed` naming `delete` is refused. */
  action: z.enum(ACR_ACTIONS).nullish(),
  target: AcrEventTarget,
  request: AcrEventRequest,
});
export type AcrImageEventData = z.infer<typeof AcrImageEventData>;

/** What every Event Grid schema event must carry for Ripple to route it. */
export const EventGridEventHeader = z.object({ id: EventId, eventType: NonEmptyString });
export type EventGridEventHeader = z.infer<typeof EventGridEventHeader>;

/** An Event Grid schema ACR image event. */
export const EventGridImageEvent = z.object({ eventTime: Timestamp, data: AcrImageEventData });
export type EventGridImageEvent = z.infer<typeof EventGridImageEvent>;

/** `Microsoft.EventGrid.SubscriptionValidationEvent`: the code to echo back. */
export const EventGridValidationEvent = z.object({ data: z.object({ validationCode: boundedString(MAX_VALIDATION_CODE_LENGTH) }) });
export type EventGridValidationEvent = z.infer<typeof EventGridValidationEvent>;

/** What every CloudEvents 1.0 event must carry (the spec's required attributes). */
export const CloudEventHeader = z.object({
  specversion: z.literal("1.0"),
  id: EventId,
  source: NonEmptyString,
  type: NonEmptyString,
});
export type CloudEventHeader = z.infer<typeof CloudEventHeader>;

/** A CloudEvents 1.0 ACR image event (`time` is optional in CloudEvents). */
export const CloudImageEvent = z.object({ time: Timestamp.nullish(), data: AcrImageEventData });
export type CloudImageEvent = z.infer<typeof CloudImageEvent>;

/** What every classic ACR webhook payload must carry. */
export const AcrWebhookHeader = z.object({ id: EventId, action: z.enum(ACR_ACTIONS) });
export type AcrWebhookHeader = z.infer<typeof AcrWebhookHeader>;

/** A classic ACR webhook `push` or `delete` payload. */
export const AcrWebhookImageEvent = z.object({ timestamp: Timestamp, target: AcrEventTarget, request: AcrEventRequest });
export type AcrWebhookImageEvent = z.infer<typeof AcrWebhookImageEvent>;

/** A Distribution notification envelope (`application/vnd.docker.distribution.events.v1+json`). */
export const DistributionEnvelope = z.object({ events: z.array(z.unknown()).min(1, "expected at least one event") });
export type DistributionEnvelope = z.infer<typeof DistributionEnvelope>;

/** What every Distribution event must carry to be routed (kept loose: pull and blob events are skipped). */
export const DistributionEventHeader = z.object({
  id: EventId,
  action: z.enum(DISTRIBUTION_ACTIONS),
  target: z.object({ mediaType: z.string().nullish(), url: z.string().nullish() }),
});
export type DistributionEventHeader = z.infer<typeof DistributionEventHeader>;

/** A Distribution manifest or tag event. A delete may name only a digest or only a tag. */
export const DistributionImageEvent = z.object({
  timestamp: Timestamp,
  target: z.object({
    mediaType: MediaType.nullish(),
    size: ByteSize.nullish(),
    digest: Digest.nullish(),
    length: ByteSize.nullish(),
    repository: RepositoryName,
    tag: Tag.nullish(),
    url: z.string().nullish(),
  }),
  request: z.object({ host: RegistryHost.nullish() }).nullish(),
});
export type DistributionImageEvent = z.infer<typeof DistributionImageEvent>;

// Every ACR field read above exists in the Azure SDK's model of the event, so a rename there breaks the build.
type FieldsExist<Ours, Theirs> = Exclude<keyof Ours, keyof Theirs> extends never ? true : never;
const _targetFieldsExist: FieldsExist<AcrEventTarget, ContainerRegistryEventTarget> = true;
const _requestFieldsExist: FieldsExist<AcrEventRequest, ContainerRegistryEventRequest> = true;
