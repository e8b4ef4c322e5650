import { readFile } from "node:fs/promises";
import { extractImages } from "../domain/dockerfile.js";
import { AppError } from "../errors.js";
import { printJson, printTable } from "./output.js";

/** `ripple extract [--json] FILE...`: the image references of each Dockerfile. */
export async function extractCommand(files: readonly string[], json: boolean): Promise<number> {
  const results = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      throw new AppError("file_unreadable", `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
    }
    results.push({ file, images: extractImages(text) });
  }
  if (json) {
    printJson(results);
    return 0;
  }
  for (const result of results) {
    process.stdout.write(`${result.file}\n`);
    printTable(
      result.images.map((image) => [
        String(image.line),
        image.instruction,
        image.unresolved ? `(unresolved) ${image.raw ?? ""}` : `${image.name}${image.tag ? `:${image.tag}` : ""}${image.digest ? `@${image.digest}` : ""}`,
        image.platform ?? "",
        image.stage ?? "",
      ]),
      ["LINE", "INSTRUCTION", "IMAGE", "PLATFORM", "STAGE"],
    );
  }
  return 0;
}
