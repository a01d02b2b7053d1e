/**
 * The tags of the local images the end-to-end tests run, by role: scripts/images.json, the one
 * list of them. scripts/images.sh builds those tags (its --only names are the roles, plus the
 * three docker-flow-* tags of the stand-in); the tests look for them here instead of naming
 * them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const E2E_IMAGE_ROLES = [
  "mosquitto",
  "cloudflared",
  "traefik",
  "socket-proxy",
  "mqtt-client",
  "dockerflow-standin",
  "docker-flow-proxy",
  "docker-flow-swarm-listener",
  "docker-flow-letsencrypt",
] as const;
export type E2eImageRole = (typeof E2E_IMAGE_ROLES)[number];

export const IMAGE_MANIFEST = join(__dirname, "..", "..", "scripts", "images.json");

const manifest: Record<string, unknown> = JSON.parse(readFileSync(IMAGE_MANIFEST, "utf8"));

/** The tag scripts/images.json gives `role`; a role it lacks fails here, naming it. */
export function e2eImage(role: E2eImageRole): string {
  const tag = manifest[role];
  if (typeof tag !== "string" || tag === "") {
    throw new Error(`scripts/images.json has no tag for "${role}"`);
  }
  return tag;
}
