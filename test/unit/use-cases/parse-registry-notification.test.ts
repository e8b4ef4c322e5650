import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createHash } from "node:crypto";
import { dedupeKey, MAX_EVENT_CLOCK_SKEW_MS, type RegistryEvent } from "../../../shared/domain/registry-event.js";
import { AppError, ValidationError } from "../../../shared/errors.js";
import {
  describeDigestProblem,
  describeHostProblem,
  describeRepositoryProblem,
  describeTagProblem,
} from "../../../shared/use-cases/notification-schemas.js";
import {
  MAX_EVENTS_PER_REQUEST,
  MAX_NOTIFICATION_BYTES,
  parseRegistryNotification,
  parseRegistryPayload,
  TOO_MANY_EVENTS,
  type NotificationOutcome,
  type NotificationRequest,
  type RejectedNotification,
} from "../../../shared/use-cases/parse-registry-notification.js";
import { formatZodIssues, parseWith } from "../../../shared/validation.js";

const ALPINE = "sha256:d7da5c9ac94d4001a86d3f84b71dd50f9d454ce36b7af0f6c4aed6ef0c50cfd4";
const ALPINE_OLD = "sha256:af96152c3e888453a73509f914933ac4f2204ecabf0a2393cf8c27b197c1721a";
const WEB = "sha256:4315c8fd5a82533f56a83922bc1d5a2cff2b1f1e76117f66673abbcffd6c9fff";
const WORKER = "sha256:8ca4691c01948498afe3cce7ad3c40781d37b67e1055d56c43d9662ebb737394";
const DEBIAN = "sha256:cae66afe3057e4eb553d161dd813fb8e53fc3493d0b0804fdc40214a589247de";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json";
const ACR = "ripplebase.azurecr.io";
const LOCAL = "127.0.0.1:5000";
const CHART_REASON = "Helm chart events are not tracked";
const BLOB_REASON = "blob events are not tracked (only manifests and tags)";

function fixture(name: string): string {
  return readFileSync(new URL(`../../fixtures/events/${name}`, import.meta.url), "utf8");
}

function event(fields: Partial<RegistryEvent> & Pick<RegistryEvent, "id" | "source" | "occurredAt">): RegistryEvent {
  return { action: "push", registry: ACR, repository: "base/alpine", tag: null, digest: null, mediaType: null, ...fields };
}

function events(list: RegistryEvent[], ignored: { id: string; type: string; reason: string }[] = [], rejected: RejectedNotification[] = []): NotificationOutcome {
  return { kind: "events", events: list, ignored, rejected };
}

/** Runs `parse` and returns the ValidationError it throws, as plain data. */
function validationErrorOf(parse: () => unknown): { message: string; issues: ReadonlyArray<{ path: string; message: string }> } {
  try {
    parse();
  } catch (error) {
    if (error instanceof ValidationError) return { message: error.message, issues: error.issues };
    throw error;
  }
  throw new Error("expected a ValidationError, but parsing succeeded");
}

function post(body: string, headers: Record<string, string> = {}): NotificationRequest {
  return { method: "POST", headers: { "content-type": "application/json", ...headers }, body };
}

