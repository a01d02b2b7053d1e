import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  FAKE_ACCOUNT,
  T,
  fakeToken,
  managedConfig,
  resolve,
  runProgram,
  type Recorder,
  type Registration,
} from "../support/programRunner";
import { DEFAULT_IMAGES } from "../../config";
import { INVOKES } from "../../shared/resourceTypes";

function count(rec: Recorder, type: string): number {
  return rec.ofType(type).length;
}

function parentOf(rec: Recorder, r: Registration): Registration | undefined {
  return rec.byUrn(r.parent);
}

const quick = {
  tunnel: { mode: "quick", image: DEFAULT_IMAGES.cloudflared },
  broker: { users: [{ name: "u", acl: [{ access: "readwrite", topic: "#" }] }] },
};
const none = { ...quick, tunnel: { mode: "none" } };
const TOKEN = fakeToken("made-elsewhere");
const token = { tunnel: { mode: "token", replicas: 2 }, tunnelToken: TOKEN, broker: quick.broker };

describe("managed mode graph", () => {
  test("declares every resource once, under the right parents", async () => {
    const { rec } = await runProgram(managedConfig());
    assert.equal(count(rec, T.edgeHost), 1);
    assert.equal(count(rec, T.dockerProvider), 1);
    assert.equal(count(rec, T.network), 2);
    assert.equal(count(rec, T.volume), 2, "config and data volumes");
    assert.equal(count(rec, T.container), 4, "one broker, its config writer, two connectors");
    assert.equal(count(rec, T.tunnel), 1);
    assert.equal(count(rec, T.tunnelConfig), 1);
    assert.equal(count(rec, T.dnsRecord), 1);
    assert.equal(count(rec, T.password), 3, "one per MQTT user, and the tunnel secret");
    assert.equal(count(rec, T.bytes), 0, "RandomBytes would store the secret as its id");
    assert.equal(count(rec, T.accessApp), 0, "Access is opt-in");

    const host = rec.ofType(T.edgeHost)[0];
    for (const type of [
      T.broker,
      T.tunnelComponent,
      T.connector,
      T.privateNetwork,
      T.dockerProvider,
    ]) {
      assert.equal(
        parentOf(rec, rec.ofType(type)[0])?.urn,
        host.urn,
        `${type} is a child of the host`,
      );
    }
    for (const r of rec.ofType(T.container)) {
      assert.match(
        r.provider,
        /pulumi:providers:docker::local-docker::/,
        `${r.name} uses the host's provider`,
      );
    }
    const tunnelComponent = rec.ofType(T.tunnelComponent)[0];
    for (const r of [
      rec.byName("local-tunnel-secret"),
      ...[T.tunnel, T.tunnelConfig, T.dnsRecord].map((t) => rec.ofType(t)[0]),
    ]) {
      assert.equal(parentOf(rec, r)?.urn, tunnelComponent.urn);
    }
  });

  test("the tunnel is remotely managed with a base64 secret of at least 32 bytes", async () => {
    const { rec } = await runProgram(managedConfig());
    const secret = rec.byName("local-tunnel-secret");
    assert.equal(secret.type, T.password);
    assert.deepEqual(secret.inputs, { length: 48, special: false, keepers: { version: "1" } });
    const tunnel = rec.ofType(T.tunnel)[0];
    assert.equal(tunnel.inputs.configSrc, "cloudflare");
    assert.equal(tunnel.inputs.accountId, FAKE_ACCOUNT);
    const bytes = Buffer.from(tunnel.inputs.tunnelSecret, "base64");
    assert.equal(bytes.toString("utf8"), "pw-local-tunnel-secret-xxxxxxxxxxxxxxxxxxxxxxxx");
    assert.ok(tunnel.secretInputs.has("tunnelSecret"));
    assert.ok(tunnel.dependencies.includes(secret.urn));
  });

  test("ingress routes the hostname to the broker's WebSocket listener, then 404", async () => {
    const { rec } = await runProgram(managedConfig());
    const config = rec.ofType(T.tunnelConfig)[0];
    const ingresses = config.inputs.config.ingresses;
    assert.deepEqual(ingresses, [
      { hostname: "mqtt.example.com", service: "http://mosquitto:9001" },
      { service: "http_status:404" },
    ]);
    assert.equal(config.inputs.tunnelId, "local-tunnel-tunnel-id");
  });

  test("DNS records are proxied CNAMEs to <id>.cfargotunnel.com with ttl 1", async () => {
    const { rec } = await runProgram(
      managedConfig({
        tunnel: {
          ...(managedConfig().tunnel as object),
          hostname: ["mqtt.example.com", "mqtt2.example.com"],
        },
      }),
    );
    const records = rec.ofType(T.dnsRecord);
    assert.equal(records.length, 2);
    for (const r of records) {
      assert.equal(r.inputs.type, "CNAME");
      assert.equal(r.inputs.content, "local-tunnel-tunnel-id.cfargotunnel.com");
      assert.equal(r.inputs.proxied, true);
      assert.equal(r.inputs.ttl, 1);
      assert.equal(r.inputs.zoneId, "zone-example.com");
    }
    assert.deepEqual(records.map((r) => r.inputs.name).sort(), [
      "mqtt.example.com",
      "mqtt2.example.com",
    ]);
    assert.equal(
      rec.calls.filter((c) => c.token.endsWith("getZones")).length,
      1,
      "one lookup per zone",
    );
  });

  test("connectors wait for the tunnel config and get the token only as a secret env var", async () => {
    const { rec } = await runProgram(managedConfig());
    const config = rec.ofType(T.tunnelConfig)[0];
    const connector = rec.ofType(T.connector)[0];
    assert.ok(
      connector.dependencies.includes(config.urn),
      "connector component depends on the tunnel config",
    );
    const containers = rec.ofType(T.container).filter((c) => c.name.startsWith("local-connector-"));
    assert.equal(containers.length, 2);
    for (const c of containers) {
      assert.ok(
        c.dependencies.includes(config.urn) || parentOf(rec, c)?.dependencies.includes(config.urn),
      );
      assert.deepEqual(c.inputs.command, [
        "tunnel",
        "--no-autoupdate",
        "--metrics",
        "127.0.0.1:2000",
        "run",
      ]);
      assert.ok(!JSON.stringify(c.inputs.command).includes(TOKEN.slice(0, 10)));
      assert.ok(c.secretInputs.has("envs"), "envs carry the token as a secret");
      assert.equal(c.inputs.envs[0], `TUNNEL_TOKEN=${fakeToken("local-tunnel-tunnel-id")}`);
      assert.ok(c.additionalSecretOutputs.includes("envs"));
    }
  });

  test("Access adds an application, a policy and a service token whose secret is secret", async () => {
    const { rec, outputs } = await runProgram(
      managedConfig({ tunnel: { ...(managedConfig().tunnel as object), access: true } }),
    );
    const app = rec.ofType(T.accessApp)[0];
    const policy = rec.ofType(T.accessPolicy)[0];
    const token = rec.ofType(T.accessToken)[0];
    assert.equal(app.inputs.type, "self_hosted");
    assert.equal(app.inputs.domain, "mqtt.example.com");
    assert.deepEqual(app.inputs.policies, [{ id: "local-tunnel-access-policy-id", precedence: 1 }]);
    assert.equal(policy.inputs.decision, "non_identity");
    assert.deepEqual(policy.inputs.includes, [
      { serviceToken: { tokenId: "local-tunnel-access-token-id" } },
    ]);
    assert.ok(token.additionalSecretOutputs.includes("clientSecret"));
    const secret = await resolve(outputs.edgeHosts[0].tunnel!.accessClientSecret);
    assert.equal(secret.secret, true);
  });
});

