/** Waivers: a person pauses alerts for a campaign or for dependents, until a time, with a reason. */
import { createHash } from "node:crypto";
import { z } from "zod";
import { parseDuration } from "../domain/sla.js";
import { AppError, ValidationError } from "../errors.js";
import type { StateStore, WaiverRecord } from "../ports/state-store.js";
import { parseWith } from "../validation.js";
import { inParallel } from "./in-parallel.js";

/** The longest a waiver may last: a pause, not a way to switch the SLA off. */
export const MAX_WAIVER_DAYS = 30;

/** A waiver request (CLI and `POST /api/waivers`). v1. */
export const WaiverRequest = z
  .strictObject({
    /** The campaign it covers; without it, every campaign (then `dependent` is required). */
    campaignId: z.string().min(1).optional(),
    /** A glob over dependents (`contoso.azurecr.io/apps/*`, `contoso/deploy/**`); without it, the whole campaign. */
    dependent: z.string().min(1).max(500).optional(),
    /** Until when: an ISO 8601 time with a zone, or a duration from now (`48h`, `3d`). */
    until: z.string().min(1),
    reason: z.string().trim().min(3, "say why (at least 3 characters)").max(1000),
    /** Who asks (an e-mail or a name). */
    by: z.string().trim().min(1).max(200),
  })
  .refine((request) => request.campaignId !== undefined || request.dependent !== undefined, { message: "name a campaignId, a dependent glob, or both", path: ["campaignId"] });
export type WaiverRequest = z.infer<typeof WaiverRequest>;

/** When a waiver ends, from an ISO 8601 time or a duration from `now`. @throws ValidationError. */
function untilOf(text: string, now: Date): Date {
  const duration = parseDuration(text);
  const until = duration !== null ? new Date(now.getTime() + duration) : /^\d{4}-\d{2}-\d{2}T.*(?:Z|[+-]\d{2}:\d{2})$/.test(text) ? new Date(text) : new Date(Number.NaN);
  const bad = (message: string): ValidationError => new ValidationError(`waiver: until: ${message}`, [{ path: "until", message }]);
  if (Number.isNaN(until.getTime())) throw bad("an ISO 8601 time with a zone (2026-12-01T09:00Z) or a duration (48h)");
  if (until.getTime() <= now.getTime()) throw bad("must be in the future");
  if (until.getTime() - now.getTime() > MAX_WAIVER_DAYS * 86_400_000) throw bad(`at most ${MAX_WAIVER_DAYS} days ahead`);
  return until;
}

/**
 * Records a waiver and has the SLA monitor look again at the campaigns it may cover (the named one, or
 * every open campaign for a dependent glob). Idempotent: the same request within the same minute is the
 * same waiver (its id is a hash of it; a repeat only moves a duration's end by the seconds between them).
 * `via` marks a request let in by a function key with nobody signed in (its `by` is the caller's word).
 * @throws ValidationError for a bad request (nothing is written); AppError `not_found` for an unknown
 *   campaign; the store's retryable errors.
 */
export async function waive(deps: { store: StateStore; now: () => Date }, input: unknown, via?: WaiverRecord["via"]): Promise<WaiverRecord> {
  const request = parseWith(WaiverRequest, input, "waiver");
  const now = deps.now();
  const until = untilOf(request.until, now);
  if (request.campaignId !== undefined && (await deps.store.getCampaign(request.campaignId)) === null) {
    throw new AppError("not_found", `no campaign ${request.campaignId}`);
  }
  const createdAt = new Date(Math.floor(now.getTime() / 60_000) * 60_000).toISOString();
  // The request as written (a duration, not the time it gives) and its minute: a repeat is the same waiver.
  const fields = [request.campaignId ?? "", request.dependent ?? "", request.until, request.reason, request.by, createdAt, ...(via === undefined ? [] : [via])];
  const waiver: WaiverRecord = {
    id: `w-${createHash("sha256").update(JSON.stringify(fields)).digest("hex").slice(0, 16)}`,
    campaignId: request.campaignId ?? null,
    dependent: request.dependent ?? null,
    until: until.toISOString(),
    reason: request.reason,
    by: request.by,
    ...(via === undefined ? {} : { via }),
    createdAt,
  };
  await deps.store.putWaiver(waiver);
  const open = await deps.store.listOpenCampaigns();
  const touched = open.filter((entry) => waiver.campaignId === null || entry.campaignId === waiver.campaignId);
  await inParallel(touched, 16, async (entry) => deps.store.touchOpenCampaign(entry.campaignId, now.toISOString()));
  return waiver;
}
