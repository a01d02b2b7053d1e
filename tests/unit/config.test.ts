import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { ConfigError, imageProblem, parseConfig, topicProblem, zoneFor } from "../../config";
import {
  FAKE_ACCOUNT,
  managedConfig,
  runProgram,
  toEngineConfig,
  type StackConfigInput,
} from "./harness";

const ROOT = join(__dirname, "..", "..");

function parse(config: StackConfigInput, secretKeys: string[] = []) {
  const engine = toEngineConfig(config);
  return parseConfig(
    {
      project: "mqtt-edge",
      stack: "test",
      get: (k) => engine[`mqtt-edge:${k}`],
      isSecret: (k) => secretKeys.includes(k),
    },
    Object.keys(engine),
  );
}

function problems(config: StackConfigInput, secretKeys: string[] = []): string[] {
  try {
    parse(config, secretKeys);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.message}`);
    throw e;
  }
  return [];
}

const base = managedConfig();
const tunnel = base.tunnel as Record<string, unknown>;
const broker = base.broker as Record<string, unknown>;
const withTunnel = (t: Record<string, unknown>) => ({ ...base, tunnel: { ...tunnel, ...t } });
const withBroker = (b: Record<string, unknown>) => ({ ...base, broker: { ...broker, ...b } });
const TOKEN = Buffer.from(JSON.stringify({ a: FAKE_ACCOUNT, t: "x", s: "y".repeat(44) })).toString(
  "base64",
);

/** [case, config, secret keys, expected key path, expected text in the message] */
const BAD: [string, StackConfigInput, string[], string, RegExp][] = [
  [
    "unknown mode",
    withTunnel({ mode: "magic" }),
    [],
    "mqtt-edge:tunnel.mode",
    /one of "managed", "token", "quick", "none".*"magic"/,
  ],
  [
    "tunnel is a string",
    { ...base, tunnel: "managed" },
    [],
    "mqtt-edge:tunnel",
    /object.*"managed"/,
  ],
  [
    "replicas is a string",
    withTunnel({ replicas: "two" }),
    [],
    "mqtt-edge:tunnel.replicas",
    /whole number.*"two"/,
  ],
  ["replicas zero", withTunnel({ replicas: 0 }), [], "mqtt-edge:tunnel.replicas", /at least 1/],
  [
    "replicas fractional",
    withTunnel({ replicas: 1.5 }),
    [],
    "mqtt-edge:tunnel.replicas",
    /whole number/,
  ],
  [
    "managed without accountId",
    withTunnel({ accountId: undefined }),
    [],
    "mqtt-edge:tunnel.accountId",
    /required in managed mode/,
  ],
  [
    "managed without zone",
    withTunnel({ zone: undefined }),
    [],
    "mqtt-edge:tunnel.zone",
    /required in managed mode/,
  ],
  [
    "managed without hostname",
    withTunnel({ hostname: undefined }),
    [],
    "mqtt-edge:tunnel.hostname",
    /required in managed mode/,
  ],
  ["bad accountId", withTunnel({ accountId: "acme" }), [], "mqtt-edge:tunnel.accountId", /32 hex/],
  [
    "hostname outside the zone",
    withTunnel({ hostname: "mqtt.other.org" }),
    [],
    "mqtt-edge:tunnel.hostname",
    /"mqtt.other.org" is not inside zone "example.com"/,
  ],
  [
    "hostname not a hostname",
    withTunnel({ hostname: "mqtt example com" }),
    [],
    "mqtt-edge:tunnel.hostname",
    /fully qualified DNS hostname/,
  ],
  [
    "hostname with newline",
    withTunnel({ hostname: "mqtt.example.com\nx" }),
    [],
    "mqtt-edge:tunnel.hostname",
    /fully qualified/,
  ],
  [
    "duplicate hostnames",
    withTunnel({ hostname: ["mqtt.example.com", "mqtt.example.com"] }),
    [],
    "mqtt-edge:tunnel.hostname",
    /duplicate hostname "mqtt.example.com"/,
  ],
  [
    "cloudflared latest",
    withTunnel({ image: "cloudflare/cloudflared:latest" }),
    [],
    "mqtt-edge:tunnel.image",
    /not "latest"/,
  ],
  [
    "cloudflared untagged",
    withTunnel({ image: "cloudflare/cloudflared" }),
    [],
    "mqtt-edge:tunnel.image",
    /pinned tag/,
  ],
  [
    "registry port is not a tag",
    withTunnel({ image: "localhost:5000/cloudflared" }),
    [],
    "mqtt-edge:tunnel.image",
    /pinned tag/,
  ],
  [
    "bad digest",
    withTunnel({ image: "cloudflared@sha256:abc" }),
    [],
    "mqtt-edge:tunnel.image",
    /sha256:<64 hex>/,
  ],
  [
    "mosquitto latest",
    withBroker({ image: "eclipse-mosquitto:latest" }),
    [],
    "mqtt-edge:broker.image",
    /not "latest"/,
  ],
  [
    "mosquitto LATEST (any case)",
    withBroker({ image: "eclipse-mosquitto:LATEST" }),
    [],
    "mqtt-edge:broker.image",
    /not "latest"/,
  ],
  [
    "an edge address that is a flag",
    withTunnel({ edge: ["--token"] }),
    [],
    "mqtt-edge:tunnel.edge[0]",
    /expected host:port/,
  ],
  [
    "an edge address without a port",
    withTunnel({ edge: ["198.41.192.7"] }),
    [],
    "mqtt-edge:tunnel.edge[0]",
    /expected host:port/,
  ],
  [
    "mosquitto untagged",
    withBroker({ image: "eclipse-mosquitto" }),
    [],
    "mqtt-edge:broker.image",
    /pinned tag/,
  ],
  ["unknown tunnel key", withTunnel({ hostnme: "x" }), [], "mqtt-edge:tunnel", /hostnme/],
  [
    "unknown broker key",
    withBroker({ allowAnonymus: true }),
    [],
    "mqtt-edge:broker",
    /allowAnonymus/,
  ],
  [
    "unknown top-level key",
    { ...base, tunel: { mode: "quick" } },
    [],
    "mqtt-edge:tunel",
    /unknown key/,
  ],
  [
    "websocket port string",
    withBroker({ websocketPort: "9001" }),
    [],
    "mqtt-edge:broker.websocketPort",
    /port number.*"9001"/,
  ],
  [
    "websocket port too big",
    withBroker({ websocketPort: 70000 }),
    [],
    "mqtt-edge:broker.websocketPort",
    /between 1 and 65535/,
  ],
  [
    "websocket port zero",
    withBroker({ websocketPort: 0 }),
    [],
    "mqtt-edge:broker.websocketPort",
    /between 1 and 65535/,
  ],
  [
    "websocket port clashes with 1883",
    withBroker({ websocketPort: 1883 }),
    [],
    "mqtt-edge:broker.websocketPort",
    /other than 1883/,
  ],
  [
    "tcp publish without ip",
    withBroker({ tcp: { publish: "1883" } }),
    [],
    "mqtt-edge:broker.tcp.publish",
    /<ipv4>:<port>/,
  ],
  [
    "tcp publish bad octet",
    withBroker({ tcp: { publish: "300.0.0.1:1883" } }),
    [],
    "mqtt-edge:broker.tcp.publish",
    /<ipv4>:<port>/,
  ],
  [
    "both publishes on one port",
    withBroker({ tcp: { publish: "127.0.0.1:1883" }, websocket: { publish: "127.0.0.1:1883" } }),
    [],
    "mqtt-edge:broker.websocket.publish",
    /different host port/,
  ],
  [
    "allowAnonymous string",
    withBroker({ allowAnonymous: "yes" }),
    [],
    "mqtt-edge:broker.allowAnonymous",
    /true or false/,
  ],
  [
    "no users and no anonymous",
    withBroker({ users: [] }),
    [],
    "mqtt-edge:broker.users",
    /at least one user/,
  ],
  [
    "duplicate users",
    withBroker({ users: [{ name: "a" }, { name: "a" }] }),
    [],
    "mqtt-edge:broker.users[1].name",
    /duplicate user "a"/,
  ],
  [
    "user with newline directive",
    withBroker({ users: [{ name: "a\nallow_anonymous true" }] }),
    [],
    "mqtt-edge:broker.users[0].name",
    /no ':', whitespace or newlines/,
  ],
  [
    "user with colon",
    withBroker({ users: [{ name: "a:b" }] }),
    [],
    "mqtt-edge:broker.users[0].name",
    /user name/,
  ],
  [
    "user with space",
    withBroker({ users: [{ name: "a b" }] }),
    [],
    "mqtt-edge:broker.users[0].name",
    /user name/,
  ],
  [
    "acl topic with newline",
    withBroker({ users: [{ name: "a", acl: [{ access: "read", topic: "x\nuser admin" }] }] }),
    [],
    "mqtt-edge:broker.users[0].acl[0].topic",
    /without whitespace/,
  ],
  [
    "acl topic with space",
    withBroker({ users: [{ name: "a", acl: [{ access: "read", topic: "a b" }] }] }),
    [],
    "mqtt-edge:broker.users[0].acl[0].topic",
    /without whitespace/,
  ],
  [
    "acl hash not last",
    withBroker({ users: [{ name: "a", acl: [{ access: "read", topic: "a/#/b" }] }] }),
    [],
    "mqtt-edge:broker.users[0].acl[0].topic",
    /'#' only/,
  ],
  [
    "acl plus inside a level",
    withBroker({ users: [{ name: "a", acl: [{ access: "read", topic: "a/b+" }] }] }),
    [],
    "mqtt-edge:broker.users[0].acl[0].topic",
    /'\+' only/,
  ],
  [
    "acl unknown access",
    withBroker({ users: [{ name: "a", acl: [{ access: "all", topic: "a" }] }] }),
    [],
    "mqtt-edge:broker.users[0].acl[0].access",
    /"read", "write", "readwrite", "deny"/,
  ],
  [
    "pattern without %u/%c",
    withBroker({ patterns: [{ access: "read", topic: "x/#" }] }),
    [],
    "mqtt-edge:broker.patterns[0].topic",
    /%u or %c/,
  ],
  [
    "messageSizeLimit above MQTT's",
    withBroker({ messageSizeLimit: 300_000_000 }),
    [],
    "mqtt-edge:broker.messageSizeLimit",
    /268435455/,
  ],
  [
    "maxConnections negative",
    withBroker({ maxConnections: -1 }),
    [],
    "mqtt-edge:broker.maxConnections",
    /at least 1/,
  ],
  [
    "anonymousAcl without allowAnonymous",
    withBroker({ anonymousAcl: [{ access: "read", topic: "#" }] }),
    [],
    "mqtt-edge:broker.anonymousAcl",
    /only used when allowAnonymous/,
  ],
  [
    "token mode without token",
    withTunnel({ mode: "token", accountId: undefined, zone: undefined, hostname: undefined }),
    [],
    "mqtt-edge:tunnelToken",
    /required in token mode/,
  ],
  [
    "token not a secret",
    {
      ...withTunnel({ mode: "token", accountId: undefined, zone: undefined, hostname: undefined }),
      tunnelToken: TOKEN,
    },
    [],
    "mqtt-edge:tunnelToken",
    /expected a secret value/,
  ],
  [
    "token in managed mode",
    { ...base, tunnelToken: TOKEN },
    ["tunnelToken"],
    "mqtt-edge:tunnelToken",
    /only used in token mode/,
  ],
  [
    "accountId in quick mode",
    withTunnel({ mode: "quick", zone: undefined, hostname: undefined }),
    [],
    "mqtt-edge:tunnel.accountId",
    /only used in managed mode/,
  ],
  [
    "hostname in quick mode",
    withTunnel({ mode: "quick", accountId: undefined, zone: undefined }),
    [],
    "mqtt-edge:tunnel.hostname",
    /needs managed mode/,
  ],
  ["empty hosts", { ...base, hosts: [] }, [], "mqtt-edge:hosts", /at least one host/],
  [
    "duplicate host names",
    {
      ...base,
      hosts: [
        { name: "a", hostname: "a.example.com" },
        { name: "a", hostname: "b.example.com" },
      ],
    },
    [],
    "mqtt-edge:hosts[1].name",
    /duplicate host "a"/,
  ],
  [
    "bad docker endpoint",
    { ...base, hosts: [{ name: "a", docker: "edge-a:2375", hostname: "a.example.com" }] },
    [],
    "mqtt-edge:hosts[0].docker",
    /unix:\/\/.*tcp:\/\/.*ssh:\/\//,
  ],
  [
    "host without hostname",
    {
      ...base,
      tunnel: { ...tunnel, hostname: undefined },
      hosts: [{ name: "a", hostname: "a.example.com" }, { name: "b" }],
    },
    [],
    "mqtt-edge:hosts[1].hostname",
    /each host has its own tunnel/,
  ],
  [
    "hostname shared by two hosts",
    {
      ...base,
      tunnel: { ...tunnel, hostname: undefined },
      hosts: [
        { name: "a", hostname: "a.example.com" },
        { name: "b", hostname: "a.example.com" },
      ],
    },
    [],
    "mqtt-edge:hosts[1].hostname",
    /duplicate hostname "a.example.com" \(also used by host a\)/,
  ],
  [
    "host name with uppercase",
    { ...base, hosts: [{ name: "Edge_A", hostname: "a.example.com" }] },
    [],
    "mqtt-edge:hosts[0].name",
    /lowercase/,
  ],
  [
    "host zone override mismatched",
    {
      ...base,
      tunnel: {
        ...tunnel,
        zone: undefined,
        zones: ["example.com", "example.org"],
        hostname: undefined,
      },
      hosts: [{ name: "a", hostname: "a.example.com", zone: "example.org" }],
    },
    [],
    "mqtt-edge:hosts[0].hostname",
    /not inside zone "example.org"/,
  ],
  [
    "zone and zones",
    withTunnel({ zones: ["example.com"] }),
    [],
    "mqtt-edge:tunnel.zones",
    /either zone or zones/,
  ],
  ["protect not boolean", { ...base, protect: "maybe" }, [], "mqtt-edge:protect", /"maybe"/],
  [
    "swarm unknown proxy",
    { ...base, swarm: { proxy: "nginx" } },
    [],
    "mqtt-edge:swarm.proxy",
    /"dockerflow" or "traefik"/,
  ],
  [
    "swarm bad cron",
    {
      ...base,
      swarm: {
        letsencrypt: {
          email: "ops@example.com",
          domains: ["www.example.com"],
          renewCron: ["every day"],
        },
      },
    },
    [],
    "mqtt-edge:swarm.letsencrypt.renewCron[0]",
    /5-field cron/,
  ],
  [
    "swarm bad email",
    { ...base, swarm: { letsencrypt: { email: "ops", domains: ["www.example.com"] } } },
    [],
    "mqtt-edge:swarm.letsencrypt.email",
    /e-mail/,
  ],
  [
    "swarm with two hosts",
    {
      ...base,
      tunnel: { ...tunnel, hostname: undefined },
      hosts: [
        { name: "a", hostname: "a.example.com" },
        { name: "b", hostname: "b.example.com" },
      ],
      swarm: { enabled: true },
    },
    [],
    "mqtt-edge:swarm",
    /at most one host/,
  ],
  [
    "swarm names over Docker's limit",
    {
      ...base,
      hosts: [{ name: "edge-with-a-long-name", hostname: "a.example.com" }],
      swarm: { enabled: true },
    },
    [],
    "mqtt-edge:swarm",
    /too long: "mqtt-edge-test-edge-with-a-long-name" is 36 characters, at most 34/,
  ],
  [
    "dockerTls not secret",
    {
      ...base,
      dockerTls: {
        a: {
          ca: "-----BEGIN CERTIFICATE-----",
          cert: "-----BEGIN CERTIFICATE-----",
          key: "-----BEGIN PRIVATE KEY-----",
        },
      },
    },
    [],
    "mqtt-edge:dockerTls",
    /secret value/,
  ],
];

describe("config validation refuses bad stacks", () => {
  for (const [name, config, secretKeys, path, message] of BAD) {
    test(name, () => {
      const found = problems(config, secretKeys);
      const match = found.find((p) => p.startsWith(`${path}: `) && message.test(p));
      assert.ok(
        match,
        `expected a problem at ${path} matching ${message}; got:\n${found.join("\n")}`,
      );
    });
  }

  test("there are at least 30 cases", () => assert.ok(BAD.length >= 30));

  test("all problems are reported together, each with its key path", () => {
    const found = problems({
      ...base,
      tunnel: { ...tunnel, mode: "managed", accountId: "x", image: "cloudflared:latest" },
      broker: { ...broker, websocketPort: 0, users: [{ name: "a b" }] },
    });
    assert.ok(found.length >= 4, found.join("\n"));
    for (const prefix of [
      "mqtt-edge:tunnel.accountId",
      "mqtt-edge:tunnel.image",
      "mqtt-edge:broker.websocketPort",
      "mqtt-edge:broker.users[0].name",
    ]) {
      assert.ok(
        found.some((p) => p.startsWith(prefix)),
        `missing ${prefix} in\n${found.join("\n")}`,
      );
    }
  });

  test("checks across keys still run when a key has a problem of its own", () => {
    const found = problems(withTunnel({ image: "cloudflared:latest", hostname: "mqtt.other.org" }));
    assert.ok(
      found.some((p) => p.startsWith("mqtt-edge:tunnel.image")),
      found.join("\n"),
    );
    assert.ok(
      found.some((p) => p.includes('"mqtt.other.org" is not inside zone "example.com"')),
      found.join("\n"),
    );
    const users = problems(withBroker({ users: [{ name: "a b" }] }));
    assert.deepEqual(
      users.map((p) => p.split(":")[1]),
      ["broker.users[0].name"],
      "no second-hand 'no users' problem",
    );
  });

  test("a secret's value never appears in an error message", () => {
    const found = problems(
      {
        ...withTunnel({
          mode: "token",
          accountId: undefined,
          zone: undefined,
          hostname: undefined,
        }),
        tunnelToken: "short secret!",
      },
      ["tunnelToken"],
    );
    assert.ok(found.some((p) => p.startsWith("mqtt-edge:tunnelToken")));
    assert.ok(
      found.every((p) => !p.includes("short secret!")),
      found.join("\n"),
    );
  });

  test("a bad stack registers no resource at all", async () => {
    await assert.rejects(
      runProgram(withTunnel({ hostname: "mqtt.other.org" })),
      /mqtt-edge:tunnel.hostname: "mqtt.other.org" is not inside zone "example.com"/,
    );
  });
});

describe("config defaults and accepted values", () => {
  test("an empty stack is a quick tunnel with hardened defaults", () => {
    const cfg = parse({ broker: { users: [{ name: "u" }] } });
    assert.equal(cfg.tunnel.mode, "quick");
    assert.equal(cfg.tunnel.replicas, 1);
    assert.equal(cfg.broker.allowAnonymous, false);
    assert.equal(cfg.broker.persistence, true);
    assert.equal(cfg.broker.websocketPort, 9001);
    assert.equal(cfg.broker.tcp, undefined, "1883 is not published by default");
    assert.deepEqual(
      cfg.hosts.map((h) => h.name),
      ["local"],
    );
    assert.equal(imageProblem(cfg.broker.image), undefined);
    assert.equal(imageProblem(cfg.tunnel.image), undefined);
  });

  test("the committed dev and prod stacks are valid", () => {
    for (const stack of ["dev", "prod"]) {
      const doc = parseYaml(readFileSync(join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as {
        config: Record<string, unknown>;
      };
      const cfg = parse(doc.config);
      assert.ok(cfg.hosts.length >= 1, stack);
    }
  });

  test("the project's declared defaults form a valid stack", () => {
    const project = parseYaml(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")) as {
      config: Record<string, { default?: unknown }>;
    };
    const defaults = Object.fromEntries(
      Object.entries(project.config).map(([k, v]) => [k, v.default]),
    );
    const cfg = parse(defaults);
    assert.equal(cfg.tunnel.mode, "quick");
    assert.deepEqual(
      cfg.broker.users.map((u) => u.name),
      ["client"],
    );
  });

  test("hostnames are matched to the longest zone suffix", () => {
    assert.equal(
      zoneFor("mqtt.eu.example.com", ["example.com", "eu.example.com"]),
      "eu.example.com",
    );
    assert.equal(zoneFor("mqtt.example.com", ["example.com", "eu.example.com"]), "example.com");
    assert.equal(zoneFor("mqtt.notexample.com", ["example.com"]), undefined);
  });

  test("topic and image checks", () => {
    assert.equal(topicProblem("sensors/+/temp"), undefined);
    assert.equal(topicProblem("#"), undefined);
    assert.equal(topicProblem("clients/%u/#"), undefined);
    assert.ok(topicProblem(""));
    assert.equal(imageProblem("eclipse-mosquitto:2.0.22"), undefined);
    assert.equal(imageProblem(`registry.local:5000/mosquitto@sha256:${"a".repeat(64)}`), undefined);
    assert.equal(imageProblem("registry.local:5000/mosquitto:2.0.22"), undefined);
  });
});
