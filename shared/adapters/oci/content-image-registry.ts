import { isDigest } from "../../domain/image-ref.js";
import type { ImageRegistry } from "../../ports/image-registry.js";
import type { RegistryContent } from "../../ports/registry-content.js";
import {
  EMPTY_CONFIG_FACTS,
  MAX_CONFIG_BYTES,
  isImageConfigMediaType,
  parseImageConfig,
  parseManifest,
  toImageFacts,
} from "./parse-manifest.js";
import { readLimited } from "./read-manifest.js";

/**
 * The {@link ImageRegistry} of a registry reached through the plain distribution protocol (an upstream
 * registry such as Docker Hub, with its token challenge): manifests and configs read and verified as
 * the other adapters read them. Upstream registries have no catalog Ripple may rely on (Docker Hub has
 * none), so `listRepositories` answers an empty list.
 */
export function createContentImageRegistry(content: RegistryContent): ImageRegistry {
  return {
    host: content.host,
    async readManifest(repository, reference) {
      const raw = await content.readRawManifest(repository, reference);
      if (raw === null) return null;
      const parsed = parseManifest(raw.bytes, { expectedDigest: isDigest(reference) ? reference : raw.digest, contentType: raw.mediaType });
      if (parsed.kind === "index") return parsed;
      if (!isImageConfigMediaType(parsed.configMediaType)) return toImageFacts(parsed, EMPTY_CONFIG_FACTS);
      const blob = await content.openBlob(repository, parsed.configDigest);
      const config = await readLimited(blob.stream, MAX_CONFIG_BYTES, "config");
      return toImageFacts(parsed, parseImageConfig(config, parsed.configDigest));
    },
    listRepositories: async () => [],
    listTags: (repository) => content.listTags(repository),
  };
}
