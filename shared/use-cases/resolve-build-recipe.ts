import type { RippleConfig } from "../config.js";
import { DOCKERFILE_LABEL, REVISION_ANNOTATION, SOURCE_ANNOTATION, type ImageManifestFacts } from "../domain/image-facts.js";
import { parseImageRef, tagKey } from "../domain/image-ref.js";
import type { BuildRecipe } from "../ports/image-builder.js";

function keyOf(image: string): string | null {
  const ref = parseImageRef(image);
  return ref.ok ? tagKey(ref.value.registry, ref.value.repository, ref.value.tag ?? "latest") : null;
}

/**
 * How to rebuild the image `key` (`registry/repository:tag`): its recipe in the configuration (an ACR task,
 * or a source build), else — when the configuration is silent — its own `org.opencontainers.image.source`
 * and `.revision` annotations (or labels) with Ripple's `dev.ripple.dockerfile` label, provided the source
 * is a configured repository. Null when there is no recipe. Pure.
 */
export function resolveBuildRecipe(config: RippleConfig, key: string, manifest: ImageManifestFacts | null): BuildRecipe | null {
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
      platforms: recipe.platforms,
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
    platforms: [],
  };
}
