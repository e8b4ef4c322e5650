import { describe, expect, it } from "vitest";
import { campaignId, campaignIdPrefix } from "../../../shared/domain/campaign.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("campaign ids", () => {
  it("read as the base tag and the new digest, and start with the base's prefix", () => {
    const id = campaignId("127.0.0.1:5000/ripple/busybox:1", DIGEST);
    expect(id).toMatch(/^127\.0\.0\.1-5000-ripple-busybox-1-[0-9a-f]{8}--abababababababab$/);
    expect(id.startsWith(campaignIdPrefix("127.0.0.1:5000/ripple/busybox:1"))).toBe(true);
  });

  it.each([
    ["r.io/a/b:1", "r.io/a-b:1"],
    ["r.io/repo:base-8", "r.io/repo-base:8"],
  ])("differ for bases that read alike: %s and %s", (first, second) => {
    expect(campaignId(first, DIGEST)).not.toBe(campaignId(second, DIGEST));
  });

  it("is stable across releases: the hash is 32-bit FNV-1a of the base tag (stored ids must keep matching)", () => {
    expect(campaignId("docker.io/library/alpine:3.20", DIGEST)).toBe("docker.io-library-alpine-3.20-8a340742--abababababababab");
  });
});
