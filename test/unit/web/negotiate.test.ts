import { describe, expect, it } from "vitest";
import { wantsHtml } from "../../../shared/web/negotiate.js";

describe("wantsHtml", () => {
  it.each([
    [null, false],
    ["", false],
    ["*/*", false],
    ["application/json", false],
    ["text/html", true],
    ["text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", true],
    ["application/json, text/html;q=0.5", false],
    ["text/html;q=0.9, application/json", false],
    ["text/html, application/json", true],
    ["TEXT/HTML; q=1", true],
    ["text/html;q=0", false],
  ])("Accept %j → HTML %s", (accept, expected) => {
    expect(wantsHtml(accept)).toBe(expected);
  });
});
