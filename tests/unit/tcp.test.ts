/**
 * Native MQTT over TCP through the tunnel: `tunnel.tcpHostname` (and `hosts[].tcpHostname`),
 * `broker.bridge`, the ingress rule, DNS record and Access application they add, and the client
 * kit (command, token file, compose file, bridge block) under Pulumi mocks and as pure renders.
 */
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import {
  ACCESS_TCP_LOCAL,
  bridgeKeepalive,
  renderAclFile,
  renderBridgeBlock,
  renderClientKit,
} from "../../components/render";
import { expiryWarning } from "../../components/tunnel";
import { T, managedConfig, resolve, runProgram } from "../support/programRunner";
import { configProblems as problems, parseStack } from "../support/stackConfig";

const managedTunnel = managedConfig().tunnel as Record<string, unknown>;
const managedBroker = managedConfig().broker as Record<string, unknown>;
const BRIDGE = {
  user: "site-bridge",
  topics: [
    { topic: "sites/#", direction: "out" },
    { topic: "commands/#", direction: "in", qos: 2 },
    { topic: "shared/#", direction: "both" },
  ],
};

function withTcp(tunnel: Record<string, unknown> = {}, broker: Record<string, unknown> = {}) {
  return managedConfig({
    tunnel: { ...managedTunnel, tcpHostname: "mqtt-tcp.example.com", ...tunnel },
    broker: { ...managedBroker, bridge: BRIDGE, ...broker },
  });
}

describe("tcpHostname and bridge config", () => {
  test("a valid stack: the bridge user joins the users with an ACL of its bridged topics", () => {
    const cfg = parseStack(withTcp());
    assert.equal(cfg.hosts[0].tcpHostname, "mqtt-tcp.example.com");
    assert.deepEqual(cfg.broker.bridge, {
      user: "site-bridge",
      topics: [
        { topic: "sites/#", direction: "out", qos: 1 },
        { topic: "commands/#", direction: "in", qos: 2 },
        { topic: "shared/#", direction: "both", qos: 1 },
      ],
    });
    assert.deepEqual(cfg.broker.users.at(-1), {
      name: "site-bridge",
      acl: [
        { access: "write", topic: "sites/#" },
        { access: "read", topic: "commands/#" },
        { access: "readwrite", topic: "shared/#" },
      ],
    });
  });
  test("each host may have a tcpHostname of its own; the tunnel's goes to the first host", () => {
    const config = managedConfig({
      tunnel: { ...managedTunnel, hostname: undefined, tcpHostname: "tcp-a.example.com" },
      hosts: [
        { name: "a", hostname: "mqtt-a.example.com" },
        { name: "b", hostname: "mqtt-b.example.com", tcpHostname: "tcp-b.example.com" },
        { name: "c", hostname: "mqtt-c.example.com", tcpHostname: "tcp-b.example.com" },
      ],
    });
    assert.deepEqual(problems(config), [
      'mqtt-edge:hosts[2].tcpHostname: duplicate hostname "tcp-b.example.com" (also used by host b)',
    ]);
  });
});