describe("zone preflight", () => {
  const ZONE_SETTING = INVOKES.zoneSetting;
  const BOT = INVOKES.botManagement;

  test("reads each zone's websockets setting and Bot Fight Mode once, declares no setting", async () => {
    const { rec } = await runProgram(
      managedConfig({
        tunnel: {
          ...(managedConfig().tunnel as object),
          zone: undefined,
          zones: ["example.com", "example.org"],
          hostname: undefined,
        },
        hosts: [
          { name: "a", hostname: ["mqtt.example.com", "mqtt2.example.com"] },
          { name: "b", hostname: "mqtt.example.org" },
        ],
      }),
    );
    const reads = rec.calls.filter((c) => c.token === ZONE_SETTING).map((c) => c.inputs);
    assert.deepEqual(
      reads.sort((x, y) => String(x.zoneId).localeCompare(String(y.zoneId))),
      [
        { zoneId: "zone-example.com", settingId: "websockets" },
        { zoneId: "zone-example.org", settingId: "websockets" },
      ],
    );
    assert.equal(rec.calls.filter((c) => c.token === BOT).length, 2);
    assert.equal(count(rec, T.zoneSetting), 0);
    assert.equal(count(rec, T.tunnel), 2);
  });

  test("manageZoneSettings declares websockets on per zone, retained on delete, before routes", async () => {
    const { rec } = await runProgram(
      managedConfig({
        tunnel: { ...(managedConfig().tunnel as object), manageZoneSettings: true },
      }),
    );
    const settings = rec.ofType(T.zoneSetting);
    assert.equal(settings.length, 1);
    const [s] = settings;
    assert.deepEqual(s.inputs, {
      zoneId: "zone-example.com",
      settingId: "websockets",
      value: "on",
    });
    assert.equal(s.retainOnDelete, true);
    assert.equal(s.protect, false);
    for (const r of [...rec.ofType(T.dnsRecord), ...rec.ofType(T.tunnelConfig)]) {
      assert.ok(r.dependencies.includes(s.urn), `${r.name} waits for ${s.name}`);
    }
    // One read of the setting, only to prove the token may (the resource turns them on).
    assert.equal(rec.calls.filter((c) => c.token === ZONE_SETTING).length, 1);
    assert.equal(rec.calls.filter((c) => c.token === BOT).length, 1);
  });

  test("tunnel.zoneId skips the lookup; the zone's resources carry the zone's name", async () => {
    const zoneId = "023e105f4ecef8ad9ca31a8372d0c353";
    const { rec } = await runProgram(
      managedConfig({
        tunnel: { ...(managedConfig().tunnel as object), zoneId, manageZoneSettings: true },
      }),
    );
    assert.equal(rec.calls.filter((c) => c.token === INVOKES.zones).length, 0);
    const [s] = rec.ofType(T.zoneSetting);
    assert.equal(s.name, "zone-websockets-example.com");
    assert.equal(s.inputs.zoneId, zoneId);
    for (const r of rec.ofType(T.dnsRecord)) assert.equal(r.inputs.zoneId, zoneId);
  });

  test("quick, token and none modes read no zone", async () => {
    for (const [cfg, secretKeys] of [
      [quick, []],
      [none, []],
      [token, ["tunnelToken"]],
    ] as const) {
      const { rec } = await runProgram(cfg, { secretKeys: [...secretKeys] });
      assert.deepEqual(
        rec.calls.filter((c) => c.token === ZONE_SETTING || c.token === BOT),
        [],
      );
    }
  });
});

