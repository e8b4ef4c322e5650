import { describe, expect, it } from "vitest";
import { dedupeKey, describeFutureTime, isBeyondClockSkew, MAX_EVENT_CLOCK_SKEW_MS, toPublicEvent, type RegistryEvent } from "../../../shared/domain/registry-event.js";

const event: RegistryEvent = {
  id: "evt-1",
  source: "eventgrid",
  action: "push",
  registry: "contoso.azurecr.io",
  repository: "base/alpine",
  tag: "3.20",
  digest: "sha256:1",
  mediaType: "application/vnd.oci.image.index.v1+json",
  occurredAt: "2026-03-01T10:00:00.000Z",
};

describe("clock skew", () => {
  const now = new Date("2026-03-01T10:00:00.000Z");

  it("allows five minutes", () => {
    expect(MAX_EVENT_CLOCK_SKEW_MS).toEqual(300_000);
  });

  it.each([
    ["the past", "2026-03-01T09:00:00.000Z", false],
    ["exactly the allowed skew ahead", "2026-03-01T10:05:00.000Z", false],
    ["a millisecond beyond it", "2026-03-01T10:05:00.001Z", true],
    ["beyond it, written with an offset", "2026-03-01T12:05:00.001+02:00", true],
    ["an unparsable time", "yesterday", false],
  ])("judges %s", (_, occurredAt, beyond) => {
    expect([isBeyondClockSkew(occurredAt, now), isBeyondClockSkew(occurredAt, now.getTime())]).toEqual([beyond, beyond]);
  });

  it("says why a time too far ahead is refused, and nothing for one that is not", () => {
    expect([describeFutureTime("2026-03-01T12:30:00+02:00", now), describeFutureTime("2026-03-01T10:04:00.000Z", now), describeFutureTime("soon", now)]).toEqual([
      "event time 2026-03-01T10:30:00.000Z is more than 5 minutes ahead of the receiver's clock (2026-03-01T10:00:00.000Z)",
      null,
      null,
    ]);
  });
});

describe("events", () => {
  it("print without the sender's id, source or time", () => {
    expect(toPublicEvent(event)).toEqual({
      action: "push",
      registry: "contoso.azurecr.io",
      repository: "base/alpine",
      tag: "3.20",
      digest: "sha256:1",
      mediaType: "application/vnd.oci.image.index.v1+json",
    });
  });

  it.each([
    ["a push", event, "contoso.azurecr.io|base/alpine|sha256:1|push|3.20|2026-03-01T10:00:00.000Z"],
    // A redelivery with the time written another way is the same fact.
    ["a time with an offset, as the instant", { ...event, occurredAt: "2026-03-01T11:00:00+01:00" }, "contoso.azurecr.io|base/alpine|sha256:1|push|3.20|2026-03-01T10:00:00.000Z"],
    ["an unparsable time, as written", { ...event, occurredAt: "not a time" }, "contoso.azurecr.io|base/alpine|sha256:1|push|3.20|not a time"],
    ["a tag deletion without a digest", { ...event, action: "delete" as const, digest: null }, "contoso.azurecr.io|base/alpine|-|delete|3.20|2026-03-01T10:00:00.000Z"],
    ["a push by digest alone", { ...event, tag: null }, "contoso.azurecr.io|base/alpine|sha256:1|push|-|2026-03-01T10:00:00.000Z"],
  ])("key %s for deduplication", (_, input, key) => {
    expect(dedupeKey(input)).toEqual(key);
  });
});
