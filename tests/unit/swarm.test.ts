import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { apiAbove, EndpointNotAskable, listenerRefusal } from "../../engines";
import {
  T,
  managedConfig,
  runProgram,
  type Recorder,
  type Registration,
} from "../support/programRunner";

const letsencrypt = {
  email: "ops@example.com",
  domains: ["www.example.com", "api.example.com"],
  node: "manager-1",
  renewCron: ["0 3 * * *", "0 15 * * *"],
};

function swarmConfig(swarm: Record<string, unknown>) {
  return managedConfig({
    swarm: { enabled: true, letsencrypt, httpHostnames: ["www.example.com"], ...swarm },
  });
}

const service = (rec: Recorder, role: string): Registration => rec.byName(`local-frontend-${role}`);
const labelsOf = (r: Registration): Record<string, string> =>
  Object.fromEntries(
    (r.inputs.labels ?? []).map((l: { label: string; value: string }) => [l.label, l.value]),
  );
const mountsOf = (r: Registration) =>
  (r.inputs.taskSpec.containerSpec.mounts ?? []) as {
    source: string;
    target: string;
    type: string;
  }[];

describe("swarm mode, Docker Flow (seed 002)", () => {
  test("the seed's services with their replicas, constraints, env, labels, volume and network", async () => {
    const { rec } = await runProgram(swarmConfig({ proxy: "dockerflow", proxyReplicas: 2 }));
    assert.equal(rec.ofType(T.container).length, 0, "no plain containers in swarm mode");
    const names = rec
      .ofType(T.service)
      .map((s) => s.inputs.name)
      .sort();
    assert.deepEqual(names, [
      "mqtt-edge-dev-local-cloudflared",
      "mqtt-edge-dev-local-letsencrypt-companion",
      "mqtt-edge-dev-local-mosquitto",
      "mqtt-edge-dev-local-proxy",
      "mqtt-edge-dev-local-socket-proxy",
      "mqtt-edge-dev-local-swarm-listener",
    ]);

    const main = rec.byName("local-frontend-main");
    assert.equal(main.inputs.name, "mqtt-edge-dev-local-main");
    assert.equal(main.inputs.driver, "overlay");
    assert.equal(main.inputs.attachable, true);

    const listener = service(rec, "swarm-listener");
    const lenv = listener.inputs.taskSpec.containerSpec.env;
    assert.equal(
      lenv.DF_NOTIFY_CREATE_SERVICE_URL,
      "http://proxy:8080/v1/docker-flow-proxy/reconfigure",
    );
    assert.equal(
      lenv.DF_NOTIFY_REMOVE_SERVICE_URL,
      "http://proxy:8080/v1/docker-flow-proxy/remove",
    );
    assert.equal(lenv.DF_DOCKER_HOST, "tcp://socket-proxy:2375");
    assert.equal(lenv.DOCKER_HOST, undefined, "the listener reads DF_DOCKER_HOST only");
    assert.deepEqual(listener.inputs.taskSpec.placement.constraints, ["node.role == manager"]);
    assert.deepEqual(mountsOf(listener), [], "the listener never mounts the Docker socket");
    assert.ok(
      listener.inputs.taskSpec.networksAdvanceds.some((n: { aliases: string[] }) =>
        n.aliases.includes("swarm-listener"),
      ),
    );

    const proxy = service(rec, "proxy");
    assert.equal(proxy.inputs.mode.replicated.replicas, 2);
    assert.deepEqual(proxy.inputs.taskSpec.containerSpec.env, {
      LISTENER_ADDRESS: "swarm-listener",
      MODE: "swarm",
    });
    assert.deepEqual(proxy.inputs.taskSpec.placement.constraints, ["node.role == manager"]);
    const published = proxy.inputs.endpointSpec.ports.map(
      (p: { publishedPort: number; targetPort: number }) => [p.publishedPort, p.targetPort],
    );
    assert.deepEqual(published, [
      [80, 80],
      [443, 443],
    ]);
    assert.ok(
      !JSON.stringify(proxy.inputs.endpointSpec).includes("8080"),
      "the control port is not published",
    );
    assert.ok(proxy.inputs.taskSpec.networksAdvanceds[0].aliases.includes("proxy"));

    const le = service(rec, "letsencrypt-companion");
    assert.equal(le.inputs.mode.replicated.replicas, 1);
    assert.deepEqual(le.inputs.taskSpec.placement.constraints, ["node.hostname == manager-1"]);
    assert.deepEqual(labelsOf(le), {
      "dev.mqtt-edge.project": "mqtt-edge",
      "dev.mqtt-edge.stack": "dev",
      "dev.mqtt-edge.host": "local",
      "com.df.notify": "true",
      "com.df.distribute": "true",
      "com.df.servicePath": "/.well-known/acme-challenge",
      "com.df.port": "80",
    });
    assert.deepEqual(le.inputs.taskSpec.containerSpec.env, {
      DOMAIN_1: "('www.example.com' 'api.example.com')",
      DOMAIN_COUNT: "1",
      CERTBOT_EMAIL: "ops@example.com",
      PROXY_ADDRESS: "proxy",
      CERTBOT_CRON_RENEW: "('0 3 * * *' '0 15 * * *')",
    });
    assert.deepEqual(mountsOf(le), [
      { type: "volume", source: "mqtt-edge-dev-local-letsencrypt", target: "/etc/letsencrypt" },
    ]);

    const sp = service(rec, "socket-proxy");
    assert.deepEqual(mountsOf(sp), [
      {
        type: "bind",
        source: "/var/run/docker.sock",
        target: "/var/run/docker.sock",
        readOnly: true,
      },
    ]);
    assert.equal(labelsOf(sp)["dev.mqtt-edge.role"], "socket-proxy");
    assert.equal(sp.inputs.taskSpec.containerSpec.env.POST, "0");
    assert.equal(sp.inputs.taskSpec.containerSpec.env.CONTAINERS, "0");
    const socketNet = rec.byName("local-frontend-socket");
    assert.equal(socketNet.inputs.internal, true);
    for (const s of rec.ofType(T.service)) {
      if (s === sp) continue;
      assert.ok(
        !mountsOf(s).some((m) => m.source?.includes("docker.sock")),
        `${s.name} mounts the socket`,
      );
    }
  });

  test("a new user is a new password secret and ACL config (resources), aliased to the old names", async () => {
    const names = async (config: Record<string, unknown>) => {
      const { rec } = await runProgram(config);
      const broker = rec.registrations.filter(
        (r) => r.type === T.secret || r.type === T.serviceConfig,
      );
      return broker
        .map((r) => r.name)
        .filter((n) => n.startsWith("local-broker-"))
        .sort();
    };
    const base = swarmConfig({ proxy: "dockerflow" });
    const before = await names(base);
    const withUser = { ...base, broker: { ...(base.broker as object) } } as Record<string, any>;
    withUser.broker.users = [...withUser.broker.users, { name: "added" }];
    const after = await names(withUser);
    // The provider replaces configs and this secret delete-first, which the engine refuses
    // while the service names them: new content must be a new resource instead.
    assert.equal(before.length, 3, before.join(", "));
    assert.deepEqual(
      after.filter((n) => before.includes(n)),
      before.filter((n) => n.startsWith("local-broker-conf-")),
      "only mosquitto.conf stays the same resource",
    );
  });

  test("broker and connectors are services; the token is a Docker secret file", async () => {
    const { rec } = await runProgram(swarmConfig({ proxy: "dockerflow" }));
    const connector = rec.byName("local-connector-service");
    const spec = connector.inputs.taskSpec.containerSpec;
    assert.equal(connector.inputs.mode.replicated.replicas, 2);
    assert.deepEqual(spec.args.slice(-3), ["run", "--token-file", "/run/secrets/tunnel_token"]);
    assert.equal(spec.env, undefined, "no token in the environment");
    const tokenSecret = rec.byName("local-connector-token");
    assert.ok(tokenSecret.secretInputs.has("data"));
    // A hash of the token is not unsecreted: the secret's name stays secret.
    assert.ok(tokenSecret.secretInputs.has("name"));
    assert.equal(spec.secrets[0].fileName, "/run/secrets/tunnel_token");
    assert.equal(spec.secrets[0].fileMode, 0o400);
    const nets = connector.inputs.taskSpec.networksAdvanceds
      .map((n: { name: string }) => n.name)
      .sort();
    assert.deepEqual(nets, [
      "mqtt-edge-dev-local-broker",
      "mqtt-edge-dev-local-egress",
      "mqtt-edge-dev-local-main",
    ]);
    assert.equal(rec.byName("local-net-broker").inputs.driver, "overlay");
    assert.equal(rec.byName("local-net-broker").inputs.internal, true);

    const broker = rec.byName("local-broker-mosquitto");
    assert.equal(broker.type, T.service);
    const bspec = broker.inputs.taskSpec.containerSpec;
    assert.deepEqual(
      bspec.configs.map((c: { fileName: string }) => c.fileName),
      ["/mosquitto/config/mosquitto.conf", "/mosquitto/config/acl"],
    );
    assert.equal(bspec.secrets[0].fileName, "/mosquitto/config/passwd");
    // Named by the user set (names, passwordVersions): a new set is a new resource.
    const [passwd] = rec
      .ofType(T.secret)
      .filter((r) => /^local-broker-passwd-[0-9a-f]{12}$/.test(r.name));
    assert.ok(
      passwd,
      rec
        .ofType(T.secret)
        .map((r) => r.name)
        .join(", "),
    );
    assert.ok(passwd.secretInputs.has("data"));
    // Named by a hash of the hashed password file: readable (see passwordFileHash).
    assert.ok(!passwd.secretInputs.has("name"));
    assert.match(passwd.inputs.name, /^mqtt-edge-dev-local-mosquitto-passwd-[0-9a-f]{12}$/);
    assert.deepEqual(broker.inputs.taskSpec.placement.constraints, ["node.role == manager"]);
    assert.deepEqual(mountsOf(broker), [
      { type: "volume", source: "mqtt-edge-dev-local-mosquitto-data", target: "/mosquitto/data" },
    ]);
    assert.equal(broker.inputs.updateConfig.order, "stop-first");
  });

  test("the tunnel routes HTTP hostnames to the proxy, MQTT to the broker", async () => {
    const { rec } = await runProgram(swarmConfig({ proxy: "dockerflow" }));
    assert.deepEqual(rec.ofType(T.tunnelConfig)[0].inputs.config.ingresses, [
      { hostname: "mqtt.example.com", service: "http://mosquitto:9001" },
      { hostname: "www.example.com", service: "http://proxy:80" },
      { service: "http_status:404" },
    ]);
    assert.deepEqual(
      rec
        .ofType(T.dnsRecord)
        .map((r) => r.inputs.name)
        .sort(),
      ["mqtt.example.com", "www.example.com"],
    );
  });

  test("dnsrr endpoints publish in host mode", async () => {
    const { rec } = await runProgram(
      swarmConfig({ endpointMode: "dnsrr", ports: { http: 18080, https: 18443 } }),
    );
    const proxy = service(rec, "proxy");
    assert.equal(proxy.inputs.endpointSpec.mode, "dnsrr");
    for (const p of proxy.inputs.endpointSpec.ports) assert.equal(p.publishMode, "host");
    assert.deepEqual(
      proxy.inputs.endpointSpec.ports.map((p: { publishedPort: number }) => p.publishedPort),
      [18080, 18443],
    );
  });
});