describe("other modes", () => {
  test("quick mode creates no Cloudflare resources and runs a quick tunnel to the broker", async () => {
    const { rec } = await runProgram(quick);
    assert.equal(rec.registrations.filter((r) => r.type.startsWith("cloudflare:")).length, 0);
    assert.equal(rec.calls.length, 0, "no Cloudflare API lookups");
    const connectors = rec.ofType(T.container).filter((c) => c.name.includes("connector"));
    assert.equal(connectors.length, 1);
    assert.deepEqual(connectors[0].inputs.command.slice(-2), ["--url", "http://mosquitto:9001"]);
    assert.equal(connectors[0].inputs.envs, undefined);
  });

  test("none mode deploys the broker alone", async () => {
    const { rec } = await runProgram(none);
    assert.equal(count(rec, T.connector), 0);
    assert.deepEqual(
      rec.ofType(T.container).map((c) => c.name),
      ["local-broker-config-writer", "local-broker-mosquitto"],
    );
    assert.equal(rec.registrations.filter((r) => r.type.startsWith("cloudflare:")).length, 0);
  });

  test("token mode runs connectors with the configured secret token and no Cloudflare resources", async () => {
    const { rec, outputs } = await runProgram(token, { secretKeys: ["tunnelToken"] });
    assert.equal(rec.registrations.filter((r) => r.type.startsWith("cloudflare:")).length, 0);
    const connectors = rec.ofType(T.container).filter((c) => c.name.includes("connector"));
    assert.equal(connectors.length, 2);
    for (const c of connectors) {
      assert.ok(c.secretInputs.has("envs"));
      assert.equal(c.inputs.envs[0], `TUNNEL_TOKEN=${TOKEN}`);
    }
    const out = await resolve(outputs.tunnelToken);
    assert.equal(out.secret, true);
    assert.equal(out.value, TOKEN);
  });

  test("connectors are chained, so a rotation replaces them one at a time", async () => {
    const { rec } = await runProgram(
      { ...token, tunnel: { mode: "token", replicas: 3 } },
      {
        secretKeys: ["tunnelToken"],
      },
    );
    const c = [1, 2, 3].map((i) => rec.byName(`local-connector-${i}`));
    assert.ok(!c[0].dependencies.some((d) => d.includes("connector-")), "the first waits for none");
    assert.ok(c[1].dependencies.includes(c[0].urn), "connector 2 after connector 1");
    assert.ok(c[2].dependencies.includes(c[1].urn), "connector 3 after connector 2");
    // A resource dependency only: replacing connector i must not by itself replace i+1.
    for (const x of c) {
      for (const deps of Object.values(x.propertyDependencies)) {
        assert.ok(!deps.some((d) => d.includes("connector-")), `${x.name}: ${deps}`);
      }
    }
  });
});

