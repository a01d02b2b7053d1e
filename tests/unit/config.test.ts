import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { imageProblem, topicProblem, zoneFor } from "../../config";
import {
  FAKE_ACCOUNT,
  managedConfig,
  resolve,
  runProgram,
  type StackConfigInput,
} from "../support/programRunner";
import { configProblems as problems, parseStack as parse } from "../support/stackConfig";

const ROOT = join(__dirname, "..", "..");

const base = managedConfig();
const tunnel = base.tunnel as Record<string, unknown>;
const broker = base.broker as Record<string, unknown>;
const withTunnel = (t: Record<string, unknown>) => ({ ...base, tunnel: { ...tunnel, ...t } });
const withBroker = (b: Record<string, unknown>) => ({ ...base, broker: { ...broker, ...b } });
const TOKEN = Buffer.from(JSON.stringify({ a: FAKE_ACCOUNT, t: "x", s: "y".repeat(44) })).toString(
  "base64",
);

/** A stack with a TCP hostname and a site bridge (the README's native-MQTT example's keys). */
const BRIDGE = { topics: [{ topic: "sites/#", direction: "out" }] };
const withTcp = (t: Record<string, unknown> = {}, b: Record<string, unknown> = {}) => ({
  ...base,
  tunnel: { ...tunnel, tcpHostname: "mqtt-tcp.example.com", ...t },
  broker: { ...broker, bridge: BRIDGE, ...b },
});

/** A stack the validation refuses, and the problem it must report. */
interface BadCase {
  /** What is wrong, as the test is named. */
  name: string;
  config: StackConfigInput;
  /** Config keys stored as secrets. Default none. */
  secretKeys?: string[];
  /** The key path the problem names. */
  path: string;
  /** Text the problem's message contains. */
  message: RegExp;
}

