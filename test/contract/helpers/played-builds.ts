import type { ContainerRegistryContentClient } from "@azure/container-registry";
import type { DockerBuildCall, RunState } from "./arm-contract-server.js";
import { pushImage, type ImageContent } from "./image-content.js";

/** What {@link playPlatformBuilds} plays. */
export interface PlayedBuilds {
  /** The repository the runs push to. */
  readonly content: ContainerRegistryContentClient;
  /** The login server the runs report in their `outputImages`. */
  readonly registry: string;
  /** The image each platform (`os/arch[/variant]`) builds. */
  readonly images: Readonly<Record<string, ImageContent>>;
  /** The platform whose build fails (`exec format error`, as a non-native `RUN` does); null when none does. */
  readonly failing: string | null;
  readonly times: { readonly startTime: string; readonly finishTime: string };
}

/**
 * ACR Tasks' part of a `DockerBuildRequest`'s run, for the ARM contract server's `build`: pushes the
 * run's platform image to each of its tags and reports it in `outputImages` when it succeeds
 * (Queued, Running, Succeeded), or fails it (Running, Failed).
 */
export function playPlatformBuilds(played: PlayedBuilds): (call: DockerBuildCall) => Promise<RunState[]> {
  const { times } = played;
  return async (call) => {
    const platform = [call.platform.os, call.platform.architecture, call.platform.variant].filter(Boolean).join("/");
    if (platform === played.failing) return [{ status: "Running", startTime: times.startTime }, { status: "Failed", ...times, runErrorMessage: "exec /bin/sh: exec format error" }];
    const image = played.images[platform];
    if (image === undefined) throw new Error(`no image to play a ${platform} build`);
    const names = call.imageNames.map((name) => ({ repository: name.slice(0, name.indexOf(":")), tag: name.slice(name.indexOf(":") + 1) }));
    for (const { tag } of names) await pushImage(played.content, image, tag);
    const outputImages = names.map((name) => ({ registry: played.registry, ...name, digest: image.facts.digest }));
    return [{ status: "Queued" }, { status: "Running", startTime: times.startTime }, { status: "Succeeded", ...times, outputImages }];
  };
}