describe("hardening", () => {
  test("every container is locked down", async () => {
    const { rec } = await runProgram(managedConfig());
    const running = rec.ofType(T.container).filter((c) => !c.name.endsWith("-config-writer"));
    assert.equal(running.length, 3);
    for (const c of running) {
      assert.equal(c.inputs.readOnly, true, `${c.name} readOnly`);
      assert.deepEqual(c.inputs.capabilities, { drops: ["ALL"] }, `${c.name} capabilities`);
      assert.deepEqual(c.inputs.securityOpts, ["no-new-privileges:true"]);
      assert.ok(c.inputs.memory > 0, `${c.name} memory limit`);
      assert.equal(c.inputs.memorySwap, c.inputs.memory, `${c.name} no swap (and no diff)`);
      assert.equal(c.inputs.restart, "unless-stopped");
      assert.equal(c.inputs.logDriver, "json-file");
      assert.deepEqual(c.inputs.logOpts, { "max-size": "10m", "max-file": "3" });
      assert.ok(c.inputs.healthcheck?.tests?.length, `${c.name} healthcheck`);
      assert.match(c.inputs.user, /^[1-9]\d*:[1-9]\d*$/, `${c.name} runs as a non-root uid:gid`);
      assert.ok(!c.inputs.privileged);
      assert.ok(c.deleteBeforeReplace, `${c.name} has a fixed name`);
    }
  });

  test("the broker sits on the internal network only and publishes nothing by default", async () => {
    const { rec } = await runProgram(managedConfig());
    const broker = rec.byName("local-broker-mosquitto");
    const internal = rec.byName("local-net-broker");
    assert.equal(internal.inputs.internal, true);
    assert.notEqual(rec.byName("local-net-egress").inputs.internal, true);
    assert.deepEqual(broker.inputs.networksAdvanced, [
      { name: "mqtt-edge-dev-local-broker", aliases: ["mosquitto"] },
    ]);
    assert.deepEqual(broker.inputs.ports ?? [], []);
    const connector = rec.byName("local-connector-1");
    assert.deepEqual(
      connector.inputs.networksAdvanced.map((n: { name: string }) => n.name).sort(),
      ["mqtt-edge-dev-local-broker", "mqtt-edge-dev-local-egress"],
    );
  });

  test("1883 is published only where configured", async () => {
    const cfg = managedConfig();
    (cfg.broker as Record<string, unknown>).tcp = { publish: "127.0.0.1:11883" };
    const { rec } = await runProgram(cfg);
    assert.deepEqual(rec.byName("local-broker-mosquitto").inputs.ports, [
      { internal: 1883, external: 11883, ip: "127.0.0.1", protocol: "tcp" },
    ]);
  });

  test("the config writer only hands the files to mosquitto, once, with CAP_CHOWN alone", async () => {
    const { rec } = await runProgram(managedConfig());
    const writer = rec.byName("local-broker-config-writer");
    assert.equal(writer.inputs.start, undefined, "started once");
    assert.equal(writer.inputs.attach, true, "the provider waits for it to exit");
    assert.equal(writer.inputs.mustRun, false, "exited is its expected state");
    assert.equal(writer.inputs.restart, "no");
    assert.equal(writer.inputs.networkMode, "none");
    assert.deepEqual(writer.inputs.entrypoints, [
      "chown",
      "1883:1883",
      "/mosquitto/config/mosquitto.conf",
      "/mosquitto/config/acl",
      "/mosquitto/config/passwd",
      "/mosquitto/config/generation",
    ]);
    assert.deepEqual(writer.inputs.capabilities, { drops: ["ALL"], adds: ["CAP_CHOWN"] });
    assert.deepEqual(writer.inputs.securityOpts, ["no-new-privileges:true"]);
    assert.equal(writer.inputs.memorySwap, writer.inputs.memory);
    assert.deepEqual(writer.inputs.mounts, [
      {
        target: "/mosquitto/config",
        type: "volume",
        source: "mqtt-edge-dev-local-mosquitto-config",
      },
    ]);
    const broker = rec.byName("local-broker-mosquitto");
    assert.ok(broker.dependencies.includes(writer.urn), "the broker starts after the files are in");
    assert.deepEqual(broker.replaceWith, [], "a new file set replaces the writer, not the broker");
    // No input of the broker comes from the writer or a password: only such a property
    // dependency would make the engine replace the broker along with a replaced writer.
    assert.ok(broker.propertyDependencies.networksAdvanced?.length, "they are recorded");
    for (const [key, deps] of Object.entries(broker.propertyDependencies)) {
      assert.ok(
        !deps.some((d) => d === writer.urn || d.includes("RandomPassword")),
        `broker input ${key} depends on ${deps}`,
      );
    }
    assert.deepEqual(broker.inputs.entrypoints.slice(0, 2), ["/bin/sh", "-c"], "the reloader");
    assert.deepEqual(broker.inputs.command, [
      "/usr/sbin/mosquitto",
      "-c",
      "/mosquitto/config/mosquitto.conf",
    ]);
    assert.equal(broker.inputs.uploads, undefined, "nothing is uploaded into the read-only broker");
    assert.deepEqual(broker.inputs.mounts[0], {
      target: "/mosquitto/config",
      type: "volume",
      source: "mqtt-edge-dev-local-mosquitto-config",
      readOnly: true,
    });
    assert.equal(broker.inputs.destroyGraceSeconds, 10, "time to save retained messages");
  });

  test("mosquitto.conf changes the broker's config-hash label; users and ACLs do not", async () => {
    const hash = async (config: Record<string, unknown>) => {
      const { rec } = await runProgram(config);
      const labels = rec.byName("local-broker-mosquitto").inputs.labels as {
        label: string;
        value: string;
      }[];
      return labels.find((l) => l.label === "dev.mqtt-edge.config-hash")?.value;
    };
    const base = managedConfig();
    const a = await hash(base);
    assert.match(a ?? "", /^[0-9a-f]{12}$/);
    assert.equal(await hash(managedConfig()), a, "stable for the same files");
    const acl = managedConfig();
    (acl.broker as { users: { acl: unknown[] }[] }).users[0].acl = [];
    assert.equal(await hash(acl), a, "an ACL change is reloaded in place");
    const user = managedConfig();
    (user.broker as { users: { name: string }[] }).users.push({ name: "added" });
    assert.equal(await hash(user), a, "a new user is reloaded in place");
    const conf = managedConfig();
    (conf.broker as Record<string, unknown>).maxKeepalive = 30;
    assert.notEqual(await hash(conf), a, "mosquitto.conf is read at start only");
  });

  test("rendered files are uploaded never world-readable, the password file as a secret", async () => {
    const { rec } = await runProgram(managedConfig());
    const broker = rec.byName("local-broker-config-writer");
    const uploads = broker.inputs.uploads as {
      file: string;
      content: string;
      owner: string;
      permissions: string;
    }[];
    assert.deepEqual(uploads.map((u) => u.file).sort(), [
      "/mosquitto/config/acl",
      "/mosquitto/config/generation",
      "/mosquitto/config/mosquitto.conf",
      "/mosquitto/config/passwd",
    ]);
    assert.deepEqual(Object.fromEntries(uploads.map((u) => [u.file, u.permissions])), {
      "/mosquitto/config/mosquitto.conf": "0640",
      "/mosquitto/config/acl": "0600",
      "/mosquitto/config/passwd": "0600",
      "/mosquitto/config/generation": "0600",
    });
    assert.equal(uploads.at(-1)!.file, "/mosquitto/config/generation", "the marker comes last");
    assert.match(uploads.at(-1)!.content, /^[0-9a-f]{12}$/);
    for (const u of uploads) assert.equal(u.owner, undefined, "not in @pulumi/docker 5.0.0");
    assert.ok(broker.secretInputs.has("uploads"));
    assert.ok(broker.additionalSecretOutputs.includes("uploads"));
    const passwd = uploads.find((u) => u.file.endsWith("passwd"))!.content;
    assert.match(
      passwd,
      /^sensor:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==\ndashboard:\$7\$/,
    );
    assert.ok(!passwd.includes("pw-mqtt-password"), "no plaintext password in the file");
  });

  test("protect marks the tunnel, DNS records and the data volume", async () => {
    const { rec } = await runProgram({ ...managedConfig(), protect: true });
    assert.ok(rec.ofType(T.tunnel)[0].protect);
    assert.ok(rec.ofType(T.dnsRecord)[0].protect);
    assert.ok(rec.byName("local-broker-data").protect);
    assert.ok(!rec.byName("local-broker-mosquitto").protect);
    const unprotected = await runProgram(managedConfig());
    assert.ok(!unprotected.rec.ofType(T.tunnel)[0].protect);
  });
});

