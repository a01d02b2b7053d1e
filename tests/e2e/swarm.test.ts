/**
 * Swarm mode by real `pulumi up` on a single-node swarm (engine a), in both proxy modes:
 * - `dockerflow`, seed 002's stack: Docker Flow Swarm Listener, Proxy and Let's Encrypt companion
 *   (stand-ins: no registry here serves those images; scripts/standin/standin.js), with the
 *   Docker API behind the socket proxy;
 * - `traefik`: the real Traefik v3 (built from the Go module proxy), routing by its swarm
 *   provider through the same socket proxy.
 * The socket proxy is Debian's haproxy with our own rules (scripts/images.sh). The broker and
 * connector run as services; the tunnel lives in the fake Cloudflare API. Real clients check
 * the result, a second preview must be clean, and destroy must leave nothing.
 *
 * Certificates come from Pebble, Let's Encrypt's ACME test server, on this machine
 * (tests/support/pebble.ts): `swarm.letsencrypt.server` and `caCertificate` point both modes at
 * it, it validates HTTP-01 through the proxy's published port, and the proxy must then serve, on
 * its published HTTPS port, a certificate that chains to Pebble's root; a renewal run must
 * replace it with a new one.
 *
 * This kernel has no IPVS, so swarm VIPs do not work: endpointMode dnsrr with host-mode ports.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { connect, type PeerCertificate } from "node:tls";
import { MOSQUITTO_UID } from "../../components/broker";
import { CLOUDFLARED_UID, TOKEN_FILE } from "../../components/connector";
import { MOSQUITTO_PATHS } from "../../components/render";
import { routeLabels } from "../../components/swarmProxy";
import type { FakeCloudflareApi } from "../support/cloudflareApi";
import { FAKE_ACCOUNT, T, managedConfig, runProgram } from "../support/programRunner";
import {
  API_TOKEN,
  assertNoSecrets,
  BROKER_WS,
  brokerReady,
  deploySuite,
  docker,
  dockerAsync,
  dockerGateway,
  dockerJson,
  E2EStack,
  errorText,
  IMAGES,
  managedTunnel,
  mqttClient,
  pubsubArgs,
  requireTools,
  startFakeCloudflare,
  until,
} from "../support/e2eStack";
import { e2eImage } from "../support/e2eImages";
import { LoadFleet } from "../support/loadClients";
import { Pebble } from "../support/pebble";
import { apiAbove, DOCKER_FLOW_LISTENER_API } from "../../engines";

const PORTS = { http: 18080, https: 18443 };
const SWARM_IMAGES = {
  swarmListener: e2eImage("docker-flow-swarm-listener"),
  proxy: e2eImage("docker-flow-proxy"),
  letsencrypt: e2eImage("docker-flow-letsencrypt"),
  traefik: e2eImage("traefik"),
  socketProxy: e2eImage("socket-proxy"),
};
/** A labelled web service to route to (the stand-in's demo role). */
const DEMO_IMAGE = e2eImage("dockerflow-standin");

/** The swarm this suite needs, or an error naming the fix. */
function requireSwarm(): { socket: string; nodeHostname: string } {
  const host = process.env.DOCKER_HOST ?? "";
  if (!host.startsWith("unix://")) {
    throw new Error(`swarm tests need DOCKER_HOST=unix://... of a test engine, got "${host}"`);
  }
  const swarm = dockerJson("info", "--format", "{{json .Swarm}}");
  if (swarm.LocalNodeState !== "active" || !swarm.ControlAvailable) {
    throw new Error(`the engine at ${host} is not a swarm manager: bash scripts/engine.sh swarm a`);
  }
  const missing = [...Object.values(SWARM_IMAGES), DEMO_IMAGE].filter(
    (i) => spawnSync("docker", ["image", "inspect", i], { stdio: "ignore" }).status !== 0,
  );
  if (missing.length) {
    throw new Error(
      `swarm tests need the local images ${missing.join(", ")}: bash scripts/images.sh`,
    );
  }
  const self = docker("node", "ls", "--format", "{{.Self}} {{.Hostname}}")
    .split("\n")
    .find((l) => l.startsWith("true "));
  if (!self) throw new Error("docker node ls shows no node for this engine");
  return { socket: host.slice("unix://".length), nodeHostname: self.slice(5) };
}

