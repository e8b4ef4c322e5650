import type { RippleConfig } from "../config.js";
import { DOCKERFILE_LABEL, REVISION_ANNOTATION, SOURCE_ANNOTATION, formatPlatform, type ImageManifestFacts, type ManifestFacts } from "../domain/image-facts.js";
import { parseImageRef, tagKey } from "../domain/image-ref.js";
import type { BuildRecipe } from "../ports/image-builder.js";

/** The platform of an index's attestation manifests (buildx provenance, SBOMs): not an image anyone runs. */
const ATTESTATION_PLATFORM = "unknown/unknown";

function keyOf(image: string): string | null {
  const ref = parseImageRef(image);
  return ref.ok ? tagKey(ref.value.registry, ref.value.repository, ref.value.tag ?? "latest") : null;
}

/**
 * The platforms (`os/arch[/variant]`) a rebuild of this image must keep: an index's children in its
 * order, without attestations (`unknown/unknown`) and children that name no platform; empty for a
 * single-platform image, which the builder builds as it always has. Pure.
 */
export function platformsToKeep(facts: ManifestFacts): string[] {
  if (facts.kind === "image") return [];
  const platforms = facts.children.map((child) => formatPlatform(child.platform)).filter((platform): platform is string => platform !== null && platform !== ATTESTATION_PLATFORM);
  return [...new Set(platforms)];
}

/**
 * How to rebuild the image `key` (`registry/repository:tag`): its recipe in the configuration (an ACR task,
 * or a source build), else — when the configuration is silent — its own `org.opencontainers.image.source`
 * and `.revision` annotations (or labels) with Ripple's `dev.ripple.dockerfile` label, provided the source
 * is a configured repository. A source recipe builds `platforms` (see {@link platformsToKeep}) unless the
 * configuration names its own. Null when there is no recipe. Pure.
 */
export function resolveBuildRecipe(config: RippleConfig, key: string, manifest: ImageManifestFacts | null, platforms: readonly string[] = []): BuildRecipe | null {
  for (const recipe of config.recipes) {
    if (keyOf(recipe.image) !== key) continue;
    if ("task" in recipe) return { kind: "task", task: recipe.task };
    return {
      kind: "source",
      repository: recipe.repository,
      revision: recipe.revision,
      dockerfile: recipe.dockerfile,
      context: recipe.context,
      args: recipe.args,
      tags: recipe.tags.length > 0 ? recipe.tags.map((tag) => keyOf(tag) ?? tag) : [key],
      platforms: recipe.platforms.length > 0 ? recipe.platforms : [...platforms],
    };
  }
  if (manifest === null) return null;
  const read = (name: string): string | undefined => manifest.annotations[name] ?? manifest.labels[name];
  const source = read(SOURCE_ANNOTATION);
  if (source === undefined || !config.repositories.some((repository) => repository.url === source)) return null;
  return {
    kind: "source",
    repository: source,
    revision: read(REVISION_ANNOTATION) ?? "HEAD",
    dockerfile: read(DOCKERFILE_LABEL) ?? "Dockerfile",
    context: ".",
    args: {},
    tags: [key],
    platforms: [...platforms],
  };
}
