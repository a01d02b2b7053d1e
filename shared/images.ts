/**
 * The one image rule of mqtt-edge, used by the config validation (config/schemas.ts) and by the
 * policy pack (policy/policies/docker.ts): an image is pinned when it is `name:tag` with a tag
 * other than "latest" (in any case: "LATEST" moves as much), or `name[:tag]@sha256:<64 hex>`.
 * A registry port (`host:5000/img`) is not a tag. Plain TypeScript with no imports, so the policy
 * pack (its own npm package) can import it by relative path.
 */

/** Why an image reference is not pinned, in the two phrasings its two readers print. */
export interface ImageProblem {
  /** What was expected, for config errors: `expected <expected> (got ...)`. */
  readonly expected: string;
  /** What is wrong, for policy violations: `image "<ref>" <found>.` */
  readonly found: string;
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Why `image` is not a pinned reference, or undefined if it is. */
export function imageProblem(image: string): ImageProblem | undefined {
  if (/\s/.test(image) || image.length === 0) {
    return {
      expected: "an image reference without whitespace",
      found: "is empty or contains whitespace",
    };
  }
  const at = image.indexOf("@");
  if (at >= 0) {
    const digest = image.slice(at + 1);
    if (DIGEST.test(digest)) return undefined;
    return {
      expected: "a digest of the form sha256:<64 hex>",
      found: `has a malformed digest "${digest}" (expected sha256:<64 hex>)`,
    };
  }
  const colon = image.indexOf(":", image.lastIndexOf("/") + 1);
  if (colon < 0) {
    return {
      expected: 'a pinned tag (name:tag), not an untagged image that means "latest"',
      found: 'has no tag, so Docker pulls the moving tag "latest"',
    };
  }
  const tag = image.slice(colon + 1);
  if (tag.toLowerCase() === "latest") {
    return { expected: 'a pinned tag, not "latest"', found: 'uses the moving tag "latest"' };
  }
  if (!TAG.test(tag)) return { expected: "a valid tag", found: `has an invalid tag "${tag}"` };
  return undefined;
}