describe("tcpHostname in the graph", () => {
  test("an ingress rule to tcp://mosquitto:1883 before the 404, a proxied CNAME, Access with a service token only", async () => {
    const { rec } = await runProgram(withTcp());
    const config = rec.ofType(T.tunnelConfig)[0];
    assert.deepEqual(config.inputs.config.ingresses, [
      { hostname: "mqtt.example.com", service: "http://mosquitto:9001" },
      { hostname: "mqtt-tcp.example.com", service: "tcp://mosquitto:1883" },
      { service: "http_status:404" },
    ]);
    const dns = rec.ofType(T.dnsRecord).find((r) => r.inputs.name === "mqtt-tcp.example.com");
    assert.ok(dns, "a DNS record for the TCP hostname");
    assert.equal(dns.inputs.type, "CNAME");
    assert.equal(dns.inputs.content, "local-tunnel-tunnel-id.cfargotunnel.com");
    assert.equal(dns.inputs.proxied, true);
    assert.equal(dns.inputs.zoneId, "zone-example.com");

    // tunnel.access is off: the only Access application is the TCP hostname's.
    const apps = rec.ofType(T.accessApp);
    assert.equal(apps.length, 1);
    assert.equal(apps[0].inputs.type, "self_hosted");
    assert.equal(apps[0].inputs.domain, "mqtt-tcp.example.com");
    assert.deepEqual(apps[0].inputs.selfHostedDomains, ["mqtt-tcp.example.com"]);
    const policy = rec.ofType(T.accessPolicy)[0];
    assert.deepEqual(apps[0].inputs.policies, [{ id: `${policy.name}-id`, precedence: 1 }]);
    assert.equal(policy.inputs.decision, "non_identity");
    const token = rec.ofType(T.accessToken)[0];
    assert.deepEqual(policy.inputs.includes, [{ serviceToken: { tokenId: `${token.name}-id` } }]);
    assert.ok(token.additionalSecretOutputs.includes("clientSecret"));
    assert.equal(token.inputs.name, "mqtt-edge-dev-local-mqtt-tcp-client");
  });

  test("with tunnel.access too, each hostname has its own application and service token", async () => {
    const { rec } = await runProgram(withTcp({ access: true }));
    const domains = rec.ofType(T.accessApp).map((a) => a.inputs.domain);
    assert.deepEqual(domains.sort(), ["mqtt-tcp.example.com", "mqtt.example.com"]);
    assert.equal(rec.ofType(T.accessToken).length, 2);
    assert.equal(rec.ofType(T.accessPolicy).length, 2);
  });

  test("the TCP hostname's zone is looked up and checked like the others", async () => {
    const { rec } = await runProgram(
      withTcp({
        zones: ["example.com", "example.net"],
        zone: undefined,
        tcpHostname: "t.example.net",
      }),
    );
    const zones = rec.calls.filter((c) => c.token.endsWith("getZones")).map((c) => c.inputs.name);
    assert.deepEqual(zones.sort(), ["example.com", "example.net"]);
    const settings = rec.calls.filter((c) => c.token.endsWith("getZoneSetting"));
    assert.deepEqual(settings.map((c) => c.inputs.zoneId).sort(), [
      "zone-example.com",
      "zone-example.net",
    ]);
  });

  test("the client kit is a secret per host with the token, the bridge user's password and its ACL", async () => {
    const { rec, outputs } = await runProgram(withTcp());
    const kits = await resolve(outputs.clientKits);
    assert.equal(kits.secret, true);
    const kit = kits.value.local;
    assert.equal(kit.hostname, "mqtt-tcp.example.com");
    assert.equal(kit.localAddress, "127.0.0.1:11883");
    assert.equal(
      kit.command,
      "cloudflared access tcp --hostname mqtt-tcp.example.com --url 127.0.0.1:11883",
    );
    const token = rec.ofType(T.accessToken)[0];
    assert.equal(
      kit.dotenv,
      `TUNNEL_SERVICE_TOKEN_ID=${token.name}.access\nTUNNEL_SERVICE_TOKEN_SECRET=secret-${token.name}\n`,
    );
    const creds = await resolve(outputs.mqttCredentials);
    assert.ok(creds.value["site-bridge"], "the bridge user's password is in mqttCredentials");
    assert.match(kit.bridge!, /^connection mqtt-edge-dev-local$/m);
    assert.match(kit.bridge!, new RegExp(`^remote_password ${creds.value["site-bridge"]}$`, "m"));
    assert.match(kit.bridge!, /^topic commands\/# in 2$/m);
    // The broker's ACL file grants the bridge user exactly its bridged topics.
    const acl = outputs.edgeHosts[0].broker.aclFile;
    assert.match(
      acl,
      /\nuser site-bridge\ntopic write sites\/#\ntopic read commands\/#\ntopic readwrite shared\/#\n/,
    );
    // The summary names the TCP hostname and holds none of the kit.
    const readable = Object.entries(outputs.hosts.local).filter(([k]) => k !== "tunnelToken");
    const summary = await resolve(pulumi.output(Object.fromEntries(readable)));
    assert.equal(summary.secret, false);
    assert.equal(summary.value.tcpHostname, "mqtt-tcp.example.com");
    assert.equal(outputs.hosts.local.tcpHostname, "mqtt-tcp.example.com");
    assert.ok(!JSON.stringify(summary.value).includes(`secret-${token.name}`));
  });

  test("without a bridge the kit has no bridge block; without a tcpHostname there is no kit", async () => {
    const { outputs } = await runProgram(withTcp({}, { bridge: undefined }));
    const kits = await resolve(outputs.clientKits);
    assert.equal(kits.value.local.bridge, undefined);
    const plain = await runProgram(managedConfig());
    assert.equal(plain.outputs.clientKits, undefined);
    assert.equal(plain.rec.ofType(T.accessApp).length, 0);
  });
});

describe("client kit renders", () => {
  const input = {
    connectionName: "mqtt-edge-prod-edge-a",
    hostname: "mqtt-tcp.example.com",
    user: "bridge",
    password: "pw",
    topics: [
      { topic: "sites/#", direction: "out" as const, qos: 1 as const },
      { topic: "commands/#", direction: "in" as const, qos: 0 as const },
    ],
    maxKeepalive: 60,
  };

  test("the bridge block dials the local cloudflared access tcp listener with the bridge user", () => {
    const block = renderBridgeBlock(input);
    const directives = block.split("\n").filter((l) => l && !l.startsWith("#"));
    assert.deepEqual(directives, [
      "connection mqtt-edge-prod-edge-a",
      `address ${ACCESS_TCP_LOCAL.host}:${ACCESS_TCP_LOCAL.port}`,
      "bridge_protocol_version mqttv311",
      "remote_username bridge",
      "remote_password pw",
      "keepalive_interval 60",
      "cleansession false",
      "notifications true",
      "notifications_local_only true",
      "restart_timeout 5 60",
      "topic sites/# out 1",
      "topic commands/# in 0",
    ]);
  });

  test("the bridge never asks for a keep alive the broker would refuse", () => {
    assert.equal(bridgeKeepalive(300), 60);
    assert.equal(bridgeKeepalive(30), 30);
    assert.match(renderBridgeBlock({ ...input, maxKeepalive: 20 }), /^keepalive_interval 20$/m);
  });

  test("the compose file runs the command with the token from .env, published on loopback", () => {
    const kit = renderClientKit({
      hostname: input.hostname,
      image: "cloudflare/cloudflared:2025.11.1",
      serviceToken: { clientId: "id.access", clientSecret: "s3cret" },
    });
    const compose = parseYaml(kit.compose) as { services: Record<string, any> };
    const svc = compose.services["mqtt-edge-access"];
    assert.equal(svc.image, "cloudflare/cloudflared:2025.11.1");
    assert.deepEqual(svc.command, [
      "access",
      "tcp",
      "--hostname",
      "mqtt-tcp.example.com",
      "--url",
      "0.0.0.0:11883",
    ]);
    assert.deepEqual(svc.env_file, [".env"]);
    assert.deepEqual(svc.ports, ["127.0.0.1:11883:11883"]);
    assert.deepEqual(svc.cap_drop, ["ALL"]);
    for (const text of [kit.compose, kit.command]) {
      assert.ok(!text.includes("s3cret"), "the secret stays in the .env text");
      assert.ok(!text.includes("id.access"));
    }
    assert.equal(
      kit.dotenv,
      "TUNNEL_SERVICE_TOKEN_ID=id.access\nTUNNEL_SERVICE_TOKEN_SECRET=s3cret\n",
    );
    assert.equal(kit.bridge, undefined);
  });

  test("the ACL renderer writes the bridge user like any other user", () => {
    const acl = renderAclFile({
      users: [{ name: "bridge", acl: [{ access: "write", topic: "sites/#" }] }],
      patterns: [],
      anonymous: [],
    });
    assert.match(acl, /\nuser bridge\ntopic write sites\/#\n/);
  });
});

describe("tcpHostname in swarm mode", () => {
  test("the TCP rule sits between the MQTT and the proxy's HTTP hostnames, to the broker service's alias", async () => {
    const { rec, outputs } = await runProgram(
      managedConfig({
        tunnel: { ...managedTunnel, tcpHostname: "mqtt-tcp.example.com" },
        swarm: { enabled: true, proxy: "traefik", httpHostnames: ["www.example.com"] },
      }),
    );
    assert.deepEqual(rec.ofType(T.tunnelConfig)[0].inputs.config.ingresses, [
      { hostname: "mqtt.example.com", service: "http://mosquitto:9001" },
      { hostname: "mqtt-tcp.example.com", service: "tcp://mosquitto:1883" },
      { hostname: "www.example.com", service: "http://proxy:80" },
      { service: "http_status:404" },
    ]);
    const broker = rec.ofType(T.service).find((s) => s.name === "local-broker-mosquitto")!;
    assert.ok(
      broker.inputs.taskSpec.networksAdvanceds.some((n: { aliases?: string[] }) =>
        n.aliases?.includes("mosquitto"),
      ),
      "the broker service answers as mosquitto on its network",
    );
    const kits = await resolve(outputs.clientKits);
    assert.equal(kits.value.local.hostname, "mqtt-tcp.example.com");
  });
});

describe("Access service token lifetime and rotation", () => {
  test("by default each token lives Cloudflare's year, with no rotation; the expiry is an output", async () => {
    const { rec, outputs } = await runProgram(withTcp({ access: true }));
    const tokens = rec.ofType(T.accessToken);
    assert.equal(tokens.length, 2);
    for (const t of tokens) {
      assert.equal(t.inputs.duration, "8760h");
      assert.equal(t.inputs.clientSecretVersion, undefined);
      assert.equal(t.inputs.previousClientSecretExpiresAt, undefined);
    }
    const host = outputs.hosts.local;
    assert.equal((await resolve(host.accessTokenExpiresAt)).value, "2099-01-01T00:00:00Z");
    assert.equal((await resolve(host.tcpAccessTokenExpiresAt)).secret, false);
  });

  test("tunnel.accessTokenDuration and tunnel.accessSecret reach every token", async () => {
    const { rec } = await runProgram(
      withTcp({
        access: true,
        accessTokenDuration: "2160h",
        accessSecret: { version: 2, previousValidUntil: "2027-01-31T00:00:00Z" },
      }),
    );
    for (const t of rec.ofType(T.accessToken)) {
      assert.equal(t.inputs.duration, "2160h");
      assert.equal(t.inputs.clientSecretVersion, 2);
      assert.equal(t.inputs.previousClientSecretExpiresAt, "2027-01-31T00:00:00Z");
    }
  });

  test("previousValidUntil as written unquoted in YAML (Go's time format) is taken, to the second", async () => {
    const { rec } = await runProgram(
      withTcp({
        accessSecret: { version: 2, previousValidUntil: "2027-01-31 08:30:00.949 +0100 CET" },
      }),
    );
    const [t] = rec.ofType(T.accessToken);
    assert.equal(t.inputs.previousClientSecretExpiresAt, "2027-01-31T07:30:00Z");
  });

  test("bad values are refused at their key", () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ accessTokenDuration: "1 year" }, "tunnel.accessTokenDuration", /8760h/],
      [{ accessSecret: { version: 0 } }, "tunnel.accessSecret.version", /1 or more/],
      [
        { accessSecret: { version: 2, previousValidUntil: "next week" } },
        "tunnel.accessSecret.previousValidUntil",
        /RFC 3339/,
      ],
    ];
    for (const [tunnel, key, message] of cases) {
      const found = problems(withTcp(tunnel));
      assert.ok(
        found.some((p) => p.startsWith(`mqtt-edge:${key}:`) && message.test(p)),
        `${key}: ${found.join("\n")}`,
      );
    }
  });

  test("preview warns from 30 days before a token expires", () => {
    const now = Date.parse("2026-12-06T00:00:00Z");
    assert.equal(expiryWarning("t", "2027-01-06T00:00:00Z", now), undefined);
    assert.match(expiryWarning("t", "2027-01-04T00:00:00Z", now)!, /t expires in 29 days/);
    assert.match(expiryWarning("t", "2026-12-01T00:00:00Z", now)!, /t expired/);
    assert.equal(expiryWarning("t", undefined, now), undefined);
  });
});