describe("parseRegistryPayload on the sample payloads", () => {
  it.each<[string, NotificationOutcome]>([
    [
      "eventgrid-image-pushed.json",
      events([
        event({
          id: "5f1c2a7e-8d0b-4c4e-9b61-3a1f0e6c2d41",
          source: "eventgrid",
          tag: "3.20",
          digest: ALPINE,
          mediaType: OCI_INDEX,
          occurredAt: "2024-06-03T09:15:01.976Z",
        }),
      ]),
    ],
    [
      "eventgrid-image-deleted.json",
      events([
        event({
          id: "9a4e0c3b-71d2-4f58-b0e6-c2d81f6a5e17",
          source: "eventgrid",
          action: "delete",
          digest: ALPINE_OLD,
          mediaType: DOCKER_V2,
          occurredAt: "2024-06-04T17:56:00.996Z",
        }),
      ]),
    ],
    [
      "eventgrid-chart-pushed.json",
      events([], [{ id: "ea3a9c28-5b17-40f6-a500-3f02b6829277", type: "Microsoft.ContainerRegistry.ChartPushed", reason: CHART_REASON }]),
    ],
    [
      "eventgrid-subscription-validation.json",
      { kind: "handshake", status: 200, headers: {}, body: { validationResponse: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" } },
    ],
    [
      "eventgrid-batch.json",
      events(
        [
          event({
            id: "1b6f0f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b",
            source: "eventgrid",
            repository: "apps/web",
            tag: "1.4.2",
            digest: WEB,
            mediaType: DOCKER_V2,
            occurredAt: "2024-06-06T08:00:02.500Z",
          }),
          event({
            id: "d8c4b2a0-9e7f-4d6c-b5a4-392817a6f5e4",
            source: "eventgrid",
            action: "delete",
            repository: "apps/worker",
            digest: WORKER,
            mediaType: DOCKER_V2,
            occurredAt: "2024-06-06T09:09:59.800Z",
          }),
        ],
        [
          { id: "c0ffee00-1111-4222-8333-944455556666", type: "Microsoft.Storage.BlobCreated", reason: "event type is not handled" },
          { id: "39136b3a-1a7e-416f-a09e-5c85d5402fca", type: "Microsoft.ContainerRegistry.ChartDeleted", reason: CHART_REASON },
        ],
      ),
    ],
    [
      "cloudevents-image-pushed.json",
      events([
        event({
          id: "831e1650-001e-001b-66ab-eeb76e069631",
          source: "cloudevents",
          repository: "base/debian",
          tag: "12",
          digest: DEBIAN,
          mediaType: DOCKER_V2,
          occurredAt: "2024-06-07T21:39:47.276Z",
        }),
      ]),
    ],
    [
      "cloudevents-batch.json",
      events(
        [
          event({
            id: "2e4c6a8e-0b2d-4f6a-8c0e-1a3c5e7a9c1e",
            source: "cloudevents",
            tag: "3.20",
            digest: ALPINE,
            mediaType: OCI_INDEX,
            occurredAt: "2024-06-08T06:00:00.750Z",
          }),
          event({
            id: "f06e3921-301f-42ec-b368-212f7d5354bd",
            source: "cloudevents",
            action: "delete",
            digest: ALPINE_OLD,
            mediaType: DOCKER_V2,
            occurredAt: "2024-06-08T06:05:00.996Z",
          }),
        ],
        [{ id: "ea3a9c28-5b17-40f6-a500-3f02b6829279", type: "Microsoft.ContainerRegistry.ChartPushed", reason: CHART_REASON }],
      ),
    ],
    [
      // The sample's request host is "RippleBase.azurecr.io": the registry comes out lowercase.
      "acr-webhook-push.json",
      events([
        event({
          id: "cb8c3971-9adc-488b-bdd8-43cbb4974ff5",
          source: "acr-webhook",
          repository: "apps/web",
          tag: "1.4.2",
          digest: WEB,
          mediaType: DOCKER_V2,
          occurredAt: "2024-06-09T16:52:01.343Z",
        }),
      ]),
    ],
    [
      "acr-webhook-delete.json",
      events([
        event({
          id: "afc359ce-df7f-4e32-bdde-1ff8aa80927b",
          source: "acr-webhook",
          action: "delete",
          repository: "apps/web",
          digest: WEB,
          mediaType: DOCKER_V2,
          occurredAt: "2024-06-09T16:54:53.657Z",
        }),
      ]),
    ],
    ["acr-webhook-chart-push.json", events([], [{ id: "6356e9e0-627f-4fed-a5ea-d7c4e7d5f8a1", type: "chart_push", reason: CHART_REASON }])],
    [
      "distribution-push.json",
      events(
        [
          event({
            id: "2a0d4e6c-8f0b-4c2d-9e4a-6b8c0d2e4a6c",
            source: "distribution",
            registry: LOCAL,
            tag: "3.20",
            digest: ALPINE,
            mediaType: OCI_INDEX,
            occurredAt: "2024-06-10T10:30:05.512Z",
          }),
        ],
        [
          { id: "0e8b2c4a-6d8f-4a0b-9c2e-4f6a8b0c2e4a", type: "push", reason: BLOB_REASON },
          { id: "1f9c3d5b-7e9a-4b1c-8d3f-5a7b9c1d3f5b", type: "push", reason: BLOB_REASON },
        ],
      ),
    ],
    [
      "distribution-pull.json",
      events(
        [],
        [
          { id: "320678d8-ca14-430f-8bb6-4ca139cd83f7", type: "pull", reason: "pull events do not change what a tag points at" },
          { id: "4b2e6f8d-0a1c-4d3e-9f5b-7c9d1e3f5a7b", type: "mount", reason: "mount events do not change what a tag points at" },
        ],
      ),
    ],
    [
      "distribution-delete.json",
      events([
        event({
          id: "5c3f7a9e-1b2d-4e4f-a06c-8d0e2f4a6b8c",
          source: "distribution",
          action: "delete",
          registry: LOCAL,
          digest: ALPINE_OLD,
          occurredAt: "2024-06-11T08:00:00.000Z",
        }),
        event({
          id: "6d4a8b0f-2c3e-4f5a-b17d-9e1f3a5b7c9d",
          source: "distribution",
          action: "delete",
          registry: LOCAL,
          tag: "3.19",
          occurredAt: "2024-06-11T08:00:01.000Z",
        }),
      ]),
    ],
  ])("%s", (name, expected) => {
    expect(parseRegistryPayload(fixture(name))).toEqual(expected);
  });
});

const eventGridPush = (JSON.parse(fixture("eventgrid-image-pushed.json")) as unknown[])[0] as Record<string, unknown>;
const pushedFromEventGrid = event({
  id: "5f1c2a7e-8d0b-4c4e-9b61-3a1f0e6c2d41",
  source: "eventgrid",
  tag: "3.20",
  digest: ALPINE,
  mediaType: OCI_INDEX,
  occurredAt: "2024-06-03T09:15:01.976Z",
});

/** The Event Grid push sample with `change` applied to a deep copy. */
function eventGridPushWith(change: (copy: { data: { target: Record<string, unknown>; request?: Record<string, unknown>; timestamp?: unknown } } & Record<string, unknown>) => void): string {
  const copy = structuredClone(eventGridPush) as Parameters<typeof change>[0];
  change(copy);
  return JSON.stringify([copy]);
}

const distributionPush = JSON.parse(fixture("distribution-push.json")) as { events: Record<string, unknown>[] };
const manifestPush = distributionPush.events[2] as { target: Record<string, unknown>; request?: unknown } & Record<string, unknown>;

/** A Distribution envelope holding the manifest push sample with `change` applied to a deep copy. */
function distributionWith(change: (copy: typeof manifestPush) => void): string {
  const copy = structuredClone(manifestPush);
  change(copy);
  return JSON.stringify({ events: [copy] });
}

describe("parseRegistryNotification", () => {
  it("detects Event Grid from the aeg-event-type header", () => {
    const outcome = parseRegistryNotification(post(fixture("eventgrid-image-pushed.json"), { "aeg-event-type": "Notification" }));
    expect(outcome).toEqual(events([pushedFromEventGrid]));
  });

  it("answers the Event Grid subscription validation handshake", () => {
    const outcome = parseRegistryNotification(post(fixture("eventgrid-subscription-validation.json"), { "aeg-event-type": "SubscriptionValidation" }));
    expect(outcome).toEqual({ kind: "handshake", status: 200, headers: {}, body: { validationResponse: "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" } });
  });

  it("rejects a SubscriptionValidation delivery that holds no validation event", () => {
    const error = validationErrorOf(() => parseRegistryNotification(post(fixture("eventgrid-image-pushed.json"), { "aeg-event-type": "SubscriptionValidation" })));
    const message = "aeg-event-type is SubscriptionValidation but no Microsoft.EventGrid.SubscriptionValidationEvent is present";
    expect(error).toEqual({ message: `Event Grid notification: (root): ${message}`, issues: [{ path: "(root)", message }] });
  });

  it("answers the CloudEvents webhook validation handshake", () => {
    const outcome = parseRegistryNotification({
      method: "OPTIONS",
      headers: { "webhook-request-origin": "eventgrid.azure.net", "webhook-request-rate": "120" },
      body: "",
    });
    expect(outcome).toEqual({
      kind: "handshake",
      status: 200,
      headers: { "WebHook-Allowed-Origin": "eventgrid.azure.net", "WebHook-Allowed-Rate": "*" },
      body: null,
    });
  });

  it("rejects an OPTIONS request without WebHook-Request-Origin", () => {
    const error = validationErrorOf(() => parseRegistryNotification({ method: "options", headers: {}, body: "" }));
    expect(error).toEqual({
      message: "CloudEvents notification: headers.webhook-request-origin: required for the CloudEvents webhook validation handshake",
      issues: [{ path: "headers.webhook-request-origin", message: "required for the CloudEvents webhook validation handshake" }],
    });
  });

  it("parses a structured CloudEvent by its content type", () => {
    const outcome = parseRegistryNotification(post(fixture("cloudevents-image-pushed.json"), { "content-type": "application/cloudevents+json; charset=utf-8" }));
    expect(outcome).toEqual(
      events([
        event({
          id: "831e1650-001e-001b-66ab-eeb76e069631",
          source: "cloudevents",
          repository: "base/debian",
          tag: "12",
          digest: DEBIAN,
          mediaType: DOCKER_V2,
          occurredAt: "2024-06-07T21:39:47.276Z",
        }),
      ]),
    );
  });

  it("parses a Distribution envelope by its content type", () => {
    const outcome = parseRegistryNotification(post(fixture("distribution-delete.json"), { "content-type": "application/vnd.docker.distribution.events.v1+json" }));
    expect(outcome).toEqual(
      events([
        event({ id: "5c3f7a9e-1b2d-4e4f-a06c-8d0e2f4a6b8c", source: "distribution", action: "delete", registry: LOCAL, digest: ALPINE_OLD, occurredAt: "2024-06-11T08:00:00.000Z" }),
        event({ id: "6d4a8b0f-2c3e-4f5a-b17d-9e1f3a5b7c9d", source: "distribution", action: "delete", registry: LOCAL, tag: "3.19", occurredAt: "2024-06-11T08:00:01.000Z" }),
      ]),
    );
  });

  it.each([
    ["application/cloudevents+json", fixture("cloudevents-batch.json"), "expected a JSON object, not an array"],
    ["application/cloudevents-batch+json", fixture("cloudevents-image-pushed.json"), "expected a JSON array of events"],
  ])("rejects a body whose shape contradicts %s", (contentType, body, message) => {
    expect(validationErrorOf(() => parseRegistryNotification(post(body, { "content-type": contentType })))).toEqual({
      message: `CloudEvents notification: (root): ${message}`,
      issues: [{ path: "(root)", message }],
    });
  });

  it("trusts the content type over the shape: an Event Grid body sent as a CloudEvent is invalid", () => {
    const error = validationErrorOf(() => parseRegistryNotification(post(JSON.stringify(eventGridPush), { "content-type": "application/cloudevents+json" })));
    expect(error).toEqual({
      message: "CloudEvents notification: specversion: required",
      issues: [
        { path: "specversion", message: "required" },
        { path: "source", message: "required" },
        { path: "type", message: "required" },
      ],
    });
  });
});

describe("refusing hostile corners (issue #10)", () => {
  const validation = (JSON.parse(fixture("eventgrid-subscription-validation.json")) as unknown[])[0] as Record<string, unknown>;
  const LONG = "x".repeat(100_000);

  it.each<[string, string, string, string]>([
    [
      "a push that precedes a subscription validation event in the same batch",
      JSON.stringify([eventGridPush, validation]),
      "1.eventType",
      "a subscription validation event must be the only event of its delivery (this one has 2)",
    ],
    [
      "a push that follows a subscription validation event in the same batch",
      JSON.stringify([validation, eventGridPush]),
      "0.eventType",
      "a subscription validation event must be the only event of its delivery (this one has 2)",
    ],
    ["a 100 KB validation code", JSON.stringify([{ ...validation, data: { validationCode: LONG } }]), "0.data.validationCode", "longer than 256 characters"],
    ["a 100 KB Event Grid id", JSON.stringify([{ ...eventGridPush, id: LONG }]), "0.id", "longer than 256 characters"],
    ["an id of 257 characters", JSON.stringify([{ ...eventGridPush, id: "i".repeat(257) }]), "0.id", "longer than 256 characters"],
    [
      "an ImagePushed whose data.action is delete",
      eventGridPushWith((copy) => {
        (copy.data as Record<string, unknown>).action = "delete";
      }),
      "0.data.action",
      '"delete" contradicts the event type Microsoft.ContainerRegistry.ImagePushed (expected "push")',
    ],
    [
      "an unknown data.action",
      eventGridPushWith((copy) => {
        (copy.data as Record<string, unknown>).action = "explode";
      }),
      "0.data.action",
      'Invalid option: expected one of "push"|"delete"|"quarantine"|"chart_push"|"chart_delete"',
    ],
    [
      "a non-numeric size",
      eventGridPushWith((copy) => {
        copy.data.target.size = "9218";
      }),
      "0.data.target.size",
      "expected a number of bytes",
    ],
    [
      "a negative length",
      eventGridPushWith((copy) => {
        copy.data.target.length = -1;
      }),
      "0.data.target.length",
      "must not be negative",
    ],
    [
      "a fractional size",
      eventGridPushWith((copy) => {
        copy.data.target.size = 1.5;
      }),
      "0.data.target.size",
      "must be a whole number of bytes",
    ],
    [
      "a media type over 255 characters",
      eventGridPushWith((copy) => {
        copy.data.target.mediaType = `application/${"x".repeat(250)}`;
      }),
      "0.data.target.mediaType",
      "longer than 255 characters",
    ],
    [
      "a registry host over 259 characters",
      eventGridPushWith((copy) => {
        copy.data.request = { host: `${"a".repeat(63)}.`.repeat(5) + "io" };
      }),
      "0.data.request.host",
      "registry host is longer than 259 characters",
    ],
  ])("refuses %s with the path (Event Grid)", (_name, body, path, message) => {
    expect(validationErrorOf(() => parseRegistryNotification(post(body, { "aeg-event-type": "Notification" })))).toEqual({
      message: `Event Grid notification: ${path}: ${message}`,
      issues: [{ path, message }],
    });
  });

});

describe("refusing hostile corners of the other formats, the per-request limit and future times (issue #10)", () => {
  const SKEWED = new Date(Date.parse("2026-11-26T10:00:00Z") + MAX_EVENT_CLOCK_SKEW_MS + 1000).toISOString();
  const LONG = "x".repeat(100_000);

  it.each<[string, Record<string, unknown>, string, string]>([
    ["an unknown action", { action: "explode" }, "action", 'Invalid option: expected one of "push"|"delete"|"quarantine"|"chart_push"|"chart_delete"'],
    ["a 100 KB id", { id: LONG }, "id", "longer than 256 characters"],
    ["a negative size", { target: { ...(JSON.parse(fixture("acr-webhook-push.json")) as { target: object }).target, size: -524 } }, "target.size", "must not be negative"],
  ])("refuses an ACR webhook with %s", (_name, change, path, message) => {
    const body = JSON.stringify({ ...(JSON.parse(fixture("acr-webhook-push.json")) as Record<string, unknown>), ...change });
    expect(validationErrorOf(() => parseRegistryNotification(post(body)))).toEqual({ message: `ACR webhook notification: ${path}: ${message}`, issues: [{ path, message }] });
  });

  it("refuses a CloudEvent whose data.action contradicts its type", () => {
    const cloud = JSON.parse(fixture("cloudevents-image-pushed.json")) as { data: Record<string, unknown> } & Record<string, unknown>;
    const body = JSON.stringify({ ...cloud, data: { ...cloud.data, action: "delete" } });
    const message = '"delete" contradicts the event type Microsoft.ContainerRegistry.ImagePushed (expected "push")';
    expect(validationErrorOf(() => parseRegistryNotification(post(body, { "content-type": "application/cloudevents+json" })))).toEqual({
      message: `CloudEvents notification: data.action: ${message}`,
      issues: [{ path: "data.action", message }],
    });
  });

  it("accepts a data.action that agrees with the event type, and sizes of zero", () => {
    const body = eventGridPushWith((copy) => {
      (copy.data as Record<string, unknown>).action = "push";
      copy.data.target.size = 0;
    });
    expect(parseRegistryNotification(post(body))).toEqual(events([pushedFromEventGrid]));
  });

  it.each<[string, string, (count: number) => string]>([
    ["an Event Grid batch", "application/json", (n) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ ...eventGridPush, id: `e${i}` })))],
    ["a CloudEvents batch", "application/cloudevents-batch+json", (n) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ ...(JSON.parse(fixture("cloudevents-image-pushed.json")) as object), id: `c${i}` })))],
    ["a Distribution envelope", "application/vnd.docker.distribution.events.v1+json", (n) => JSON.stringify({ events: Array.from({ length: n }, (_, i) => ({ ...manifestPush, id: `d${i}` })) })],
  ])("refuses %s of more than the per-request limit, and takes one of exactly the limit", (_name, contentType, body) => {
    let thrown: unknown = null;
    try {
      parseRegistryNotification(post(body(MAX_EVENTS_PER_REQUEST + 1), { "content-type": contentType }));
    } catch (error) {
      thrown = error;
    }
    expect(thrown instanceof AppError ? { code: thrown.code, message: thrown.message, details: thrown.details } : thrown).toEqual({
      code: TOO_MANY_EVENTS,
      message: "501 events in one request, over the limit of 500",
      details: { count: 501, limit: 500 },
    });
    const outcome = parseRegistryNotification(post(body(MAX_EVENTS_PER_REQUEST), { "content-type": contentType }));
    expect(outcome.kind === "events" ? outcome.events.length : outcome.kind).toBe(MAX_EVENTS_PER_REQUEST);
  });

  it("rejects on its own an event dated beyond the clock skew, keeping the rest of the batch (Event Grid)", () => {
    const now = new Date("2026-11-26T10:00:00Z");
    const future = { ...eventGridPush, id: "future", eventTime: "9999-01-01T00:00:00Z", data: { ...(eventGridPush.data as object), timestamp: undefined } };
    const skewed = { ...eventGridPush, id: "skewed", data: { ...(eventGridPush.data as object), timestamp: SKEWED } };
    const withinSkew = new Date(now.getTime() + MAX_EVENT_CLOCK_SKEW_MS).toISOString();
    const onTheEdge = { ...eventGridPush, id: "edge", data: { ...(eventGridPush.data as object), timestamp: withinSkew } };
    const outcome = parseRegistryNotification(post(JSON.stringify([eventGridPush, future, skewed, onTheEdge])), { now });
    const futureEvent = { ...pushedFromEventGrid, id: "future", occurredAt: "9999-01-01T00:00:00.000Z" };
    const skewedEvent = { ...pushedFromEventGrid, id: "skewed", occurredAt: SKEWED };
    expect(outcome).toEqual(
      events([pushedFromEventGrid, { ...pushedFromEventGrid, id: "edge", occurredAt: withinSkew }], [], [
        { key: dedupeKey(futureEvent), event: futureEvent, path: "1.eventTime", reason: "event time 9999-01-01T00:00:00.000Z is more than 5 minutes ahead of the receiver's clock (2026-11-26T10:00:00.000Z)" },
        { key: dedupeKey(skewedEvent), event: skewedEvent, path: "2.data.timestamp", reason: `event time ${SKEWED} is more than 5 minutes ahead of the receiver's clock (2026-11-26T10:00:00.000Z)` },
      ]),
    );
  });

  it("checks no clock when none is given (the CLI's own files), and then reports a future event as invalid only if asked to", () => {
    const body = eventGridPushWith((copy) => {
      copy.data.timestamp = "9999-01-01T00:00:00Z";
    });
    expect(parseRegistryPayload(body)).toEqual(events([{ ...pushedFromEventGrid, occurredAt: "9999-01-01T00:00:00.000Z" }]));
    expect(validationErrorOf(() => parseRegistryPayload(body, undefined, { now: new Date("2026-11-26T10:00:00Z") }))).toEqual({
      message: "Event Grid notification: 0.data.timestamp: event time 9999-01-01T00:00:00.000Z is more than 5 minutes ahead of the receiver's clock (2026-11-26T10:00:00.000Z)",
      issues: [{ path: "0.data.timestamp", message: "event time 9999-01-01T00:00:00.000Z is more than 5 minutes ahead of the receiver's clock (2026-11-26T10:00:00.000Z)" }],
    });
  });
});

