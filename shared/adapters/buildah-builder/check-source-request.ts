import { isAbsolute, resolve } from "node:path";
import { formatImageRef, isDigest, parseImageRef } from "../../domain/image-ref.js";
import { AppError } from "../../errors.js";
import type { BuildRequest } from "../../ports/image-builder.js";

/** A source build the local builder can run: every path and name checked, build args complete. */
export interface SourceBuildPlan {
  /** Absolute path of the git repository, one of the allowed ones. */
  readonly repository: string;
  readonly revision: string;
  /** Relative to the checkout, without `./` or `..`. */
  readonly dockerfile: string;
  /** Relative to the checkout, `.` for its root. */
  readonly context: string;
  readonly tags: readonly string[];
  readonly platforms: readonly string[];
  /** The recipe's args plus RIPPLE_BASE_IMAGE, RIPPLE_BASE_DIGEST and RIPPLE_IMAGE (which win). */
  readonly buildArgs: Readonly<Record<string, string>>;
}

const platformPattern = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/;
const buildArgNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Control characters would end up in command lines and log lines.
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u001f\u007f]/;

function refuse(message: string, field: string): never {
  throw new AppError("build_request_invalid", message, { retryable: false, details: { field } });
}

/** `path` relative to the checkout root, normalized; refused when absolute or when any segment is `..`. */
function normalizeCheckoutPath(path: string, field: string, allowRoot: boolean): string {
  if (controlCharacters.test(path) || isAbsolute(path) || path.split("/").includes("..")) {
    refuse(`${field} "${path}" must be a path inside the repository (relative, without ..)`, field);
  }
  const normalized = path
    .split("/")
    .filter((segment) => segment !== "" && segment !== ".")
    .join("/");
  if (normalized === "" && !allowRoot) refuse(`${field} "${path}" names no file`, field);
  return normalized === "" ? "." : normalized;
}

/**
 * Checks that the local builder can run `request` and returns its plan. Pure apart from resolving paths.
 * @throws AppError `build_request_invalid` (not retryable) for a task recipe, a repository that is not
 * allowed, a revision starting with `-`, a path leaving the checkout, a tag that is not a full
 * `registry/repository:tag`, a malformed platform, build arg name or base digest.
 */
export function checkSourceRequest(request: BuildRequest, allowedRepositories: readonly string[]): SourceBuildPlan {
  const recipe = request.recipe;
  if (recipe.kind === "task") refuse(`ACR task ${recipe.task} cannot run on the local builder`, "recipe.kind");

  const allowed = new Set(allowedRepositories.filter((path) => isAbsolute(path)).map((path) => resolve(path)));
  const repository = isAbsolute(recipe.repository) ? resolve(recipe.repository) : undefined;
  if (repository === undefined || !allowed.has(repository)) {
    refuse(`repository ${recipe.repository} is not a local git repository this builder may build from`, "recipe.repository");
  }
  const revision = recipe.revision;
  if (revision === "" || revision.startsWith("-") || /\s/.test(revision) || controlCharacters.test(revision)) {
    refuse(`revision "${revision}" is not a branch, tag or commit`, "recipe.revision");
  }
  const dockerfile = normalizeCheckoutPath(recipe.dockerfile, "dockerfile", false);
  const context = normalizeCheckoutPath(recipe.context, "context", true);

  if (recipe.tags.length === 0) refuse("the recipe names no tag to push", "recipe.tags");
  for (const tag of recipe.tags) {
    const parsed = parseImageRef(tag, { defaultTag: false });
    if (!parsed.ok || parsed.value.tag === null || parsed.value.digest !== null || formatImageRef(parsed.value) !== tag) {
      refuse(`tag "${tag}" is not a full registry/repository:tag reference`, "recipe.tags");
    }
  }
  for (const platform of recipe.platforms) {
    if (!platformPattern.test(platform)) refuse(`platform "${platform}" is not os/arch[/variant]`, "recipe.platforms");
  }
  for (const [name, value] of Object.entries(recipe.args)) {
    if (!buildArgNamePattern.test(name) || value.includes("\u0000")) refuse(`build arg "${name}" is not a valid name=value pair`, "recipe.args");
  }
  if (!isDigest(request.base.digest)) refuse(`base digest "${request.base.digest}" is not a digest`, "base.digest");
  if (request.base.key === "" || controlCharacters.test(request.base.key)) refuse(`base "${request.base.key}" is not an image reference`, "base.key");
  if (request.image === "" || controlCharacters.test(request.image)) refuse(`image "${request.image}" is not an image reference`, "image");

  return {
    repository,
    revision,
    dockerfile,
    context,
    tags: [...recipe.tags],
    platforms: [...recipe.platforms],
    buildArgs: { ...recipe.args, RIPPLE_BASE_IMAGE: request.base.key, RIPPLE_BASE_DIGEST: request.base.digest, RIPPLE_IMAGE: request.image },
  };
}