describe("swarm mode, Traefik", () => {
  test("Traefik reads services through the socket proxy and gets certificates itself", async () => {
    const { rec } = await runProgram(swarmConfig({ proxy: "traefik" }));
    const roles = rec
      .ofType(T.service)
      .map((s) => s.inputs.name)
      .sort();
    assert.ok(
      !roles.some((r) => r.includes("swarm-listener") || r.includes("letsencrypt-companion")),
    );
    const traefik = service(rec, "proxy");
    const args: string[] = traefik.inputs.taskSpec.containerSpec.args;
    for (const a of [
      "--providers.swarm=true",
      "--providers.swarm.endpoint=tcp://socket-proxy:2375",
      "--providers.swarm.exposedByDefault=false",
      "--certificatesresolvers.le.acme.email=ops@example.com",
    ]) {
      assert.ok(args.includes(a), `missing ${a}`);
    }
    assert.equal(traefik.inputs.mode.replicated.replicas, 1, "one ACME writer");
    assert.deepEqual(mountsOf(traefik), [
      { type: "volume", source: "mqtt-edge-dev-local-letsencrypt", target: "/letsencrypt" },
    ]);
  });
});

describe("another ACME directory (swarm.letsencrypt.server, caCertificate)", () => {
  const server = "https://acme.internal.example:14000/dir";
  const ca = "-----BEGIN CERTIFICATE-----\nMIIBfakeButBase64==\n-----END CERTIFICATE-----\n";
  const configOf = (rec: Recorder, r: Registration, fileName: string) => {
    const entry = (r.inputs.taskSpec.containerSpec.configs ?? []).find(
      (c: { fileName: string }) => c.fileName === fileName,
    );
    assert.ok(entry, `${r.name} mounts ${fileName}`);
    assert.equal(entry.fileMode, 0o444);
    const config = rec.ofType(T.serviceConfig).find((c) => c.inputs.name === entry.configName);
    assert.ok(config, `a swarm config named ${entry.configName}`);
    return Buffer.from(config.inputs.data, "base64").toString();
  };
  const withServer = (proxy: string, extra: Record<string, unknown> = {}) =>
    swarmConfig({ proxy, letsencrypt: { ...letsencrypt, server, caCertificate: ca, ...extra } });

  test("traefik: the resolver's caServer, and lego trusts the CA from a mounted config", async () => {
    const { rec } = await runProgram(withServer("traefik"));
    const traefik = service(rec, "proxy");
    const spec = traefik.inputs.taskSpec.containerSpec;
    assert.ok(spec.args.includes(`--certificatesresolvers.le.acme.caServer=${server}`));
    assert.ok(
      !spec.args.some((a: string) => a.includes("certificatesDuration")),
      "Traefik's default",
    );
    assert.deepEqual(spec.env, { LEGO_CA_CERTIFICATES: "/etc/mqtt-edge/acme-ca.pem" });
    assert.equal(configOf(rec, traefik, "/etc/mqtt-edge/acme-ca.pem"), ca);
  });

  test("traefik: certificatesDuration, for a CA whose certificates live shorter", async () => {
    const { rec } = await runProgram(withServer("traefik", { certificatesDuration: 24 }));
    const args: string[] = service(rec, "proxy").inputs.taskSpec.containerSpec.args;
    assert.ok(args.includes("--certificatesresolvers.le.acme.certificatesDuration=24"));
    await assert.rejects(
      runProgram(withServer("traefik", { certificatesDuration: 0 })),
      /mqtt-edge:swarm\.letsencrypt\.certificatesDuration/,
    );
  });

  test("dockerflow: certbot's cli.ini names the server; the CA replaces the companion's bundle", async () => {
    const { rec } = await runProgram(withServer("dockerflow"));
    const le = service(rec, "letsencrypt-companion");
    assert.equal(configOf(rec, le, "/etc/letsencrypt/cli.ini"), `server = ${server}\n`);
    assert.equal(configOf(rec, le, "/etc/ssl/certs/ca-certificates.crt"), ca);
  });

  test("unset: Let's Encrypt's production directory and the images' own trust; no configs", async () => {
    for (const proxy of ["traefik", "dockerflow"]) {
      const { rec } = await runProgram(swarmConfig({ proxy }));
      const s = service(rec, proxy === "traefik" ? "proxy" : "letsencrypt-companion");
      const spec = s.inputs.taskSpec.containerSpec;
      assert.equal(spec.configs, undefined, proxy);
      assert.ok(!(spec.args ?? []).some((a: string) => a.includes("caServer")), proxy);
    }
  });

  test("a CA change is a new config (immutable swarm object), named by its content", async () => {
    const a = await runProgram(withServer("traefik"));
    const b = await runProgram(
      withServer("traefik", { caCertificate: ca.replace("fake", "Fake") }),
    );
    const names = (r: Recorder) => r.ofType(T.serviceConfig).map((c) => c.inputs.name);
    const [na] = names(a.rec).filter((n: string) => n.includes("-acme-ca-"));
    const [nb] = names(b.rec).filter((n: string) => n.includes("-acme-ca-"));
    assert.match(na, /^mqtt-edge-dev-local-acme-ca-[0-9a-f]{12}$/);
    assert.notEqual(na, nb);
  });

  test("bad values are refused naming the key", async () => {
    await assert.rejects(
      runProgram(withServer("traefik", { server: "http://acme.example/dir" })),
      /mqtt-edge:swarm\.letsencrypt\.server: expected the https:\/\/ URL of an ACME directory/,
    );
    await assert.rejects(
      runProgram(withServer("traefik", { caCertificate: "not a certificate" })),
      /mqtt-edge:swarm\.letsencrypt\.caCertificate: expected PEM text/,
    );
  });
});