describe("a Distribution envelope is read event by event (issue #10, defect 6)", () => {
  const DISTRIBUTION = { "content-type": "application/vnd.docker.distribution.events.v1+json" };
  const good = structuredClone(manifestPush);
  const goodEvent = event({ id: "2a0d4e6c-8f0b-4c2d-9e4a-6b8c0d2e4a6c", source: "distribution", registry: LOCAL, tag: "3.20", digest: ALPINE, mediaType: OCI_INDEX, occurredAt: "2024-06-10T10:30:05.512Z" });
  const keyOf = (value: unknown) => `rejected|${createHash("sha256").update(JSON.stringify(value)).digest("hex")}`;

  it.each<[string, Record<string, unknown>, string, string]>([
    ["a bad digest", { ...good, id: "bad", target: { ...good.target, digest: "sha256:nope" } }, "events.1.target.digest", NOT_HEX],
    ["an unknown action", { ...good, id: "bad", action: "explode" }, "events.1.action", 'Invalid option: expected one of "push"|"pull"|"mount"|"delete"'],
    ["a 100 KB id", { ...good, id: "i".repeat(100_000) }, "events.1.id", "longer than 256 characters"],
    ["a negative size", { ...good, id: "bad", target: { ...good.target, size: -1 } }, "events.1.target.size", "must not be negative"],
    ["a string length", { ...good, id: "bad", target: { ...good.target, length: "1" } }, "events.1.target.length", "expected a number of bytes"],
    ["no host", { ...good, id: "bad", request: undefined, target: { ...good.target, url: undefined } }, "events.1.request.host", "required (and there is no target.url to take the host from)"],
    ["not an object", 42 as unknown as Record<string, unknown>, "events.1", "Invalid input: expected object, received number"],
  ])("keeps the valid event and rejects one with %s, with its path", (_name, bad, path, reason) => {
    const body = JSON.stringify({ events: [good, bad] });
    expect(parseRegistryNotification(post(body, DISTRIBUTION))).toEqual(events([goodEvent], [], [{ key: keyOf(bad), event: null, path, reason }]));
  });

  it("reports the first bad event as a ValidationError to the CLI, which reads files, not deliveries", () => {
    const bad = { ...good, id: "bad", target: { ...good.target, digest: "sha256:nope" } };
    expect(validationErrorOf(() => parseRegistryPayload(JSON.stringify({ events: [good, bad] })))).toEqual({
      message: `Distribution notification: events.1.target.digest: ${NOT_HEX}`,
      issues: [{ path: "events.1.target.digest", message: NOT_HEX }],
    });
  });
});