describe("secrets", () => {
  test("every output and input that carries a secret is secret", async () => {
    const { rec, outputs } = await runProgram(managedConfig());
    const creds = await resolve(outputs.mqttCredentials);
    assert.equal(creds.secret, true);
    assert.deepEqual(Object.keys(creds.value).sort(), ["dashboard", "sensor"]);
    const token = await resolve(outputs.tunnelToken);
    assert.equal(token.secret, true);
    assert.equal(
      JSON.parse(Buffer.from(token.value, "base64").toString()).t,
      "local-tunnel-tunnel-id",
    );
    const host = outputs.edgeHosts[0];
    assert.equal((await resolve(host.token)).secret, true);
    assert.equal((await resolve(host.tunnel!.token)).secret, true);
    assert.equal((await resolve(host.broker.passwordFile)).secret, true);
    assert.ok(rec.ofType(T.tunnel)[0].secretInputs.has("tunnelSecret"));
    assert.ok(rec.ofType(T.tunnel)[0].additionalSecretOutputs.includes("tunnelSecret"));
    // Nothing secret leaks into a plain input anywhere in the graph.
    const secrets = [
      ...Object.values(creds.value),
      token.value,
      Buffer.alloc(32, 1).toString("base64"),
    ];
    for (const r of rec.registrations) {
      for (const [k, v] of Object.entries(r.rawInputs)) {
        if (r.secretInputs.has(k)) continue;
        const text = JSON.stringify(v);
        for (const s of secrets)
          assert.ok(!text.includes(s), `${r.name}.${k} holds a secret in plain text`);
      }
    }
  });

  test("hosts.<name> holds no secret but the token", async () => {
    const { outputs } = await runProgram(managedConfig());
    const readable = Object.entries(outputs.hosts.local).filter(([k]) => k !== "tunnelToken");
    const summary = await resolve(pulumi.output(Object.fromEntries(readable)));
    assert.equal(summary.secret, false);
    assert.deepEqual(summary.value, {
      name: "local",
      docker: "DOCKER_HOST or the local socket",
      mode: "managed",
      websocketUrl: "wss://mqtt.example.com",
      websocketUrls: ["wss://mqtt.example.com"],
      tunnelId: "local-tunnel-tunnel-id",
      connectors: 2,
      broker: "mqtt-edge-dev-local-mosquitto",
    });
    const host = outputs.hosts.local;
    assert.deepEqual(Object.keys(outputs.hosts), ["local"]);
    assert.equal(host.websocketUrl, "wss://mqtt.example.com");
    assert.deepEqual(await resolve(host.tunnelId), {
      value: "local-tunnel-tunnel-id",
      secret: false,
    });
    const token = await resolve(host.tunnelToken);
    assert.equal(token.secret, true);
    assert.equal(token.value, (await resolve(outputs.tunnelToken)).value);
    assert.equal((await resolve(host.broker)).secret, false);
    assert.equal((await resolve(outputs.websocketUrl)).value, "wss://mqtt.example.com");
  });
});

