/** Where the runbook page reads `docs/runbook.md`: the app's own folder, deployed with it (see .funcignore). */
import { access, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AppError } from "../errors.js";

let cached: Promise<string> | null = null;

/**
 * The runbook's Markdown, from the nearest `docs/runbook.md` above this module (the same from `dist/` and
 * from sources), read once per process.
 *
 * @throws AppError `runbook_missing` (not retryable) when no folder above holds it.
 */
export function readRunbook(): Promise<string> {
  if (cached === null) {
    cached = findRunbook(dirname(fileURLToPath(import.meta.url))).then((path) => readFile(path, "utf8"));
    cached.catch(() => {
      cached = null;
    });
  }
  return cached;
}

async function findRunbook(start: string): Promise<string> {
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, "docs", "runbook.md");
    try {
      await access(candidate);
      return candidate;
    } catch {
      if (dirname(dir) === dir) throw new AppError("runbook_missing", "docs/runbook.md was not deployed with the app");
    }
  }
}