describe("parseRegistryPayload edge cases", () => {
  it("accepts a single Event Grid event that is not wrapped in an array", () => {
    expect(parseRegistryPayload(JSON.stringify(eventGridPush))).toEqual(events([pushedFromEventGrid]));
  });

  it("falls back to eventTime when data.timestamp is absent", () => {
    const body = eventGridPushWith((copy) => {
      delete copy.data.timestamp;
    });
    expect(parseRegistryPayload(body)).toEqual(events([{ ...pushedFromEventGrid, occurredAt: "2024-06-03T09:15:02.481Z" }]));
  });

  it("accepts a sha512 digest", () => {
    const digest = `sha512:${"ab".repeat(64)}`;
    const body = eventGridPushWith((copy) => {
      copy.data.target.digest = digest;
    });
    expect(parseRegistryPayload(body)).toEqual(events([{ ...pushedFromEventGrid, digest }]));
  });

  it("takes a Distribution registry host from target.url when the request has none", () => {
    const body = distributionWith((copy) => {
      delete copy.request;
      copy.target.url = `https://Registry.Example.com:5443/v2/base/alpine/manifests/${ALPINE}`;
    });
    expect(parseRegistryPayload(body)).toEqual(
      events([
        event({
          id: "2a0d4e6c-8f0b-4c2d-9e4a-6b8c0d2e4a6c",
          source: "distribution",
          registry: "registry.example.com:5443",
          tag: "3.20",
          digest: ALPINE,
          mediaType: OCI_INDEX,
          occurredAt: "2024-06-10T10:30:05.512Z",
        }),
      ]),
    );
  });

  it("ignores a Distribution repository deletion, which names neither digest nor tag", () => {
    const body = JSON.stringify({
      events: [{ id: "repo-del-1", timestamp: "2024-06-11T09:00:00Z", action: "delete", target: { repository: "base/alpine" }, request: { host: LOCAL } }],
    });
    expect(parseRegistryPayload(body)).toEqual(events([], [{ id: "repo-del-1", type: "delete", reason: "repository deletions are not tracked" }]));
  });

  it("ignores Distribution layer pushes named by a layer media type without a URL", () => {
    const body = distributionWith((copy) => {
      copy.target.mediaType = "application/vnd.oci.image.layer.v1.tar+gzip";
      delete copy.target.url;
    });
    expect(parseRegistryPayload(body)).toEqual(events([], [{ id: "2a0d4e6c-8f0b-4c2d-9e4a-6b8c0d2e4a6c", type: "push", reason: BLOB_REASON }]));
  });
});

