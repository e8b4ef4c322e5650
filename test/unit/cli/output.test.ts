import { describe, expect, it } from "vitest";
import { createJsonArrayPrinter } from "../../../shared/cli/output.js";

function printAll(items: readonly unknown[], chunkSize?: number): string[] {
  const writes: string[] = [];
  const printer = createJsonArrayPrinter((text) => writes.push(text), chunkSize);
  items.forEach((item) => printer.push(item));
  printer.end();
  return writes;
}

describe("createJsonArrayPrinter", () => {
  it.each([
    ["no items", []],
    ["one item", [{ file: "a", images: [] }]],
    ["nested items, line breaks in strings, and undefined (null in an array)", [{ file: "a\nb", images: [{ name: "x", tag: null, nested: { deep: [1, "two"] } }] }, { file: "c", error: "cannot read c: ENOENT" }, 3, "text", null, undefined]],
  ])("prints %s exactly as JSON.stringify with two spaces does", (_, items) => {
    expect(printAll(items).join("")).toEqual(`${JSON.stringify(items, null, 2)}\n`);
  });

  it("writes in chunks of about the size given, the rest at the end", () => {
    const items = Array.from({ length: 5 }, (_, index) => ({ index }));
    const writes = printAll(items, 30);
    expect({ joined: writes.join(""), count: writes.length }).toEqual({ joined: `${JSON.stringify(items, null, 2)}\n`, count: 3 });
  });
});