describe("the engines' preflight: Docker Flow's listener speaks API 1.37", () => {
  const docker29 = { api: "1.52", min: "1.44", version: "29.1.0" };

  test("an engine whose minimum API is above 1.37 is refused, naming swarm.proxy, the host, the engine and both ways out", () => {
    const m = listenerRefusal("edge-a", "unix:///run/docker-29.sock", docker29);
    assert.equal(
      m,
      'mqtt-edge:swarm.proxy: "dockerflow" cannot work on host edge-a: its Swarm Listener speaks ' +
        "Docker API 1.37, and the engine at unix:///run/docker-29.sock (Docker 29.1.0) accepts " +
        '1.44 to 1.52, so the listener would be refused and route nothing. Use proxy: "traefik", ' +
        "or start that engine's daemon with DOCKER_MIN_API_VERSION=1.37 (or " +
        '"min-api-version": "1.37" in daemon.json).',
    );
    assert.equal(listenerRefusal("a", "x", { ...docker29, min: "1.37" }), undefined);
    assert.equal(listenerRefusal("a", "x", { ...docker29, min: "1.40" })?.includes("1.40"), true);
    assert.equal(apiAbove("1.100", "1.37"), true);
    assert.equal(apiAbove("1.12", "1.37"), false);
  });

  test("allowed where the engine accepts 1.37 (20.10; Docker 29 with DOCKER_MIN_API_VERSION=1.37), and never asked for traefik", async () => {
    for (const engine of [
      { api: "1.41", min: "1.12", version: "20.10.24" },
      { api: "1.56", min: "1.37", version: "29.1.0" },
    ]) {
      const { rec } = await runProgram(swarmConfig({ proxy: "dockerflow" }), { engine });
      assert.equal(rec.enginesAsked.length, 1, "the one host's engine, asked once");
      assert.ok(rec.ofType(T.service).length > 0, engine.version);
    }
    const { rec } = await runProgram(swarmConfig({ proxy: "traefik" }), { engine: docker29 });
    assert.deepEqual(rec.enginesAsked, []);
    assert.ok(rec.ofType(T.service).length > 0);
  });

  test("an engine that cannot be asked is a warning, not a failure", async () => {
    const { rec } = await runProgram(swarmConfig({ proxy: "dockerflow" }), {
      engine: new EndpointNotAskable("ssh:// endpoints cannot be asked from here"),
    });
    assert.ok(rec.ofType(T.service).length > 0);
  });
});

