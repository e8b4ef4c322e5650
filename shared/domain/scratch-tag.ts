/**
 * Tags Ripple pushes for its own use (each platform's image of a multi-platform ACR Tasks rebuild, before
 * the index over them is pushed to the image's real tags). They are not images of their own: a push of
 * one is no dependent, no base and no campaign.
 */
export const PLATFORM_TAG_PREFIX = "ripple-platform-";

export function isScratchTag(tag: string): boolean {
  return tag.startsWith(PLATFORM_TAG_PREFIX);
}