describe("stacks side by side", () => {
  test("dev and prod on one Docker host and one account share no physical name", async () => {
    const names = async (stack: string) => {
      const { rec } = await runProgram(managedConfig(), { stack });
      const physical = new Set<string>();
      for (const r of rec.registrations) {
        if (r.type === T.dnsRecord) continue; // hostnames are the user's choice, checked by validation
        if (typeof r.inputs.name === "string") physical.add(`${r.type} ${r.inputs.name}`);
      }
      return physical;
    };
    const dev = await names("dev");
    const prod = await names("prod");
    assert.ok(dev.size >= 7, [...dev].join("\n"));
    const shared = [...dev].filter((n) => prod.has(n));
    assert.deepEqual(shared, [], "physical names shared by two stacks");
    assert.ok([...dev].some((n) => n.includes("mqtt-edge-dev-local-mosquitto")));
    assert.ok([...prod].some((n) => n.includes("mqtt-edge-prod-local-mosquitto")));
  });
});

describe("readable previews", () => {
  test("the broker's labels are readable: its config hash hashes only password hashes", async () => {
    const { rec, outputs } = await runProgram(managedConfig());
    const broker = rec.byName("local-broker-mosquitto");
    assert.ok(!broker.secretInputs.has("labels"), "labels are not secret");
    const hash = broker.inputs.labels.find(
      (l: { label: string }) => l.label === "dev.mqtt-edge.config-hash",
    );
    assert.match(hash.value, /^[0-9a-f]{12}$/);
    const passwords = (await resolve(outputs.mqttCredentials)).value;
    for (const pw of Object.values(passwords)) {
      assert.ok(!JSON.stringify(broker.inputs.labels).includes(pw));
    }
    // The password file itself stays secret wherever it goes.
    assert.ok(rec.byName("local-broker-config-writer").secretInputs.has("uploads"));
  });
});
