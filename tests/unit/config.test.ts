import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { ConfigError, imageProblem, parseConfig, topicProblem, zoneFor } from "../../config";
import {
  FAKE_ACCOUNT,
  managedConfig,
  resolve,
  runProgram,
  toEngineConfig,
  type StackConfigInput,
} from "../support/programRunner";

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
    "replicas past Cloudflare's limit per tunnel",
    withTunnel({ replicas: 26 }),
    [],
    "mqtt-edge:tunnel.replicas",
    /at most 25 connectors per host \(Cloudflare's limit per tunnel\)/,
  ],
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
    "manageZoneSettings not a boolean",
    withTunnel({ manageZoneSettings: "yes" }),
    [],
    "mqtt-edge:tunnel.manageZoneSettings",
    /expected true or false/,
  ],
  [
    "manageZoneSettings in quick mode",
    withTunnel({
      mode: "quick",
      accountId: undefined,
      zone: undefined,
      hostname: undefined,
      manageZoneSettings: true,
    }),
    [],
    "mqtt-edge:tunnel.manageZoneSettings",
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
    "maxKeepalive below mosquitto's 10",
    withBroker({ maxKeepalive: 5 }),
    [],
    "mqtt-edge:broker.maxKeepalive",
    /expected at least 10 seconds \(mosquitto refuses less\) \(got 5\)/,
  ],
  [
    "maxKeepalive above 16 bits",
    withBroker({ maxKeepalive: 65536 }),
    [],
    "mqtt-edge:broker.maxKeepalive",
    /expected at most 65535 seconds \(MQTT's keep alive is 16 bits\) \(got 65536\)/,
  ],
  [
    "maxKeepalive fractional",
    withBroker({ maxKeepalive: 59.5 }),
    [],
    "mqtt-edge:broker.maxKeepalive",
    /expected a whole number of seconds \(got 59.5\)/,
  ],
  [
    "maxKeepalive a string",
    withBroker({ maxKeepalive: "60" }),
    [],
    "mqtt-edge:broker.maxKeepalive",
    /expected a number of seconds \(got "60"\)/,
  ],
  [
    "monitorUser with a newline",
    withBroker({ monitorUser: "monitor\nuser admin" }),
    [],
    "mqtt-edge:broker.monitorUser",
    /expected a user name of 1-64 .*no ':', whitespace or newlines/,
  ],
  [
    "monitorUser not a string",
    withBroker({ monitorUser: true }),
    [],
    "mqtt-edge:broker.monitorUser",
    /expected a user name \(got true\)/,
  ],
  [
    "monitorUser is also a user",
    withBroker({ monitorUser: "dashboard" }),
    [],
    "mqtt-edge:broker.monitorUser",
    /duplicate user "dashboard" \(also users\[1\]\); the monitor user may read \$SYS\/# only, so it needs a name of its own/,
  ],
  [
    "a pattern on a $-topic with a monitor user",
    withBroker({ monitorUser: "monitor", patterns: [{ access: "read", topic: "$SYS/%u/#" }] }),
    [],
    "mqtt-edge:broker.patterns[0].topic",
    /expected a topic that does not start with '\$' when monitorUser is set .* \(got "\$SYS\/%u\/#"\)/,
  ],
  [
    "metrics publish without an address",
    withTunnel({ metrics: { publish: "2000" } }),
    [],
    "mqtt-edge:tunnel.metrics.publish",
    /expected "<ipv4>:<port>", such as "127.0.0.1:1883" \(got "2000"\)/,
  ],
  [
    "metrics publish port out of range",
    withTunnel({ metrics: { publish: "127.0.0.1:70000" } }),
    [],
    "mqtt-edge:tunnel.metrics.publish",
    /<ipv4>:<port>/,
  ],
  [
    "metrics with an unknown key",
    withTunnel({ metrics: { port: 2000 } }),
    [],
    "mqtt-edge:tunnel.metrics",
    /port/,
  ],
  [
    "metrics a boolean",
    withTunnel({ metrics: true }),
    [],
    "mqtt-edge:tunnel.metrics",
    /expected an object such as \{ publish: "127.0.0.1:2000" \} \(got true\)/,
  ],
  [
    "metrics in none mode",
    withTunnel({
      mode: "none",
      accountId: undefined,
      zone: undefined,
      hostname: undefined,
      metrics: {},
    }),
    [],
    "mqtt-edge:tunnel.metrics",
    /only used when connectors run \(mode is "none"\)/,
  ],
  [
    "metrics ports past 65535 for the replicas",
    withTunnel({ replicas: 2, metrics: { publish: "127.0.0.1:65535" } }),
    [],
    "mqtt-edge:tunnel.metrics.publish",
    /expected room for 2 host ports, one per connector \(port \+ i - 1\), but 65535 \+ 1 is past 65535/,
  ],
  [
    "metrics ports past 65535 for a host's own replicas",
    {
      ...withTunnel({ hostname: undefined, metrics: { publish: "127.0.0.1:65534" } }),
      hosts: [{ name: "a", hostname: "a.example.com", replicas: 3 }],
    },
    [],
    "mqtt-edge:tunnel.metrics.publish",
    /room for 3 host ports.*65534 \+ 2 is past 65535/,
  ],
  [
    "metrics ports overlap broker.tcp.publish",
    {
      ...withTunnel({ replicas: 2, metrics: { publish: "127.0.0.1:1882" } }),
      broker: { ...broker, tcp: { publish: "127.0.0.1:1883" } },
    },
    [],
    "mqtt-edge:tunnel.metrics.publish",
    /expected host ports 1882-1883 \(one per connector\) apart from broker.tcp.publish \(127.0.0.1:1883\)/,
  ],
  [
    "metrics on 0.0.0.0 overlap broker.websocket.publish",
    {
      ...withTunnel({ replicas: 1, metrics: { publish: "0.0.0.0:9001" } }),
      broker: { ...broker, websocket: { publish: "127.0.0.1:9001" } },
    },
    [],
    "mqtt-edge:tunnel.metrics.publish",
    /apart from broker.websocket.publish \(127.0.0.1:9001\)/,
  ],
  [
    "metrics in swarm mode",
    { ...withTunnel({ metrics: {} }), swarm: { enabled: true } },
    [],
    "mqtt-edge:tunnel.metrics",
    /not available in swarm mode: a swarm publishes one port for all replicas/,
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
  test("tunnel.manageZoneSettings: default false, true accepted", () => {
    assert.equal(parse(base).tunnel.manageZoneSettings, false);
    assert.equal(parse(withTunnel({ manageZoneSettings: true })).tunnel.manageZoneSettings, true);
    assert.equal(parse(withTunnel({ manageZoneSettings: false })).tunnel.manageZoneSettings, false);
  });

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
    assert.equal(cfg.broker.maxKeepalive, 60, "max_keepalive 60: well inside the edge's idle time");
    assert.equal(cfg.broker.monitorUser, undefined, "no monitor user unless asked for");
    assert.equal(cfg.tunnel.metrics, undefined, "metrics are not published by default");
    assert.equal(parse(withTunnel({ replicas: 25 })).tunnel.replicas, 25, "Cloudflare's limit");
  });

  test("keep alive, monitor user and metrics: accepted values", () => {
    const cfg = parse(
      withBroker({ maxKeepalive: 10, monitorUser: "prometheus@ops" }) as StackConfigInput,
    );
    assert.equal(cfg.broker.maxKeepalive, 10);
    assert.equal(cfg.broker.monitorUser, "prometheus@ops");
    assert.equal(parse(withBroker({ maxKeepalive: 65535 })).broker.maxKeepalive, 65535);
    // tunnel.metrics set without an address: loopback, port 2000.
    assert.deepEqual(parse(withTunnel({ metrics: {} })).tunnel.metrics, {
      publish: { ip: "127.0.0.1", port: 2000 },
    });
    assert.deepEqual(
      parse(withTunnel({ replicas: 16, metrics: { publish: "10.0.0.5:9100" } })).tunnel.metrics,
      { publish: { ip: "10.0.0.5", port: 9100 } },
    );
    // The last port of the range may be 65535, and a range next to the broker's port is fine.
    assert.ok(parse(withTunnel({ replicas: 2, metrics: { publish: "127.0.0.1:65534" } })));
    assert.ok(
      parse({
        ...withTunnel({ replicas: 2, metrics: { publish: "127.0.0.1:1881" } }),
        broker: { ...broker, tcp: { publish: "127.0.0.1:1883" } },
      }),
    );
    // Another address, the same port: no clash.
    assert.ok(
      parse({
        ...withTunnel({ metrics: { publish: "127.0.0.2:1883" } }),
        broker: { ...broker, tcp: { publish: "127.0.0.1:1883" } },
      }),
    );
  });

  test("the monitor user gets a generated password, exported in mqttCredentials", async () => {
    const { rec, outputs } = await runProgram(withBroker({ monitorUser: "monitor" }));
    const password = rec.byName("mqtt-password-monitor");
    assert.equal(password.inputs.length, 32);
    const creds = await resolve(outputs.mqttCredentials);
    assert.equal(creds.secret, true);
    assert.deepEqual(Object.keys(creds.value as object).sort(), ["dashboard", "monitor", "sensor"]);
    const writer = rec.byName("local-broker-config-writer");
    const uploads = writer.inputs.uploads as { file: string; content: string }[];
    const passwd = uploads.find((u) => u.file === "/mosquitto/config/passwd")!.content;
    assert.match(passwd, /^monitor:\$7\$/m);
    const acl = uploads.find((u) => u.file === "/mosquitto/config/acl")!.content;
    assert.match(acl, /^user monitor\ntopic deny #\ntopic read \$SYS\/#$/m);
    const conf = uploads.find((u) => u.file === "/mosquitto/config/mosquitto.conf")!.content;
    assert.match(conf, /^max_keepalive 60$/m);
  });

  test("tunnel.metrics publishes connector i at port + i - 1 and lists the URLs", async () => {
    const { rec, outputs } = await runProgram(
      withTunnel({ replicas: 2, metrics: { publish: "127.0.0.1:2000" } }),
    );
    for (const i of [1, 2]) {
      const c = rec.byName(`local-connector-${i}`);
      assert.deepEqual(c.inputs.ports, [
        { internal: 2000, external: 1999 + i, ip: "127.0.0.1", protocol: "tcp" },
      ]);
      assert.deepEqual(c.inputs.command.slice(0, 4), [
        "tunnel",
        "--no-autoupdate",
        "--metrics",
        "0.0.0.0:2000",
      ]);
      assert.deepEqual(c.inputs.healthcheck.tests, [
        "CMD",
        "cloudflared",
        "tunnel",
        "--metrics",
        "127.0.0.1:2000",
        "ready",
      ]);
    }
    const summary = (await resolve(outputs.hosts[0])).value as { metricsUrls?: string[] };
    assert.deepEqual(summary.metricsUrls, [
      "http://127.0.0.1:2000/metrics",
      "http://127.0.0.1:2001/metrics",
    ]);

    // Without it: nothing published, the server on loopback inside the container.
    const plain = await runProgram(base);
    const c = plain.rec.byName("local-connector-1");
    assert.equal(c.inputs.ports, undefined);
    assert.equal(c.inputs.command[3], "127.0.0.1:2000");
    const s = (await resolve(plain.outputs.hosts[0])).value as Record<string, unknown>;
    assert.ok(!("metricsUrls" in s));
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