describe("broker.healthStartInterval: the start interval where the engine keeps it", () => {
  const engine = (api: string) => ({ api, min: "1.24", version: api === "1.41" ? "20.10" : "29" });
  const brokerHealth = (rec: Recorder) => {
    const broker = rec.ofType(T.container).find((c) => /mosquitto$/.test(c.inputs.name));
    assert.ok(broker, "the broker container");
    return broker.inputs.healthcheck as Record<string, unknown>;
  };
  const withSetting = (v?: boolean | "auto") =>
    managedConfig(
      v === undefined
        ? {}
        : { broker: { ...(managedConfig().broker as object), healthStartInterval: v } },
    );

  test('"auto" (the default): 250 ms where the engine speaks API 1.44 or later, asking it once', async () => {
    for (const [api, want] of [
      ["1.44", "250ms"],
      ["1.56", "250ms"],
      ["1.43", undefined],
      ["1.41", undefined],
    ]) {
      const { rec } = await runProgram(withSetting(), { engine: engine(api!) });
      assert.equal(brokerHealth(rec).startInterval, want, `API ${api}`);
      assert.equal(brokerHealth(rec).interval, "3s");
      assert.equal(rec.enginesAsked.length, 1);
    }
  });

  test('"auto" and an endpoint that cannot be asked from here (ssh://): the 3 s interval alone', async () => {
    const { rec } = await runProgram(withSetting("auto"), {
      engine: new EndpointNotAskable("ssh:// endpoints cannot be asked from here"),
    });
    assert.equal(brokerHealth(rec).startInterval, undefined);
  });

  test("a tcp:// host asked with its TLS material: the healthcheck is no secret (only the material is)", async () => {
    const pem = (kind: string) => `-----BEGIN ${kind}-----\nMIIB\n-----END ${kind}-----\n`;
    const base = managedConfig();
    const { hostname, ...tunnel } = base.tunnel as Record<string, unknown>;
    const { rec } = await runProgram(
      {
        ...base,
        tunnel,
        hosts: [{ name: "edge-1", docker: "tcp://edge-1.internal:2376", hostname }],
        dockerTls: {
          "edge-1": { ca: pem("CERTIFICATE"), cert: pem("CERTIFICATE"), key: pem("PRIVATE KEY") },
        },
      },
      { secretKeys: ["dockerTls"], engine: engine("1.56") },
    );
    const broker = rec.ofType(T.container).find((c) => /mosquitto$/.test(c.inputs.name))!;
    assert.deepEqual(rec.enginesAsked, ["tcp://edge-1.internal:2376"]);
    assert.equal(broker.inputs.healthcheck.startInterval, "250ms");
    assert.ok(!broker.secretInputs.has("healthcheck"), "healthcheck marked secret");
  });

  test("true and false are as written, without asking the engine", async () => {
    for (const [v, want] of [
      [true, "250ms"],
      [false, undefined],
    ] as const) {
      const { rec } = await runProgram(withSetting(v), { engine: engine("1.56") });
      assert.equal(brokerHealth(rec).startInterval, want, String(v));
      assert.deepEqual(rec.enginesAsked, []);
    }
  });

  test('swarm mode: "auto" gives the service no start interval (the provider has none for services)', async () => {
    const { rec } = await runProgram(swarmConfig({ proxy: "traefik" }), { engine: engine("1.56") });
    const broker = rec.ofType(T.service).find((x) => /mosquitto$/.test(x.inputs.name));
    assert.ok(broker);
    assert.equal(broker.inputs.taskSpec.containerSpec.healthcheck.startInterval, undefined);
    assert.deepEqual(rec.enginesAsked, []);
  });
});

describe("swarm validation", () => {
  test("publishing broker ports is refused in swarm mode", async () => {
    const cfg = swarmConfig({});
    (cfg.broker as Record<string, unknown>).tcp = { publish: "127.0.0.1:1883" };
    await assert.rejects(
      runProgram(cfg),
      /mqtt-edge:broker.tcp.publish: not available in swarm mode/,
    );
  });
});
