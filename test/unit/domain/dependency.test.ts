import { describe, expect, it } from "vitest";
import { dependentKey } from "../../../shared/domain/dependency.js";
import { isScratchTag } from "../../../shared/domain/scratch-tag.js";

describe("dependents", () => {
  it("are keyed as registry/repository:tag for images and file:repo:path:line for pinned files", () => {
    expect([
      dependentKey({ kind: "image", registry: "contoso.azurecr.io", repository: "apps/web", tag: "1.2", digest: "sha256:1" }),
      dependentKey({ kind: "file-pin", repo: "contoso/deploy", path: "apps/web.yaml", line: 7, digest: "sha256:1" }),
    ]).toEqual(["contoso.azurecr.io/apps/web:1.2", "file:contoso/deploy:apps/web.yaml:7"]);
  });
});

describe("scratch tags", () => {
  it.each([
    ["ripple-platform-linux-amd64", true],
    ["ripple-platform-", true],
    ["1.2-ripple-platform-linux-amd64", false],
    ["ripple-platform", false],
    ["latest", false],
  ])("%j is a scratch tag: %j", (tag, scratch) => {
    expect(isScratchTag(tag)).toEqual(scratch);
  });
});