const OVERSIZED = JSON.stringify([{ ...eventGridPush, padding: "x".repeat(MAX_NOTIFICATION_BYTES) }]);
const NOT_HEX = "sha256 digest must be 64 lowercase hex characters";

describe("hostile input", () => {
  it.each<[string, string, string, string]>([
    ["truncated JSON", fixture("eventgrid-image-pushed.json").slice(0, 200), "registry notification: (root)", "body is not valid JSON"],
    ["an empty body", "", "registry notification: (root)", "body is empty"],
    ["a blank body", " \n\t ", "registry notification: (root)", "body is empty"],
    ["a body over 1 MiB", OVERSIZED, "registry notification: (root)", `body is ${Buffer.byteLength(OVERSIZED)} bytes, over the 1 MiB limit`],
    ["an empty array", "[]", "Event Grid notification: (root)", "expected at least one event"],
    ["an empty Distribution envelope", '{"events":[]}', "Distribution notification: events", "expected at least one event"],
    ["a bare number", "42", "registry notification: (root)", "expected a JSON object or array"],
    [
      "an unrecognized object",
      '{"hello":"world"}',
      "registry notification: (root)",
      "unrecognized notification: expected an Event Grid event, a CloudEvent, an ACR webhook payload or a Distribution envelope",
    ],
    ["an array of numbers", "[1]", "Event Grid notification: 0", "Invalid input: expected object, received number"],
    [
      "a missing target",
      eventGridPushWith((copy) => {
        delete (copy.data as { target?: unknown }).target;
      }),
      "Event Grid notification: 0.data.target",
      "required",
    ],
    [
      "a missing request",
      eventGridPushWith((copy) => {
        delete copy.data.request;
      }),
      "Event Grid notification: 0.data.request",
      "required",
    ],
    [
      "a short digest",
      eventGridPushWith((copy) => {
        copy.data.target.digest = "sha256:213bbc18";
      }),
      "Event Grid notification: 0.data.target.digest",
      NOT_HEX,
    ],
    [
      "an uppercase hex digest",
      eventGridPushWith((copy) => {
        copy.data.target.digest = ALPINE.toUpperCase().replace("SHA256", "sha256");
      }),
      "Event Grid notification: 0.data.target.digest",
      NOT_HEX,
    ],
    [
      "an unregistered digest algorithm",
      eventGridPushWith((copy) => {
        copy.data.target.digest = "md5:9e107d9d372bb6826bd81d3542a419d6";
      }),
      "Event Grid notification: 0.data.target.digest",
      'unsupported digest algorithm "md5" (expected sha256, sha512 or blake3)',
    ],
    [
      "a digest without an algorithm",
      eventGridPushWith((copy) => {
        copy.data.target.digest = "d7da5c9ac94d4001a86d3f84b71dd50f9d454ce36b7af0f6c4aed6ef0c50cfd4";
      }),
      "Event Grid notification: 0.data.target.digest",
      '"d7da5c9ac94d4001a86d3f84b71dd50f9d454ce36b7af0f6c4aed6ef0c50cfd4" is not a digest (expected algorithm:encoded, e.g. sha256:<64 hex>)',
    ],
    [
      "a push without a digest",
      eventGridPushWith((copy) => {
        delete copy.data.target.digest;
      }),
      "Event Grid notification: 0.data.target.digest",
      "required for a push",
    ],
    [
      "a number for the repository",
      eventGridPushWith((copy) => {
        copy.data.target.repository = 42;
      }),
      "Event Grid notification: 0.data.target.repository",
      "Invalid input: expected string, received number",
    ],
    [
      "a number for the event type",
      eventGridPushWith((copy) => {
        copy.eventType = 7;
      }),
      "Event Grid notification: 0.eventType",
      "Invalid input: expected string, received number",
    ],
    [
      "a missing repository",
      eventGridPushWith((copy) => {
        delete copy.data.target.repository;
      }),
      "Event Grid notification: 0.data.target.repository",
      "required",
    ],
    [
      "a repository with ..",
      eventGridPushWith((copy) => {
        copy.data.target.repository = "base/../etc";
      }),
      "Event Grid notification: 0.data.target.repository",
      'repository name "base/../etc" has an invalid path component ".." (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)',
    ],
    [
      "an uppercase repository",
      eventGridPushWith((copy) => {
        copy.data.target.repository = "Base/Alpine";
      }),
      "Event Grid notification: 0.data.target.repository",
      'repository name "Base/Alpine" must be lowercase',
    ],
    [
      "a bad tag",
      eventGridPushWith((copy) => {
        copy.data.target.tag = "-3.20";
      }),
      "Event Grid notification: 0.data.target.tag",
      'tag "-3.20" is not valid (expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127})',
    ],
    [
      "a bad registry host",
      eventGridPushWith((copy) => {
        (copy.data.request as Record<string, unknown>).host = "evil host/path";
      }),
      "Event Grid notification: 0.data.request.host",
      '"evil host/path" is not a valid registry host',
    ],
    [
      "a bad event time",
      eventGridPushWith((copy) => {
        copy.eventTime = "yesterday";
      }),
      "Event Grid notification: 0.eventTime",
      "expected an RFC 3339 date-time such as 2024-05-01T12:00:00Z",
    ],
    [
      "a CloudEvent without any time",
      JSON.stringify({ ...(JSON.parse(fixture("cloudevents-image-pushed.json")) as Record<string, unknown>), time: undefined, data: { target: { repository: "a", digest: ALPINE }, request: { host: ACR } } }),
      "CloudEvents notification: time",
      "required (neither time nor data.timestamp is set)",
    ],
    ["an ACR webhook push without a target", JSON.stringify({ id: "w1", timestamp: "2024-06-09T16:52:01Z", action: "push", request: { host: ACR } }), "ACR webhook notification: target", "required"],
    [
      "an ACR webhook with a numeric timestamp",
      JSON.stringify({ ...(JSON.parse(fixture("acr-webhook-push.json")) as Record<string, unknown>), timestamp: 1717951921 }),
      "ACR webhook notification: timestamp",
      "expected an RFC 3339 date-time such as 2024-05-01T12:00:00Z",
    ],
    [
      "a Distribution event without a target",
      distributionWith((copy) => {
        delete (copy as { target?: unknown }).target;
      }),
      "Distribution notification: events.0.target",
      "required",
    ],
    [
      "a Distribution event with a bad digest",
      distributionWith((copy) => {
        copy.target.digest = "sha256:not-hex";
      }),
      "Distribution notification: events.0.target.digest",
      NOT_HEX,
    ],
    [
      "a Distribution event with no host anywhere",
      distributionWith((copy) => {
        delete copy.request;
        delete copy.target.url;
      }),
      "Distribution notification: events.0.request.host",
      "required (and there is no target.url to take the host from)",
    ],
    [
      "a Distribution event with a broken URL and no request host",
      distributionWith((copy) => {
        delete copy.request;
        copy.target.url = "not a url";
      }),
      "Distribution notification: events.0.target.url",
      "not a valid URL",
    ],
  ])("%s", (_name, body, prefix, reason) => {
    const path = prefix.slice(prefix.indexOf(": ") + 2);
    expect(validationErrorOf(() => parseRegistryPayload(body))).toEqual({ message: `${prefix}: ${reason}`, issues: [{ path, message: reason }] });
  });
});

