import type { Services } from "../composition.js";
import { tagKey } from "../domain/image-ref.js";
import type { UpstreamTagRecord } from "../ports/state-store.js";
import { watchedBases } from "../use-cases/watch-upstream.js";
import { printJson, printTable, shortDigest } from "./output.js";

/** The public JSON shape of one watched upstream tag (`ripple upstream --json`). */
export function toPublicUpstreamTag(record: UpstreamTagRecord, mirror: string | null) {
  return {
    tag: tagKey(record.registry, record.repository, record.tag),
    digest: record.digest,
    mediaType: record.mediaType,
    platforms: record.platforms,
    firstSeenAt: record.firstSeenAt,
    created: record.created,
    lastCheckAt: record.lastCheckAt,
    nextCheckAt: record.nextCheckAt,
    lastError: record.lastError,
    errors: record.errors,
    mirror,
    pending: record.pending,
    broughtInAt: record.broughtInAt,
    history: record.history,
  };
}

/** `ripple upstream`: every watched upstream tag, its digest, first sighting, schedule and last error. */
export async function upstreamCommand(services: Services, json: boolean): Promise<number> {
  const mirrors = new Map(watchedBases(services.config).map((base) => [`${base.registry}/${base.repository}`, base.mirror === null ? null : `${base.mirror.registry}/${base.mirror.repository}`]));
  const tags = (await services.store.listUpstreamTags()).map((record) => toPublicUpstreamTag(record, mirrors.get(`${record.registry}/${record.repository}`) ?? null));
  if (json) return printJson(tags), 0;
  if (tags.length === 0) {
    process.stdout.write(mirrors.size === 0 ? "no base is watched (every base's registry notifies Ripple)\n" : "no tag checked yet\n");
    return 0;
  }
  printTable(
    tags.map((tag) => [
      tag.tag,
      shortDigest(tag.digest),
      tag.platforms.length > 0 ? String(tag.platforms.length) : "-",
      tag.firstSeenAt ?? "-",
      tag.lastCheckAt ?? "-",
      tag.nextCheckAt,
      tag.mirror ?? "(direct)",
      tag.pending !== null ? "PENDING" : "",
      tag.lastError ?? "",
    ]),
    ["TAG", "DIGEST", "PLATFORMS", "FIRST SEEN", "LAST CHECK", "NEXT CHECK", "MIRROR", "", "LAST ERROR"],
  );
  return 0;
}
