import { describe, expect, it } from "vitest";
import { formatPlatform, parsePlatform } from "../../../shared/domain/image-facts.js";

describe("platforms", () => {
  it.each([
    ["linux/amd64", { os: "linux", architecture: "amd64", variant: null }],
    ["linux/arm64/v8", { os: "linux", architecture: "arm64", variant: "v8" }],
    ["linux", null],
    ["/amd64", null],
    ["linux/", null],
    ["", null],
  ])("parse %j", (text, platform) => {
    expect(parsePlatform(text)).toEqual(platform);
  });

  it.each([
    [{ os: "linux", architecture: "amd64", variant: null }, "linux/amd64"],
    [{ os: "linux", architecture: "arm", variant: "v7" }, "linux/arm/v7"],
    [{ os: "linux", architecture: "arm", variant: "" }, "linux/arm"],
    [null, null],
  ])("format %j", (platform, text) => {
    expect(formatPlatform(platform)).toEqual(text);
  });
});