/** The running tasks' containers of a service. */
function taskContainers(service: string): any[] {
  const ids = docker("service", "ps", service, "--filter", "desired-state=running", "-q")
    .split("\n")
    .filter(Boolean);
  return ids
    .map((id) => dockerJson("inspect", id)[0].Status.ContainerStatus?.ContainerID)
    .filter(Boolean)
    .map((cid: string) => dockerJson("container", "inspect", cid)[0]);
}

/**
 * The certificate the proxy serves on its published HTTPS port for `name`, if it chains to
 * `root` and names `name` (Node's own verification); otherwise the reason it was refused.
 */
function servedCertificate(
  name: string,
  root: string,
): Promise<{ cert?: PeerCertificate; refused?: string }> {
  return new Promise((resolve) => {
    const s = connect(
      { host: "127.0.0.1", port: PORTS.https, servername: name, ca: root, timeout: 5000 },
      () => {
        const cert = s.getPeerCertificate();
        s.end();
        resolve({ cert });
      },
    );
    s.on("error", (e) => resolve({ refused: e.message }));
    s.on("timeout", () => {
      s.destroy();
      resolve({ refused: "timeout" });
    });
  });
}

/** Waits for the proxy to serve a Pebble certificate for `name` other than `not` (a serial). */
async function pebbleCertificate(
  pebble: Pebble,
  name: string,
  not?: string,
): Promise<PeerCertificate> {
  const root = await pebble.issuingRoot();
  let last = "";
  try {
    return await until(
      `a certificate for ${name} from Pebble on 127.0.0.1:${PORTS.https}`,
      180_000,
      async () => {
        const r = await servedCertificate(name, root);
        last = r.refused ?? `serial ${r.cert!.serialNumber}`;
        return r.cert && r.cert.serialNumber !== not ? r.cert : undefined;
      },
      2000,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message} (last: ${last})\nPebble:\n${pebble.log()}`);
  }
}

/** Issued by Pebble (its intermediate) for `name`. */
function assertFromPebble(c: PeerCertificate, name: string): void {
  assert.match(String(c.issuer.CN), /^Pebble Intermediate CA /);
  assert.ok((c.subjectaltname ?? "").split(", ").includes(`DNS:${name}`), c.subjectaltname);
}

async function httpGet(url: string): Promise<{ status: number; body: string }> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: r.status, body: await r.text() };
  } catch (e) {
    return { status: 0, body: String(e) };
  }
}

/** A probe of the socket proxy from a container on `network`: status per request. */
async function socketProxyProbe(network: string): Promise<Record<string, unknown>> {
  const script = `
    const http = require("http");
    const call = (method, path) => new Promise((r) => {
      const q = http.request({ host: "socket-proxy", port: 2375, method, path,
        headers: { "Content-Type": "application/json" } }, (res) => {
        let b = ""; res.on("data", (c) => (b += c)); res.on("end", () => r({ status: res.statusCode, body: b }));
      });
      q.setTimeout(8000, () => q.destroy(new Error("timeout")));
      q.on("error", (e) => r({ status: 0, body: e.code || e.message }));
      q.end(method === "POST" ? "{}" : undefined);
    });
    (async () => {
      const s = await call("GET", "/services");
      const out = { getServices: s.status,
        names: s.status === 200 ? JSON.parse(s.body).map((x) => x.Spec.Name) : [] };
      out.postServiceCreate = (await call("POST", "/services/create")).status;
      out.postContainerCreate = (await call("POST", "/containers/create")).status;
      out.getContainers = (await call("GET", "/containers/json")).status;
      out.getSecrets = (await call("GET", "/secrets")).status;
      console.log(JSON.stringify(out));
    })();`;
  const r = await dockerAsync(
    ["run", "--rm", "--network", network, IMAGES.client, "node", "-e", script],
    { timeoutMs: 90_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

for (const proxy of ["dockerflow", "traefik"] as const) {
  const STACK = proxy === "dockerflow" ? "e2eswdf" : "e2eswtr";
  const PREFIX = `mqtt-edge-${STACK}-local`;

  deploySuite(`swarm mode with the ${proxy} proxy, by pulumi up`, { timeout: 20 * 60_000 }, () => {
    let fake: FakeCloudflareApi;
    let stack: E2EStack;
    let passwords: Record<string, string>;
    let token: string;
    let env: ReturnType<typeof requireSwarm>;
    let config: Record<string, unknown>;
    let pebble: Pebble;
    const demo = `${PREFIX}-demo`;
    /** The stand-in's demo role as a service on the stack's overlay network, with `labels`. */
    const demoService = (name: string, labels: Record<string, string>) =>
      docker(
        "service",
        "create",
        "--detach",
        "--name",
        name,
        "--label",
        `dev.mqtt-edge.stack=${STACK}`,
        ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
        "--network",
        `${PREFIX}-main`,
        "--endpoint-mode",
        "dnsrr",
        "--env",
        "ROLE=demo",
        "--env",
        "PORT=8000",
        DEMO_IMAGE,
      );
    /** The name the ACME tests ask a certificate for: the swarm's HTTP hostname. */
    const acmeName = `www-${proxy}.example.com`;
    const expected = [
      "socket-proxy",
      "proxy",
      ...(proxy === "dockerflow" ? ["swarm-listener", "letsencrypt-companion"] : []),
      "mosquitto",
    ];

    before(async () => {
      const tools = requireTools();
      env = requireSwarm();
      const started = await startFakeCloudflare();
      fake = started.fake;
      // Task containers reach this machine at the swarm's gateway bridge.
      pebble = await Pebble.start({
        listenIp: dockerGateway("docker_gwbridge"),
        httpPort: PORTS.http,
        // 20 minutes: certbot renews what expires within 30 days, and Traefik, told the
        // certificates live under a day, renews those within 20 minutes of expiry each minute.
        validitySeconds: 1200,
      });
      stack = new E2EStack(STACK);
      config = {
        tunnel: managedTunnel(tools.cloudflaredImage, { hostname: `mqtt-${proxy}.example.com` }),
        broker: {
          image: IMAGES.mosquitto,
          users: [{ name: "sensor", acl: [{ access: "readwrite", topic: "sensors/#" }] }],
        },
        swarm: {
          enabled: true,
          proxy,
          // Host-mode publishing binds the node's port: one proxy task per node.
          proxyReplicas: 1,
          endpointMode: "dnsrr",
          ports: PORTS,
          dockerSocket: env.socket,
          httpHostnames: [acmeName],
          letsencrypt: {
            email: "ops@example.com",
            domains: [acmeName],
            node: env.nodeHostname,
            server: pebble.directory,
            caCertificate: pebble.serverCa,
            ...(proxy === "traefik" ? { certificatesDuration: 1 } : {}),
          },
          images: SWARM_IMAGES,
        },
        "cloudflare:baseUrl": started.baseUrl,
      };
      await stack.configure(config, { "cloudflare:apiToken": API_TOKEN });
      const r = await stack.up();
      assert.equal(r.summary.result, "succeeded");
      const outputs = await stack.outputs();
      passwords = outputs.mqttCredentials.value;
      token = outputs.tunnelToken.value;
      await brokerReady(`${PREFIX}-broker`, "sensor", passwords.sensor);
    });

    after(async () => {
      spawnSync("docker", ["service", "rm", demo, `${demo}-tls`], { stdio: "ignore" });
      if (stack) await stack.cleanup();
      if (fake) await fake.stop();
      if (pebble) await pebble.stop();
    });

    test("every service runs its declared replicas; nothing runs as a plain container", async () => {
      for (const role of expected) {
        const name = `${PREFIX}-${role}`;
        const want = dockerJson("service", "inspect", name)[0].Spec.Mode.Replicated.Replicas;
        // A task between "assigned" and "running" has no container yet: a bounded wait, and the
        // task history in the message if they never all run (once, on Docker 29, the proxy had
        // no running task right after `pulumi up`).
        await until(`${want} running task(s) of ${name}`, 30_000, () =>
          taskContainers(name).length === want ? true : undefined,
        ).catch((e: Error) => {
          throw new Error(`${e.message}\n${docker("service", "ps", "--no-trunc", name)}`);
        });
      }
      assert.equal(
        dockerJson("service", "inspect", `${PREFIX}-cloudflared`)[0].Spec.Mode.Replicated.Replicas,
        1,
      );
      const plain = docker("ps", "-a", "--filter", `name=${PREFIX}`, "--format", "{{.Names}}")
        .split("\n")
        .filter((n) => n && !/\.\d+\.[a-z0-9]+$/.test(n));
      assert.deepEqual(plain, [], "only task containers");
    });

    test("task containers are hardened: read-only, no capabilities but what binds 80/443, memory", () => {
      for (const role of ["mosquitto", "socket-proxy", "proxy"]) {
        for (const c of taskContainers(`${PREFIX}-${role}`)) {
          assert.deepEqual(c.HostConfig.CapDrop, ["ALL"], `${role} cap drop`);
          if (role === "proxy") assert.deepEqual(c.HostConfig.CapAdd, ["NET_BIND_SERVICE"]);
          else assert.deepEqual(c.HostConfig.CapAdd ?? [], [], `${role} cap add`);
        }
      }
      const [broker] = taskContainers(`${PREFIX}-mosquitto`);
      assert.equal(broker.HostConfig.ReadonlyRootfs, true);
      assert.equal(broker.Config.User, `${MOSQUITTO_UID}:${MOSQUITTO_UID}`);
      assert.equal(broker.HostConfig.Memory, 256 * 1024 * 1024);
    });

    test("only the socket proxy mounts the Docker socket; it answers reads and refuses the rest", async () => {
      for (const role of [...expected, "cloudflared"]) {
        const s = dockerJson("service", "inspect", `${PREFIX}-${role}`)[0];
        const mounts: any[] = s.Spec.TaskTemplate.ContainerSpec.Mounts ?? [];
        const sock = mounts.filter((m) => /docker\.sock$/.test(`${m.Source} ${m.Target}`));
        if (role === "socket-proxy") {
          assert.deepEqual(sock, [
            { Type: "bind", Source: env.socket, Target: "/var/run/docker.sock", ReadOnly: true },
          ]);
        } else {
          assert.deepEqual(sock, [], `${role} mounts the Docker socket`);
        }
      }
      const r = await socketProxyProbe(`${PREFIX}-docker-api`);
      assert.equal(r.getServices, 200, JSON.stringify(r));
      assert.ok((r.names as string[]).includes(`${PREFIX}-proxy`), JSON.stringify(r));
      assert.equal(r.postServiceCreate, 403, "POST /services/create is refused");
      assert.equal(r.postContainerCreate, 403, "POST /containers/create is refused");
      assert.equal(r.getContainers, 403, "CONTAINERS=0");
      assert.equal(r.getSecrets, 403, "secrets are not exposed");
      // The internet-facing network cannot reach it.
      const m = await socketProxyProbe(`${PREFIX}-main`);
      assert.equal(m.getServices, 0, JSON.stringify(m));
    });

    test(`a service labelled with routeLabels("${proxy}") is routed through the proxy at 127.0.0.1:${PORTS.http}/demo`, async () => {
      const labels = routeLabels(proxy, { service: demo, port: 8000, path: "/demo" });
      demoService(demo, labels);
      const url = `http://127.0.0.1:${PORTS.http}/demo`;
      let last = { status: 0, body: "" };
      await until(
        `GET ${url} answered by the demo service (last: ${last.status})`,
        90_000,
        async () => {
          last = await httpGet(url);
          return last.status === 200 ? last : undefined;
        },
        1000,
      );
      assert.match(last.body, /^demo \S+ \/demo\n$/);
      // Removed, its route goes too.
      docker("service", "rm", demo);
      await until(
        `the route of ${demo} is removed`,
        90_000,
        async () => {
          last = await httpGet(url);
          // No route: Traefik answers 404, Docker Flow Proxy 503 (a request to the gone task may
          // time out first, while the proxy still routes to it).
          return [404, 503].includes(last.status) ? last : undefined;
        },
        1000,
      );
      assert.ok([404, 503].includes(last.status), `${last.status} ${last.body}`);
    });

    if (proxy === "dockerflow") {
      test("the companion's certbot gets a certificate from Pebble (HTTP-01 through the proxy's published port); the proxy serves it; a renewal run renews it", async () => {
        const first = await pebbleCertificate(pebble, acmeName);
        assertFromPebble(first, acmeName);
        // What cron runs (CERTBOT_CRON_RENEW): Pebble's certificates live 20 minutes, so certbot
        // finds it due (30 days before expiry) and the proxy gets the new one.
        const [companion] = taskContainers(`${PREFIX}-letsencrypt-companion`);
        // Not while its start-up run still runs certbot (one certbot at a time, by its lock).
        await until("the companion's start-up run is over", 180_000, async () => {
          const h = await dockerAsync(["exec", companion.Id, "node", "/app/standin.js", "health"]);
          return h.status === 0 || undefined;
        });
        const renew = await dockerAsync(
          ["exec", companion.Id, "node", "/app/standin.js", "renew"],
          {
            timeoutMs: 180_000,
          },
        );
        assert.equal(renew.status, 0, `${renew.stdout}${renew.stderr}`);
        const renewed = await pebbleCertificate(pebble, acmeName, first.serialNumber);
        assertFromPebble(renewed, acmeName);
        assert.ok(new Date(renewed.valid_to) >= new Date(first.valid_to));
      });
    } else {
      test("Traefik gets a certificate from Pebble for a TLS route (HTTP-01 through the published port), serves it, and renews it", async () => {
        const labels = routeLabels(proxy, {
          service: `${demo}-tls`,
          port: 8000,
          host: acmeName,
          tls: true,
        });
        demoService(`${demo}-tls`, labels);
        try {
          const first = await pebbleCertificate(pebble, acmeName);
          assertFromPebble(first, acmeName);
          // certificatesDuration 1: Traefik checks every minute and renews what expires within
          // 20 minutes, which a Pebble certificate always does.
          const renewed = await pebbleCertificate(pebble, acmeName, first.serialNumber);
          assertFromPebble(renewed, acmeName);
        } finally {
          // The stack's network cannot go while a service still uses it.
          spawnSync("docker", ["service", "rm", `${demo}-tls`], { stdio: "ignore" });
        }
      });
    }

    test("the broker serves the generated password over ws://mosquitto:9001, refuses anonymous; its files are 0400/0440 mosquitto's", () => {
      const net = `${PREFIX}-broker`;
      const ok = mqttClient(
        net,
        pubsubArgs({ user: "sensor", topic: "sensors/swarm", message: "hi" }),
        passwords.sensor,
      );
      assert.equal(ok.status, 0, ok.output);
      assert.equal(mqttClient(net, ["connect", "--url", BROKER_WS]).status, 4);
      const [task] = taskContainers(`${PREFIX}-mosquitto`);
      for (const [path, mode] of [
        [MOSQUITTO_PATHS.config, 0o440],
        [MOSQUITTO_PATHS.acl, 0o400],
        [MOSQUITTO_PATHS.passwords, 0o400],
      ] as const) {
        const st = statSync(`/proc/${task.State.Pid}/root${path}`);
        assert.equal(st.mode & 0o777, mode, `${path} mode`);
        assert.equal(st.uid, MOSQUITTO_UID, `${path} owner`);
      }
    });

    test("the connector reads the token from a 0400 secret file, never args or env", async () => {
      const task = await until("a running connector task", 60_000, () => {
        const [c] = taskContainers(`${PREFIX}-cloudflared`);
        return c?.State.Running && c.State.Pid > 0 ? c : undefined;
      });
      const file = `/proc/${task.State.Pid}/root${TOKEN_FILE}`;
      assert.ok(existsSync(file), `${TOKEN_FILE} exists in the task`);
      const st = statSync(file);
      assert.equal(st.mode & 0o777, 0o400);
      assert.equal(st.uid, CLOUDFLARED_UID);
      assert.equal(readFileSync(file, "utf8"), token, "the file holds the tunnel token");
      const tunnel = [...fake.state.tunnels.values()].find((t) => !t.deletedAt)!;
      assert.equal(JSON.parse(Buffer.from(token, "base64").toString()).t, tunnel.id);
      assert.deepEqual(task.Args.slice(-3), ["run", "--token-file", TOKEN_FILE]);
      assertNoSecrets([JSON.stringify(task)], [token]);
      assertNoSecrets(
        [JSON.stringify(dockerJson("service", "inspect", `${PREFIX}-cloudflared`))],
        [token],
      );
      // Dialling the edge means the token was read and accepted.
      const logs = await until("the connector dials the edge", 60_000, () => {
        const l = spawnSync("docker", ["logs", task.Id], { encoding: "utf8" });
        const text = `${l.stdout}${l.stderr}`;
        return /127\.0\.0\.1:7844/.test(text) ? text : undefined;
      });
      assert.doesNotMatch(logs, /token is not valid|permission denied|no such file/i);
    });

    test("the tunnel routes the HTTP hostname to the proxy and MQTT to the broker", () => {
      const tunnel = [...fake.state.tunnels.values()].find((t) => !t.deletedAt)!;
      const ingress = (fake.state.configs.get(tunnel.id)!.config as { ingress: any[] }).ingress;
      assert.deepEqual(
        ingress.map((r) => (r.hostname ? `${r.hostname} ${r.service}` : r.service)),
        [
          `mqtt-${proxy}.example.com http://mosquitto:9001`,
          `www-${proxy}.example.com http://proxy:80`,
          "http_status:404",
        ],
      );
    });

    if (proxy === "traefik") {
      // Swarm configs and secrets cannot change: a new user set is a new secret, and the broker
      // service rolls over to it stop-first. Measured here, not hidden: what connected clients
      // see (README, "Changing a running fleet").
      test("adding a user rolls the broker task over; connected clients reconnect (measured)", async () => {
        const net = `${PREFIX}-broker`;
        const fleet = new LoadFleet(
          STACK,
          net,
          BROKER_WS,
          [1, 2, 3].map((i) => ({
            id: `swload-${i}`,
            user: "sensor",
            password: passwords.sensor,
            topic: `sensors/load-${i}`,
          })),
          { reconnectMs: 250 },
        );
        try {
          await until("3 clients publishing", 60_000, async () => {
            const r = await fleet.report();
            return r.length === 3 && r.every((c) => c.connected && c.sent > 0) ? r : undefined;
          });
          const broker = config.broker as { users: unknown[] };
          config = {
            ...config,
            broker: { ...broker, users: [...broker.users, { name: "newcomer", acl: [] }] },
          };
          await stack.configure(config);
          const t0 = Date.now();
          const r = await stack.up();
          const upMs = Date.now() - t0;
          assert.equal(r.summary.result, "succeeded");
          passwords = (await stack.outputs()).mqttCredentials.value;
          await brokerReady(net, "newcomer", passwords.newcomer);
          const report = await until("every client reconnected", 60_000, async () => {
            const x = await fleet.report();
            return x.every((c) => c.connected) ? x : undefined;
          });
          console.log(
            `swarm, a user added: pulumi up ${upMs} ms; ${report
              .map(
                (c) =>
                  `${c.id}: ${c.closes} close(s), offline ${c.outages.join("+")} ms, ${c.lost} of ${c.sent} lost, ${c.duplicates} duplicates`,
              )
              .join("; ")}`,
          );
          assert.ok(
            report.every((c) => c.closes >= 1 && c.outages.length >= 1),
            "as documented, each client was disconnected by the roll-over and came back",
          );
        } finally {
          await fleet.stop();
        }
      });
    }

    test("a second preview reports no changes", async () => {
      const r = await stack.preview();
      const changed = Object.entries(r.changeSummary).filter(([op, n]) => op !== "same" && n > 0);
      assert.deepEqual(changed, [], r.stdout);
    });

    test("destroy removes every service, network, secret, config and volume of the stack", async () => {
      await stack.destroy();
      const filter = `label=dev.mqtt-edge.stack=${STACK}`;
      for (const kind of ["service", "network", "secret", "config", "volume"]) {
        assert.equal(docker(kind, "ls", "-q", "--filter", filter), "", `${kind}s left`);
      }
      await until("the task containers are gone", 60_000, () =>
        docker("ps", "-aq", "--filter", `name=${PREFIX}`) === "" ? true : undefined,
      );
      assert.equal(fake.state.dnsRecords.size, 0);
    });
  });
}

