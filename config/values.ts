/** Checks of single values shared by the schemas and the rules; pure functions. */
import type { PortPublish } from "./types";

export const PROJECT = "mqtt-edge";

/** Active cloudflared replicas Cloudflare allows per tunnel (Cloudflare One account limits). */
export const MAX_REPLICAS = 25;

/** Longest `<project>-<stack>-<host>` whose swarm object names stay within Docker's 64. */
export const SWARM_PREFIX_MAX = 64 - "-mosquitto-passwd-".length - 12;

const HOSTNAME_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
/** Names that end up inside mosquitto's password and ACL files and in Docker object names. */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
export const USER_NAME_ERROR =
  "expected a user name of 1-64 letters, digits, '_', '.', '@' or '-' (no ':', whitespace or newlines, which would change the password or ACL file)";
export const HOST_NAME = /^[a-z0-9][a-z0-9-]{0,30}$/;
/** Cloudflare account and zone ids. */
export const CLOUDFLARE_ID = /^[0-9a-f]{32}$/;
export const CRON_FIELD = /^[0-9*,/-]+$/;

export function isHostname(value: string): boolean {
  if (value.length > 253 || !value.includes(".")) return false;
  return value.split(".").every((label) => HOSTNAME_LABEL.test(label));
}

/**
 * An MQTT topic filter as it may appear in an ACL line: no whitespace or control characters
 * (a newline would start a new directive in the rendered file), `#` only as the last level,
 * `+` only as a whole level.
 */
export function topicProblem(topic: string): string | undefined {
  if (topic.length === 0) return "a non-empty topic filter";
  if (Buffer.byteLength(topic, "utf8") > 65535) return "a topic filter of at most 65535 bytes";
  if (/[\s\u0000-\u001f\u007f]/.test(topic)) {
    return "a topic filter without whitespace or control characters";
  }
  const levels = topic.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      return "a topic filter with '#' only as the whole last level";
    }
    if (level.includes("+") && level !== "+") {
      return "a topic filter with '+' only as a whole level";
    }
  }
  return undefined;
}

/** `<ipv4>:<port>`, or undefined if `value` is not one. */
export function parsePublish(value: string): PortPublish | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1].split(".").some((o) => Number(o) > 255)) return undefined;
  return { ip: m[1], port };
}

export function inZone(hostname: string, zone: string): boolean {
  return hostname === zone || hostname.endsWith(`.${zone}`);
}

/** The zone a hostname belongs to: the longest configured zone it is inside (as DockFlare does). */
export function zoneFor(hostname: string, zones: string[]): string | undefined {
  return zones.filter((z) => inZone(hostname, z)).sort((a, b) => b.length - a.length)[0];
}