describe("OCI grammar checks", () => {
  it.each([
    ["sha256", ALPINE, null],
    ["sha512", `sha512:${"0f".repeat(64)}`, null],
    ["blake3", `blake3:${"a".repeat(64)}`, null],
    ["sha512 of sha256 length", `sha512:${"a".repeat(64)}`, "sha512 digest must be 128 lowercase hex characters"],
    ["empty encoding", "sha256:", '"sha256:" is not a digest (expected algorithm:encoded, e.g. sha256:<64 hex>)'],
  ])("digest: %s", (_name, digest, expected) => {
    expect(describeDigestProblem(digest)).toEqual(expected);
  });

  it.each([
    ["library/alpine", null],
    ["a", null],
    ["team-a/app__v2/x.y", null],
    ["a--b/c_d", null],
    ["a/", 'repository name "a/" has an invalid path component "" (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)'],
    ["/a", 'repository name "/a" has an invalid path component "" (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)'],
    ["a_-b", 'repository name "a_-b" has an invalid path component "a_-b" (expected [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)'],
    ["", "repository name is empty"],
    ["a".repeat(256), "repository name is longer than 255 characters"],
  ])("repository %j", (name, expected) => {
    expect(describeRepositoryProblem(name)).toEqual(expected);
  });

  it.each([
    ["latest", null],
    ["_v1.2-rc.3", null],
    ["a".repeat(128), null],
    ["a".repeat(129), `tag "${"a".repeat(80)}…" is not valid (expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127})`],
    [".hidden", 'tag ".hidden" is not valid (expected [A-Za-z0-9_][A-Za-z0-9._-]{0,127})'],
  ])("tag %j", (tag, expected) => {
    expect(describeTagProblem(tag)).toEqual(expected);
  });

  it.each([
    ["myregistry.azurecr.io", null],
    ["127.0.0.1:5000", null],
    ["[::1]:5000", null],
    ["localhost", null],
    ["-bad.example.com", '"-bad.example.com" is not a valid registry host'],
    ["host:port", '"host:port" is not a valid registry host'],
  ])("host %j", (host, expected) => {
    expect(describeHostProblem(host)).toEqual(expected);
  });
});