describe("swarm object names and the engine's limits", () => {
  // Swarm refuses service names over 63 characters and secret/config names over 64; config
  // validation refuses a stack and host whose prefix would pass that (unit tested). The names the
  // program declares for the longest stack name it accepts must then be accepted by the engine.
  test("every swarm object of the longest stack name validation accepts is accepted by the engine", async () => {
    requireSwarm();
    const base = managedConfig();
    const { rec } = await runProgram(
      managedConfig({
        tunnel: { ...(base.tunnel as object), accountId: FAKE_ACCOUNT, edge: ["127.0.0.1:7844"] },
        swarm: {
          enabled: true,
          endpointMode: "dnsrr",
          letsencrypt: { email: "ops@example.com", domains: ["www.example.com"] },
        },
      }),
      { stack: "production-eu-west" },
    );
    const refused: string[] = [];
    const probe = `zzswarmprobe${Date.now().toString(36)}`;
    const kinds: Record<string, string> = {
      [T.secret]: "secret",
      [T.serviceConfig]: "config",
      [T.service]: "service",
    };
    for (const r of rec.registrations) {
      const kind = kinds[r.type];
      if (!kind) continue;
      const name: string = r.inputs.name;
      // The declared name with this test's own prefix, same length: nothing real is touched.
      const probeName = probe + name.slice(probe.length);
      const args =
        kind === "service"
          ? ["service", "create", "--detach", "--replicas", "0", "--name", probeName, DEMO_IMAGE]
          : [kind, "create", probeName, "-"];
      const res = spawnSync("docker", args, { input: "probe", encoding: "utf8" });
      if (res.status === 0) docker(kind, "rm", probeName);
      else refused.push(`${kind} ${name} (${name.length} chars): ${res.stderr.trim()}`);
    }
    assert.ok(rec.ofType(T.service).length >= 5, "the probe saw the services");
    assert.deepEqual(refused, []);
  });
});

