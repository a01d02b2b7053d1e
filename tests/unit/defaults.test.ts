/**
 * A default is stated once, in config/defaults.ts; Pulumi.yaml's declarations and the README's
 * config table echo it. These tests keep the echoes honest.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import {
  BROKER_DEFAULTS,
  PROTECT_DEFAULT,
  SWARM_DEFAULTS,
  TUNNEL_DEFAULTS,
  defaultUsers,
  parseConfig,
} from "../../config";

const ROOT = join(__dirname, "..", "..");

describe("defaults are stated once", () => {
  test("Pulumi.yaml declares the defaults of config/defaults.ts", () => {
    const project = parseYaml(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")) as {
      config: Record<string, { default?: unknown }>;
    };
    assert.deepEqual(project.config["mqtt-edge:tunnel"].default, { mode: TUNNEL_DEFAULTS.mode });
    assert.deepEqual(project.config["mqtt-edge:broker"].default, { users: defaultUsers() });
    assert.equal(project.config["mqtt-edge:protect"].default, PROTECT_DEFAULT);
  });

  test("a stack with no config at all (an inline program) gets the default user", () => {
    const cfg = parseConfig({
      project: "mqtt-edge",
      stack: "inline",
      get: () => undefined,
      isSecret: () => false,
    });
    assert.equal(cfg.tunnel.mode, TUNNEL_DEFAULTS.mode);
    assert.deepEqual(cfg.broker.users, defaultUsers());
    assert.equal(cfg.tunnel.memoryMb, TUNNEL_DEFAULTS.memoryMb);
  });

  test("the default user is for stacks without anonymous clients; named users replace it", () => {
    const broker = (b: Record<string, unknown>) =>
      parseConfig({
        project: "mqtt-edge",
        stack: "inline",
        get: (k) => (k === "broker" ? JSON.stringify(b) : undefined),
        isSecret: () => false,
      }).broker;
    assert.deepEqual(broker({ memoryMb: 64 }).users, defaultUsers());
    assert.deepEqual(broker({ allowAnonymous: true }).users, []);
    assert.deepEqual(broker({ users: [{ name: "u" }] }).users, [{ name: "u", acl: [] }]);
  });

  test("the README's config table shows the defaults of config/defaults.ts", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const defaultOf = (key: string): string => {
      const row = readme.split("\n").find((l) => l.startsWith(`| \`${key}\` |`));
      assert.ok(row, `README.md has no config table row for ${key}`);
      return row.split("|")[2].trim();
    };
    const expected: Record<string, unknown> = {
      "tunnel.mode": TUNNEL_DEFAULTS.mode,
      "tunnel.replicas": TUNNEL_DEFAULTS.replicas,
      "tunnel.image": TUNNEL_DEFAULTS.image,
      "tunnel.access": TUNNEL_DEFAULTS.access,
      "tunnel.manageZoneSettings": TUNNEL_DEFAULTS.manageZoneSettings,
      "tunnel.secretVersion": JSON.stringify(TUNNEL_DEFAULTS.secretVersion),
      "tunnel.memoryMb": TUNNEL_DEFAULTS.memoryMb,
      "broker.image": BROKER_DEFAULTS.image,
      "broker.allowAnonymous": BROKER_DEFAULTS.allowAnonymous,
      "broker.persistence": BROKER_DEFAULTS.persistence,
      "broker.websocketPort": BROKER_DEFAULTS.websocketPort,
      "broker.maxConnections": BROKER_DEFAULTS.maxConnections,
      "broker.messageSizeLimit": BROKER_DEFAULTS.messageSizeLimit,
      "broker.maxKeepalive": BROKER_DEFAULTS.maxKeepalive,
      "broker.memoryMb": BROKER_DEFAULTS.memoryMb,
      protect: PROTECT_DEFAULT,
      "swarm.network": SWARM_DEFAULTS.network,
      "swarm.proxyReplicas": SWARM_DEFAULTS.proxyReplicas,
      "swarm.endpointMode": SWARM_DEFAULTS.endpointMode,
      "swarm.dockerSocket": SWARM_DEFAULTS.dockerSocket,
    };
    for (const [key, value] of Object.entries(expected)) {
      assert.equal(defaultOf(key), `\`${String(value)}\``, key);
    }
  });
});
