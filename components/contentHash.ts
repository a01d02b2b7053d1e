import { createHash } from "node:crypto";

/** A short content hash, for names of immutable swarm objects (configs, secrets) and labels. */
export function contentHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 12);
}