deploySuite(
  "swarm.proxy dockerflow on an engine that refuses the listener's API 1.37",
  { timeout: 5 * 60_000 },
  () => {
    // Engine b: on the current engines (scripts/test.sh) it keeps Docker 29's own minimum, 1.40.
    const engineB = `unix://${process.env.MQTT_EDGE_RUN ?? "/tmp/mqtt-edge"}/docker-b/docker.sock`;
    const STACK = "e2eswrefused";

    test("pulumi up fails before anything is made, naming swarm.proxy, the host and the engine's versions", async (t) => {
      const tools = requireTools();
      const min = spawnSync(
        "docker",
        ["-H", engineB, "version", "--format", "{{.Server.MinAPIVersion}}"],
        {
          encoding: "utf8",
        },
      );
      assert.equal(min.status, 0, `engine b at ${engineB}: ${min.stderr}`);
      if (!apiAbove(min.stdout.trim(), DOCKER_FLOW_LISTENER_API)) {
        t.skip(
          `SKIPPED: engine b accepts API ${min.stdout.trim()} and up, the listener's ${DOCKER_FLOW_LISTENER_API} included: ` +
            "this runs on the current engines (Docker 29, minimum 1.40), the second pass of scripts/test.sh",
        );
        return;
      }
      const { fake, baseUrl } = await startFakeCloudflare();
      const stack = new E2EStack(STACK);
      try {
        const { hostname, ...tunnel } = managedTunnel(tools.cloudflaredImage, {
          hostname: "mqtt-refused.example.com",
        });
        await stack.configure(
          {
            tunnel,
            hosts: [{ name: "edge-b", docker: engineB, hostname }],
            broker: { image: IMAGES.mosquitto, users: [{ name: "sensor", acl: [] }] },
            swarm: {
              enabled: true,
              proxy: "dockerflow",
              endpointMode: "dnsrr",
              images: SWARM_IMAGES,
            },
            "cloudflare:baseUrl": baseUrl,
          },
          { "cloudflare:apiToken": API_TOKEN },
        );
        await assert.rejects(stack.up(), (e) => {
          const text = errorText(e);
          assert.match(
            text,
            /mqtt-edge:swarm\.proxy: "dockerflow" cannot work on host edge-b: its Swarm Listener speaks Docker API 1\.37/,
          );
          assert.match(
            text,
            new RegExp(
              `the engine at ${engineB.replace(/[/.]/g, "\\$&")} \\(Docker [^)]+\\) accepts ${min.stdout.trim().replace(".", "\\.")} to`,
            ),
          );
          return true;
        });
        const f = `label=dev.mqtt-edge.stack=${STACK}`;
        for (const kind of ["container", "network", "volume"]) {
          const left = spawnSync(
            "docker",
            [
              "-H",
              engineB,
              kind,
              "ls",
              "-q",
              ...(kind === "container" ? ["-a"] : []),
              "--filter",
              f,
            ],
            { encoding: "utf8" },
          );
          assert.equal(left.stdout.trim(), "", `${kind}s made on engine b`);
        }
        assert.equal(fake.state.tunnels.size, 0, "no tunnel made");
        assert.equal(fake.state.dnsRecords.size, 0, "no DNS record made");
      } finally {
        await stack.cleanup();
        await fake.stop();
      }
    });
  },
);
