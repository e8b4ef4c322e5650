import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAzurite, type LocalAzurite } from "../../../shared/local/azurite.js";

/**
 * Starts the local stack's Azurite (in memory, loopback) in a throwaway folder for one test file.
 * `stop` also removes the folder, so nothing outlives the test. Idempotent.
 */
export async function startScratchAzurite(): Promise<LocalAzurite> {
  const dir = await mkdtemp(join(tmpdir(), "ripple-azurite-"));
  const removeDir = () => rm(dir, { recursive: true, force: true });
  try {
    const azurite = await startAzurite({ dir });
    return {
      ...azurite,
      stop: async () => {
        await azurite.stop();
        await removeDir();
      },
    };
  } catch (error) {
    await removeDir();
    throw error;
  }
}