const BAD: BadCase[] = [
  {
    name: "unknown mode",
    config: withTunnel({ mode: "magic" }),
    path: "mqtt-edge:tunnel.mode",
    message: /one of "managed", "token", "quick", "none".*"magic"/,
  },
  {
    name: "tunnel is a string",
    config: { ...base, tunnel: "managed" },
    path: "mqtt-edge:tunnel",
    message: /object.*"managed"/,
  },
  {
    name: "replicas is a string",
    config: withTunnel({ replicas: "two" }),
    path: "mqtt-edge:tunnel.replicas",
    message: /whole number.*"two"/,
  },
  {
    name: "replicas zero",
    config: withTunnel({ replicas: 0 }),
    path: "mqtt-edge:tunnel.replicas",
    message: /at least 1/,
  },
  {
    name: "replicas past Cloudflare's limit per tunnel",
    config: withTunnel({ replicas: 26 }),
    path: "mqtt-edge:tunnel.replicas",
    message: /at most 25 connectors per host \(Cloudflare's limit per tunnel\)/,
  },
  {
    name: "replicas fractional",
    config: withTunnel({ replicas: 1.5 }),
    path: "mqtt-edge:tunnel.replicas",
    message: /whole number/,
  },
  {
    name: "managed without accountId",
    config: withTunnel({ accountId: undefined }),
    path: "mqtt-edge:tunnel.accountId",
    message: /required in managed mode/,
  },
  {
    name: "managed without zone",
    config: withTunnel({ zone: undefined }),
    path: "mqtt-edge:tunnel.zone",
    message: /required in managed mode/,
  },
  {
    name: "managed without hostname",
    config: withTunnel({ hostname: undefined }),
    path: "mqtt-edge:tunnel.hostname",
    message: /required in managed mode/,
  },
  {
    name: "bad accountId",
    config: withTunnel({ accountId: "acme" }),
    path: "mqtt-edge:tunnel.accountId",
    message: /32 hex/,
  },
  {
    name: "hostname outside the zone",
    config: withTunnel({ hostname: "mqtt.other.org" }),
    path: "mqtt-edge:tunnel.hostname",
    message: /"mqtt.other.org" is not inside zone "example.com"/,
  },
  {
    name: "hostname not a hostname",
    config: withTunnel({ hostname: "mqtt example com" }),
    path: "mqtt-edge:tunnel.hostname",
    message: /fully qualified DNS hostname/,
  },
  {
    name: "hostname with newline",
    config: withTunnel({ hostname: "mqtt.example.com\nx" }),
    path: "mqtt-edge:tunnel.hostname",
    message: /fully qualified/,
  },
  {
    name: "duplicate hostnames",
    config: withTunnel({ hostname: ["mqtt.example.com", "mqtt.example.com"] }),
    path: "mqtt-edge:tunnel.hostname[1]",
    message: /duplicate hostname "mqtt.example.com"/,
  },
  {
    // The tunnel's hostname goes to hosts[0]; a problem with it is still reported where the
    // user wrote it, not at a hosts[0].hostname that is not in the stack config.
    name: "bad tunnel.hostname beside a hosts list",
    config: {
      ...withTunnel({ hostname: "mqtt.other.org" }),
      hosts: [{ name: "a" }],
    },
    path: "mqtt-edge:tunnel.hostname",
    message: /"mqtt.other.org" is not inside zone "example.com"/,
  },
  {
    name: "tunnel.hostname beside hosts[0].hostname",
    config: {
      ...withTunnel({ hostname: "mqtt.example.com" }),
      hosts: [{ name: "a", hostname: "a.example.com" }],
    },
    path: "mqtt-edge:tunnel.hostname",
    message: /not used: hosts\[0\] names its own hostname/,
  },
  {
    // Without the zone's name, hostnames cannot be checked and zone resources had no name
    // (a ZoneSetting named "zone-websockets-undefined").
    name: "zoneId without zone",
    config: withTunnel({
      zone: undefined,
      zoneId: "023e105f4ecef8ad9ca31a8372d0c353",
      manageZoneSettings: true,
    }),
    path: "mqtt-edge:tunnel.zone",
    message: /required with zoneId: the name of the zone that id belongs to/,
  },
  {
    name: "cloudflared latest",
    config: withTunnel({ image: "cloudflare/cloudflared:latest" }),
    path: "mqtt-edge:tunnel.image",
    message: /not "latest"/,
  },
  {
    name: "cloudflared untagged",
    config: withTunnel({ image: "cloudflare/cloudflared" }),
    path: "mqtt-edge:tunnel.image",
    message: /pinned tag/,
  },
  {
    name: "registry port is not a tag",
    config: withTunnel({ image: "localhost:5000/cloudflared" }),
    path: "mqtt-edge:tunnel.image",
    message: /pinned tag/,
  },
  {
    name: "bad digest",
    config: withTunnel({ image: "cloudflared@sha256:abc" }),
    path: "mqtt-edge:tunnel.image",
    message: /sha256:<64 hex>/,
  },
  {
    name: "mosquitto latest",
    config: withBroker({ image: "eclipse-mosquitto:latest" }),
    path: "mqtt-edge:broker.image",
    message: /not "latest"/,
  },
  {
    name: "mosquitto LATEST (any case)",
    config: withBroker({ image: "eclipse-mosquitto:LATEST" }),
    path: "mqtt-edge:broker.image",
    message: /not "latest"/,
  },
  {
    name: "an edge address that is a flag",
    config: withTunnel({ edge: ["--token"] }),
    path: "mqtt-edge:tunnel.edge[0]",
    message: /expected host:port/,
  },
  {
    name: "an edge address without a port",
    config: withTunnel({ edge: ["198.41.192.7"] }),
    path: "mqtt-edge:tunnel.edge[0]",
    message: /expected host:port/,
  },
  {
    name: "mosquitto untagged",
    config: withBroker({ image: "eclipse-mosquitto" }),
    path: "mqtt-edge:broker.image",
    message: /pinned tag/,
  },
  {
    name: "unknown tunnel key",
    config: withTunnel({ hostnme: "x" }),
    path: "mqtt-edge:tunnel",
    message: /hostnme/,
  },
  {
    name: "unknown broker key",
    config: withBroker({ allowAnonymus: true }),
    path: "mqtt-edge:broker",
    message: /allowAnonymus/,
  },
  {
    name: "unknown top-level key",
    config: { ...base, tunel: { mode: "quick" } },
    path: "mqtt-edge:tunel",
    message: /unknown key/,
  },
  {
    name: "websocket port string",
    config: withBroker({ websocketPort: "9001" }),
    path: "mqtt-edge:broker.websocketPort",
    message: /port number.*"9001"/,
  },
  {
    name: "websocket port too big",
    config: withBroker({ websocketPort: 70000 }),
    path: "mqtt-edge:broker.websocketPort",
    message: /between 1 and 65535/,
  },
  {
    name: "websocket port zero",
    config: withBroker({ websocketPort: 0 }),
    path: "mqtt-edge:broker.websocketPort",
    message: /between 1 and 65535/,
  },
  {
    name: "websocket port clashes with 1883",
    config: withBroker({ websocketPort: 1883 }),
    path: "mqtt-edge:broker.websocketPort",
    message: /other than 1883/,
  },
  {
    name: "tcp publish without ip",
    config: withBroker({ tcp: { publish: "1883" } }),
    path: "mqtt-edge:broker.tcp.publish",
    message: /<ipv4>:<port>/,
  },
  {
    name: "tcp publish bad octet",
    config: withBroker({ tcp: { publish: "300.0.0.1:1883" } }),
    path: "mqtt-edge:broker.tcp.publish",
    message: /<ipv4>:<port>/,
  },
  {
    name: "both publishes on one port",
    config: withBroker({
      tcp: { publish: "127.0.0.1:1883" },
      websocket: { publish: "127.0.0.1:1883" },
    }),
    path: "mqtt-edge:broker.websocket.publish",
    message: /different host port/,
  },
  {
    name: "allowAnonymous string",
    config: withBroker({ allowAnonymous: "yes" }),
    path: "mqtt-edge:broker.allowAnonymous",
    message: /true or false/,
  },
  {
    name: "no users and no anonymous",
    config: withBroker({ users: [] }),
    path: "mqtt-edge:broker.users",
    message: /at least one user/,
  },
  {
    name: "duplicate users",
    config: withBroker({ users: [{ name: "a" }, { name: "a" }] }),
    path: "mqtt-edge:broker.users[1].name",
    message: /duplicate user "a"/,
  },
  {
    name: "user with newline directive",
    config: withBroker({ users: [{ name: "a\nallow_anonymous true" }] }),
    path: "mqtt-edge:broker.users[0].name",
    message: /no ':', whitespace or newlines/,
  },
  {
    name: "user with colon",
    config: withBroker({ users: [{ name: "a:b" }] }),
    path: "mqtt-edge:broker.users[0].name",
    message: /user name/,
  },
  {
    name: "user with space",
    config: withBroker({ users: [{ name: "a b" }] }),
    path: "mqtt-edge:broker.users[0].name",
    message: /user name/,
  },
  {
    name: "empty passwordVersion",
    config: withBroker({ users: [{ name: "a", passwordVersion: "" }] }),
    path: "mqtt-edge:broker.users[0].passwordVersion",
    message: /non-empty version/,
  },
  {
    name: "passwordVersion not a version",
    config: withBroker({ users: [{ name: "a", passwordVersion: true }] }),
    path: "mqtt-edge:broker.users[0].passwordVersion",
    message: /expected a version/,
  },
  {
    name: "acl topic with newline",
    config: withBroker({
      users: [{ name: "a", acl: [{ access: "read", topic: "x\nuser admin" }] }],
    }),
    path: "mqtt-edge:broker.users[0].acl[0].topic",
    message: /without whitespace/,
  },
  {
    name: "acl topic with space",
    config: withBroker({ users: [{ name: "a", acl: [{ access: "read", topic: "a b" }] }] }),
    path: "mqtt-edge:broker.users[0].acl[0].topic",
    message: /without whitespace/,
  },
  {
    name: "acl hash not last",
    config: withBroker({ users: [{ name: "a", acl: [{ access: "read", topic: "a/#/b" }] }] }),
    path: "mqtt-edge:broker.users[0].acl[0].topic",
    message: /'#' only/,
  },
  {
    name: "acl plus inside a level",
    config: withBroker({ users: [{ name: "a", acl: [{ access: "read", topic: "a/b+" }] }] }),
    path: "mqtt-edge:broker.users[0].acl[0].topic",
    message: /'\+' only/,
  },
  {
    name: "acl unknown access",
    config: withBroker({ users: [{ name: "a", acl: [{ access: "all", topic: "a" }] }] }),
    path: "mqtt-edge:broker.users[0].acl[0].access",
    message: /"read", "write", "readwrite", "deny"/,
  },
  {
    name: "pattern without %u/%c",
    config: withBroker({ patterns: [{ access: "read", topic: "x/#" }] }),
    path: "mqtt-edge:broker.patterns[0].topic",
    message: /%u or %c/,
  },
  {
    name: "messageSizeLimit above MQTT's",
    config: withBroker({ messageSizeLimit: 300_000_000 }),
    path: "mqtt-edge:broker.messageSizeLimit",
    message: /268435455/,
  },
  {
    name: "maxConnections negative",
    config: withBroker({ maxConnections: -1 }),
    path: "mqtt-edge:broker.maxConnections",
    message: /at least 1/,
  },
  {
    name: "anonymousAcl without allowAnonymous",
    config: withBroker({ anonymousAcl: [{ access: "read", topic: "#" }] }),
    path: "mqtt-edge:broker.anonymousAcl",
    message: /only used when allowAnonymous/,
  },
  {
    name: "token mode without token",
    config: withTunnel({
      mode: "token",
      accountId: undefined,
      zone: undefined,
      hostname: undefined,
    }),
    path: "mqtt-edge:tunnelToken",
    message: /required in token mode/,
  },
  {
    name: "token not a secret",
    config: {
      ...withTunnel({ mode: "token", accountId: undefined, zone: undefined, hostname: undefined }),
      tunnelToken: TOKEN,
    },
    path: "mqtt-edge:tunnelToken",
    message: /expected a secret value/,
  },
  {
    name: "token in managed mode",
    config: { ...base, tunnelToken: TOKEN },
    secretKeys: ["tunnelToken"],
    path: "mqtt-edge:tunnelToken",
    message: /only used in token mode/,
  },
  {
    name: "accountId in quick mode",
    config: withTunnel({ mode: "quick", zone: undefined, hostname: undefined }),
    path: "mqtt-edge:tunnel.accountId",
    message: /only used in managed mode/,
  },
  {
    name: "manageZoneSettings not a boolean",
    config: withTunnel({ manageZoneSettings: "yes" }),
    path: "mqtt-edge:tunnel.manageZoneSettings",
    message: /expected true or false/,
  },
  {
    name: "manageZoneSettings in quick mode",
    config: withTunnel({
      mode: "quick",
      accountId: undefined,
      zone: undefined,
      hostname: undefined,
      manageZoneSettings: true,
    }),
    path: "mqtt-edge:tunnel.manageZoneSettings",
    message: /only used in managed mode/,
  },
  {
    name: "hostname in quick mode",
    config: withTunnel({ mode: "quick", accountId: undefined, zone: undefined }),
    path: "mqtt-edge:tunnel.hostname",
    message: /needs managed mode/,
  },
  {
    name: "empty hosts",
    config: { ...base, hosts: [] },
    path: "mqtt-edge:hosts",
    message: /at least one host/,
  },
  {
    name: "duplicate host names",
    config: {
      ...base,
      hosts: [
        { name: "a", hostname: "a.example.com" },
        { name: "a", hostname: "b.example.com" },
      ],
    },
    path: "mqtt-edge:hosts[1].name",
    message: /duplicate host "a"/,
  },
  {
    name: "bad docker endpoint",
    config: { ...base, hosts: [{ name: "a", docker: "edge-a:2375", hostname: "a.example.com" }] },
    path: "mqtt-edge:hosts[0].docker",
    message: /unix:\/\/.*tcp:\/\/.*ssh:\/\//,
  },
  {
    name: "host without hostname",
    config: {
      ...base,
      tunnel: { ...tunnel, hostname: undefined },
      hosts: [{ name: "a", hostname: "a.example.com" }, { name: "b" }],
    },
    path: "mqtt-edge:hosts[1].hostname",
    message: /each host has its own tunnel/,
  },
  {
    name: "hostname shared by two hosts",
    config: {
      ...base,
      tunnel: { ...tunnel, hostname: undefined },
      hosts: [
        { name: "a", hostname: "a.example.com" },
        { name: "b", hostname: "a.example.com" },
      ],
    },
    path: "mqtt-edge:hosts[1].hostname",
    message: /duplicate hostname "a.example.com" \(also used by host a\)/,
  },
  {
    name: "host name with uppercase",
    config: { ...base, hosts: [{ name: "Edge_A", hostname: "a.example.com" }] },
    path: "mqtt-edge:hosts[0].name",
    message: /lowercase/,
  },
  {
    name: "host zone override mismatched",
    config: {
      ...base,
      tunnel: {
        ...tunnel,
        zone: undefined,
        zones: ["example.com", "example.org"],
        hostname: undefined,
      },
      hosts: [{ name: "a", hostname: "a.example.com", zone: "example.org" }],
    },
    path: "mqtt-edge:hosts[0].hostname",
    message: /not inside zone "example.org"/,
  },
  {
    name: "zone and zones",
    config: withTunnel({ zones: ["example.com"] }),
    path: "mqtt-edge:tunnel.zones",
    message: /either zone or zones/,
  },
  {
    name: "protect not boolean",
    config: { ...base, protect: "maybe" },
    path: "mqtt-edge:protect",
    message: /"maybe"/,
  },
  {
    name: "swarm unknown proxy",
    config: { ...base, swarm: { proxy: "nginx" } },
    path: "mqtt-edge:swarm.proxy",
    message: /"dockerflow" or "traefik"/,
  },
  {
    name: "swarm bad cron",
    config: {
      ...base,
      swarm: {
        letsencrypt: {
          email: "ops@example.com",
          domains: ["www.example.com"],
          renewCron: ["every day"],
        },
      },
    },
    path: "mqtt-edge:swarm.letsencrypt.renewCron[0]",
    message: /5-field cron/,
  },
  {
    name: "swarm bad email",
    config: { ...base, swarm: { letsencrypt: { email: "ops", domains: ["www.example.com"] } } },
    path: "mqtt-edge:swarm.letsencrypt.email",
    message: /e-mail/,
  },
  {
    name: "swarm with two hosts",
    config: {
      ...base,
      tunnel: { ...tunnel, hostname: undefined },
      hosts: [
        { name: "a", hostname: "a.example.com" },
        { name: "b", hostname: "b.example.com" },
      ],
      swarm: { enabled: true },
    },
    path: "mqtt-edge:swarm",
    message: /at most one host/,
  },
  {
    name: "swarm names over Docker's limit",
    config: {
      ...base,
      hosts: [{ name: "edge-with-a-long-name", hostname: "a.example.com" }],
      swarm: { enabled: true },
    },
    path: "mqtt-edge:swarm",
    message: /too long: "mqtt-edge-test-edge-with-a-long-name" is 36 characters, at most 34/,
  },
  {
    name: "maxKeepalive below mosquitto's 10",
    config: withBroker({ maxKeepalive: 5 }),
    path: "mqtt-edge:broker.maxKeepalive",
    message: /expected at least 10 seconds \(mosquitto refuses less\) \(got 5\)/,
  },
  {
    name: "maxKeepalive above 16 bits",
    config: withBroker({ maxKeepalive: 65536 }),
    path: "mqtt-edge:broker.maxKeepalive",
    message: /expected at most 65535 seconds \(MQTT's keep alive is 16 bits\) \(got 65536\)/,
  },
  {
    name: "maxKeepalive fractional",
    config: withBroker({ maxKeepalive: 59.5 }),
    path: "mqtt-edge:broker.maxKeepalive",
    message: /expected a whole number of seconds \(got 59.5\)/,
  },
  {
    name: "maxKeepalive a string",
    config: withBroker({ maxKeepalive: "60" }),
    path: "mqtt-edge:broker.maxKeepalive",
    message: /expected a number of seconds \(got "60"\)/,
  },
  {
    name: "monitorUser with a newline",
    config: withBroker({ monitorUser: "monitor\nuser admin" }),
    path: "mqtt-edge:broker.monitorUser",
    message: /expected a user name of 1-64 .*no ':', whitespace or newlines/,
  },
  {
    name: "monitorUser not a string",
    config: withBroker({ monitorUser: true }),
    path: "mqtt-edge:broker.monitorUser",
    message: /expected a user name \(got true\)/,
  },
  {
    name: "monitorUser is also a user",
    config: withBroker({ monitorUser: "dashboard" }),
    path: "mqtt-edge:broker.monitorUser",
    message:
      /duplicate user "dashboard" \(also users\[1\]\); the monitor user may read \$SYS\/# only, so it needs a name of its own/,
  },
  {
    name: "a pattern on a $-topic with a monitor user",
    config: withBroker({
      monitorUser: "monitor",
      patterns: [{ access: "read", topic: "$SYS/%u/#" }],
    }),
    path: "mqtt-edge:broker.patterns[0].topic",
    message:
      /expected a topic that does not start with '\$' when monitorUser is set .* \(got "\$SYS\/%u\/#"\)/,
  },
  {
    name: "probeUser with a newline",
    config: withBroker({ probeUser: "probe\nuser admin" }),
    path: "mqtt-edge:broker.probeUser",
    message: /expected a user name of 1-64 .*no ':', whitespace or newlines/,
  },
  {
    name: "probeUser is also a user",
    config: withBroker({ probeUser: "dashboard" }),
    path: "mqtt-edge:broker.probeUser",
    message:
      /duplicate user "dashboard" \(also users\[1\]\); the probe user may use \$mqtt-edge\/probe\/# only, so it needs a name of its own/,
  },
  {
    name: "probeUser is also the monitor user",
    config: withBroker({ probeUser: "watch", monitorUser: "watch" }),
    path: "mqtt-edge:broker.probeUser",
    message: /duplicate user "watch" \(also monitorUser\)/,
  },
  {
    name: "a pattern on a $-topic with a probe user",
    config: withBroker({
      probeUser: "probe",
      patterns: [{ access: "readwrite", topic: "$mqtt-edge/%u/#" }],
    }),
    path: "mqtt-edge:broker.patterns[0].topic",
    message: /expected a topic that does not start with '\$' when probeUser is set/,
  },
  {
    name: "metrics publish without an address",
    config: withTunnel({ metrics: { publish: "2000" } }),
    path: "mqtt-edge:tunnel.metrics.publish",
    message: /expected "<ipv4>:<port>", such as "127.0.0.1:1883" \(got "2000"\)/,
  },
  {
    name: "metrics publish port out of range",
    config: withTunnel({ metrics: { publish: "127.0.0.1:70000" } }),
    path: "mqtt-edge:tunnel.metrics.publish",
    message: /<ipv4>:<port>/,
  },
  {
    name: "metrics with an unknown key",
    config: withTunnel({ metrics: { port: 2000 } }),
    path: "mqtt-edge:tunnel.metrics",
    message: /port/,
  },
  {
    name: "metrics a boolean",
    config: withTunnel({ metrics: true }),
    path: "mqtt-edge:tunnel.metrics",
    message: /expected an object such as \{ publish: "127.0.0.1:2000" \} \(got true\)/,
  },
  {
    name: "metrics in none mode",
    config: withTunnel({
      mode: "none",
      accountId: undefined,
      zone: undefined,
      hostname: undefined,
      metrics: {},
    }),
    path: "mqtt-edge:tunnel.metrics",
    message: /only used when connectors run \(mode is "none"\)/,
  },
  {
    name: "metrics ports past 65535 for the replicas",
    config: withTunnel({ replicas: 2, metrics: { publish: "127.0.0.1:65535" } }),
    path: "mqtt-edge:tunnel.metrics.publish",
    message:
      /expected room for 2 host ports, one per connector \(port \+ i - 1\), but 65535 \+ 1 is past 65535/,
  },
  {
    name: "metrics ports past 65535 for a host's own replicas",
    config: {
      ...withTunnel({ hostname: undefined, metrics: { publish: "127.0.0.1:65534" } }),
      hosts: [{ name: "a", hostname: "a.example.com", replicas: 3 }],
    },
    path: "mqtt-edge:tunnel.metrics.publish",
    message: /room for 3 host ports.*65534 \+ 2 is past 65535/,
  },
  {
    name: "metrics ports overlap broker.tcp.publish",
    config: {
      ...withTunnel({ replicas: 2, metrics: { publish: "127.0.0.1:1882" } }),
      broker: { ...broker, tcp: { publish: "127.0.0.1:1883" } },
    },
    path: "mqtt-edge:tunnel.metrics.publish",
    message:
      /expected host ports 1882-1883 \(one per connector\) apart from broker.tcp.publish \(127.0.0.1:1883\)/,
  },
  {
    name: "metrics on 0.0.0.0 overlap broker.websocket.publish",
    config: {
      ...withTunnel({ replicas: 1, metrics: { publish: "0.0.0.0:9001" } }),
      broker: { ...broker, websocket: { publish: "127.0.0.1:9001" } },
    },
    path: "mqtt-edge:tunnel.metrics.publish",
    message: /apart from broker.websocket.publish \(127.0.0.1:9001\)/,
  },
  {
    name: "healthStartInterval in swarm mode",
    config: { ...withBroker({ healthStartInterval: true }), swarm: { enabled: true } },
    path: "mqtt-edge:broker.healthStartInterval",
    message: /not available in swarm mode: the docker provider's service healthcheck/,
  },
  {
    name: "metrics in swarm mode",
    config: { ...withTunnel({ metrics: {} }), swarm: { enabled: true } },
    path: "mqtt-edge:tunnel.metrics",
    message: /not available in swarm mode: a swarm publishes one port for all replicas/,
  },
  {
    name: "dockerTls not secret",
    config: {
      ...base,
      dockerTls: {
        a: {
          ca: "-----BEGIN CERTIFICATE-----",
          cert: "-----BEGIN CERTIFICATE-----",
          key: "-----BEGIN PRIVATE KEY-----",
        },
      },
    },
    path: "mqtt-edge:dockerTls",
    message: /secret value/,
  },
  // tunnel.tcpHostname, hosts[].tcpHostname and broker.bridge
  {
    name: "tcpHostname outside managed mode",
    config: {
      tunnel: { mode: "quick", tcpHostname: "mqtt-tcp.example.com" },
      broker,
    },
    path: "mqtt-edge:tunnel.tcpHostname",
    message: /only used in managed mode \(mode is "quick"\)/,
  },
  {
    name: "hosts[].tcpHostname outside managed mode",
    config: {
      tunnel: { mode: "none" },
      broker,
      hosts: [{ name: "a", tcpHostname: "mqtt-tcp.example.com" }],
    },
    path: "mqtt-edge:hosts[0].tcpHostname",
    message: /only used in managed mode/,
  },
  {
    name: "tcpHostname not a hostname",
    config: withTcp({ tcpHostname: "tcp://mqtt-tcp.example.com:1883" }),
    path: "mqtt-edge:tunnel.tcpHostname",
    message: /fully qualified DNS hostname/,
  },
  {
    name: "tcpHostname outside the zone",
    config: withTcp({ tcpHostname: "mqtt-tcp.example.org" }),
    path: "mqtt-edge:tunnel.tcpHostname",
    message: /"mqtt-tcp.example.org" is not inside zone "example.com"/,
  },
  {
    name: "tcpHostname equal to the WebSocket hostname",
    config: withTcp({ tcpHostname: "mqtt.example.com" }),
    path: "mqtt-edge:tunnel.tcpHostname",
    message: /duplicate hostname "mqtt.example.com"/,
  },
  {
    name: "bridge without a tcpHostname",
    config: withBroker({ bridge: BRIDGE }),
    path: "mqtt-edge:broker.bridge",
    message: /only used with tunnel.tcpHostname/,
  },
  {
    name: "bridge user named like a user",
    config: withTcp({}, { bridge: { ...BRIDGE, user: "sensor" } }),
    path: "mqtt-edge:broker.bridge.user",
    message: /duplicate user "sensor" \(also users\[0\]\)/,
  },
  {
    name: "bridge user named like the monitor user",
    config: withTcp({}, { monitorUser: "ops", bridge: { ...BRIDGE, user: "ops" } }),
    path: "mqtt-edge:broker.bridge.user",
    message: /duplicate user "ops" \(also monitorUser\)/,
  },
  {
    name: "bridge without topics",
    config: withTcp({}, { bridge: { topics: [] } }),
    path: "mqtt-edge:broker.bridge.topics",
    message: /at least one topic/,
  },
  {
    name: "bridge direction unknown",
    config: withTcp({}, { bridge: { topics: [{ topic: "a/#", direction: "up" }] } }),
    path: "mqtt-edge:broker.bridge.topics[0].direction",
    message: /"out" \(site to this broker\), "in" \(this broker to the site\) or "both".*"up"/,
  },
  {
    name: "bridge topic with a space (would add a word to the bridge's topic line)",
    config: withTcp({}, { bridge: { topics: [{ topic: "a b", direction: "out" }] } }),
    path: "mqtt-edge:broker.bridge.topics[0].topic",
    message: /without whitespace/,
  },
  {
    name: "bridge qos out of range",
    config: withTcp({}, { bridge: { topics: [{ topic: "a/#", direction: "out", qos: 3 }] } }),
    path: "mqtt-edge:broker.bridge.topics[0].qos",
    message: /0, 1 or 2/,
  },
  {
    name: "bridge key misspelt",
    config: withTcp({}, { bridge: { topic: [{ topic: "a/#", direction: "out" }] } }),
    path: "mqtt-edge:broker.bridge",
    message: /topic/,
  },
];

describe("config validation refuses bad stacks", () => {
  for (const { name, config, secretKeys = [], path, message } of BAD) {
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

  test("probeUser: a generated password in mqttCredentials, its own ACL, the probe output", async () => {
    const { rec, outputs } = await runProgram(withBroker({ probeUser: "probe" }));
    assert.equal(rec.byName("mqtt-password-probe").inputs.length, 32);
    const creds = await resolve(outputs.mqttCredentials);
    assert.ok(Object.keys(creds.value as object).includes("probe"));
    assert.deepEqual(outputs.probe, { user: "probe", topics: "$mqtt-edge/probe/#" });
    const writer = rec.byName("local-broker-config-writer");
    const uploads = writer.inputs.uploads as { file: string; content: string }[];
    const acl = uploads.find((u) => u.file === "/mosquitto/config/acl")!.content;
    assert.match(acl, /^user probe\ntopic deny #\ntopic readwrite \$mqtt-edge\/probe\/#$/m);
  });

  test("users[].passwordVersion is the keeper of that user's password alone", async () => {
    const { rec } = await runProgram(
      withBroker({
        users: [{ name: "a" }, { name: "b", passwordVersion: 2 }, { name: "c" }],
      }),
    );
    assert.deepEqual(rec.byName("mqtt-password-b").inputs.keepers, { passwordVersion: "2" });
    // Without it: no keepers at all, as before the key existed, so upgrading changes nothing.
    assert.equal(rec.byName("mqtt-password-a").inputs.keepers, undefined);
    assert.equal(rec.byName("mqtt-password-c").inputs.keepers, undefined);
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
    assert.deepEqual(outputs.hosts.local.metricsUrls, [
      "http://127.0.0.1:2000/metrics",
      "http://127.0.0.1:2001/metrics",
    ]);

    // Without it: nothing published, the server on loopback inside the container.
    const plain = await runProgram(base);
    const c = plain.rec.byName("local-connector-1");
    assert.equal(c.inputs.ports, undefined);
    assert.equal(c.inputs.command[3], "127.0.0.1:2000");
    assert.ok(!("metricsUrls" in plain.outputs.hosts.local));
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
