import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, vi } from "vitest";

/**
 * For a CLI command's tests: a fresh scratch folder per test and everything the command writes to stdout
 * and stderr, captured (the hooks are registered in the calling `describe` or file).
 */
export function useCapturedOutput(prefix: string): { readonly directory: string; readonly stdout: string; readonly stderr: string } {
  const state = { directory: "", stdout: "", stderr: "" };
  beforeEach(async () => {
    Object.assign(state, { directory: await mkdtemp(join(tmpdir(), prefix)), stdout: "", stderr: "" });
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      state.stdout += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      state.stderr += String(chunk);
      return true;
    });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(state.directory, { recursive: true, force: true });
  });
  return state;
}