describe("shared/validation", () => {
  const Settings = z.object({ name: z.string(), ports: z.array(z.number()) });

  it("formats zod issues with dotted paths and (root)", () => {
    const nested = Settings.safeParse({ name: 1, ports: [80, "x"] });
    const root = Settings.safeParse("nope");
    expect([nested.success ? [] : formatZodIssues(nested.error), root.success ? [] : formatZodIssues(root.error)]).toEqual([
      [
        { path: "name", message: "Invalid input: expected string, received number" },
        { path: "ports.1", message: "Invalid input: expected number, received string" },
      ],
      [{ path: "(root)", message: "Invalid input: expected object, received string" }],
    ]);
  });

  it("returns the parsed value", () => {
    expect(parseWith(Settings, { name: "ripple", ports: [7071], extra: true }, "settings")).toEqual({ name: "ripple", ports: [7071] });
  });

  it("throws a ValidationError naming the first issue, with missing fields reported as required", () => {
    expect(validationErrorOf(() => parseWith(Settings, { ports: [1, "2"] }, "settings"))).toEqual({
      message: "settings: name: required",
      issues: [
        { path: "name", message: "required" },
        { path: "ports.1", message: "Invalid input: expected number, received string" },
      ],
    });
  });

  it("prefixes issue paths with the location of the value", () => {
    expect(validationErrorOf(() => parseWith(Settings, { name: "x", ports: ["a"] }, "queue message", { at: ["messages", 3] }))).toEqual({
      message: "queue message: messages.3.ports.0: Invalid input: expected number, received string",
      issues: [{ path: "messages.3.ports.0", message: "Invalid input: expected number, received string" }],
    });
  });
});
