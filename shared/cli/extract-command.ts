import { extractImages, type ExtractedImage } from "../domain/dockerfile.js";
import { printJson, printTable } from "./output.js";
import { readFiles } from "./read-files.js";

/** One file of `ripple extract`: its image references, or why it could not be read. */
export type ExtractEntry = { file: string; images: ExtractedImage[] } | { file: string; error: string };

/**
 * `ripple extract [--json] FILE...`: the image references of each Dockerfile, in the order given, the
 * files read a few at a time. A file that cannot be read (missing, a folder, no permission) gets its error
 * in its entry (`{file, error}`) and on stderr; the other files are reported all the same. Returns 1 when
 * any file could not be read, else 0. Never throws for a file.
 */
export async function extractCommand(files: readonly string[], json: boolean): Promise<number> {
  const entries: ExtractEntry[] = [];
  for await (const read of readFiles(files)) {
    if (read.ok) entries.push({ file: read.file, images: extractImages(read.text) });
    else {
      const error = `cannot read ${read.file}: ${read.code}`;
      process.stderr.write(`ripple: ${error}\n`);
      entries.push({ file: read.file, error });
    }
  }
  if (json) printJson(entries);
  else entries.forEach(printEntry);
  return entries.some((entry) => "error" in entry) ? 1 : 0;
}

function printEntry(entry: ExtractEntry): void {
  if ("error" in entry) return;
  process.stdout.write(`${entry.file}\n`);
  printTable(
    entry.images.map((image) => [
      String(image.line),
      image.instruction,
      image.unresolved ? `(unresolved) ${image.raw ?? ""}` : `${image.name}${image.tag ? `:${image.tag}` : ""}${image.digest ? `@${image.digest}` : ""}`,
      image.platform ?? "",
      image.stage ?? "",
    ]),
    ["LINE", "INSTRUCTION", "IMAGE", "PLATFORM", "STAGE"],
  );
}
