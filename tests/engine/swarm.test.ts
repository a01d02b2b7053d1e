/**
 * Swarm mode on a real single-node Docker swarm. `pulumi up` cannot run here (the docker provider
 * plugin cannot be obtained: the Go module proxy refuses it), so swarm-realize.ts stands in for
 * the provider: it takes exactly what the program declares — the registrations recorded under
 * Pulumi mocks — and creates them on the swarm as the provider would (docker_network,
 * docker_volume, docker_config, docker_secret, docker_service with its convergeConfig). Then real
 * clients check the result: HTTP through the proxy's published port, the Docker API through the
 * socket proxy, MQTT over WebSockets to the broker, the connector's token file.
 *
 * The one deviation from the declared specs: the Docker Flow services run the stand-in image
 * (mqtt-edge-e2e/dockerflow-standin:1), which needs ROLE=<role> in its environment (added by
 * swarm-realize.ts from the service name). (The mocked tunnel also gets a UUID id, as Cloudflare
 * gives, so that cloudflared accepts the token the program derives from it: see TUNNEL_UUID.)
 *
 * Needs (it fails, never skips, without them):
 *   eval "$(bash scripts/engine.sh start a)"; bash scripts/engine.sh swarm a
 *   bash scripts/images.sh        (mosquitto, mqtt-client, dockerflow-standin, cloudflared)
 * This kernel has no IPVS, so swarm VIPs do not work: endpointMode dnsrr with host-mode ports.
 *
 *   node --import tsx --test tests/engine/swarm.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { get } from "node:http";
import { createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { CLOUDFLARED_UID, TOKEN_FILE } from "../../components/connector";
import { MOSQUITTO_UID } from "../../components/broker";
import { MOSQUITTO_PATHS } from "../../components/render";
import { routeLabels } from "../../components/swarmProxy";
import { BROKER_WS, pubsubArgs } from "../e2e/harness";
import {
  Recorder,
  T,
  managedConfig,
  resolve,
  runProgram,
  type Registration,
} from "../unit/harness";
import {
  STANDIN_IMAGE,
  TYPES,
  destroy,
  docker,
  dockerJson,
  engineApi,
  realize,
  stackObjects,
  type Convergence,
  type Realized,
} from "./swarm-realize";

const IMAGES = {
  mosquitto: "mqtt-edge-e2e/mosquitto:2.0.11",
  client: "mqtt-edge-e2e/mqtt-client:1",
  standin: STANDIN_IMAGE,
};
const PORTS = { http: 18080, https: 18443 };
const STACK = `swt${Date.now().toString(36).slice(-6)}`;
const PREFIX = `mqtt-edge-${STACK}-local`;
/** The connector cannot converge without a Cloudflare edge (see its test); this bounds the wait. */
const CONNECTOR_CONVERGE_WAIT = "100s";
/**
 * Cloudflare gives tunnels UUIDs, and cloudflared refuses a token whose tunnel id is not one
 * ("Provided Tunnel token is not valid"); the unit mocks name it `<resource>-id`. For this run the
 * mocked tunnel gets a UUID, so the token the program puts in the Docker secret is well-formed.
 */
const TUNNEL_UUID = "5f0c7a52-3b1e-4c43-9a57-3d1b1c2e8f10";

async function runWithUuidTunnel(
  ...args: Parameters<typeof runProgram>
): ReturnType<typeof runProgram> {
  const original = Recorder.prototype.newResource;
  Recorder.prototype.newResource = function (this: Recorder, a) {
    const r = original.call(this, a);
    return a.type === T.tunnel ? { ...r, id: TUNNEL_UUID } : r;
  };
  try {
    return await runProgram(...args);
  } finally {
    Recorder.prototype.newResource = original;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fails with the command that fixes what is missing. */
async function preflight(
  checkPorts = true,
): Promise<{ cloudflaredImage: string; nodeHostname: string; socket: string }> {
  const fixEngine = 'eval "$(bash scripts/engine.sh start a)"';
  if (spawnSync("docker", ["--version"]).status !== 0) {
    throw new Error(
      "swarm engine tests need the docker CLI on PATH (apt-get install docker.io, or bash scripts/engine.sh start a)",
    );
  }
  const host = process.env.DOCKER_HOST ?? "";
  if (!host.startsWith("unix://")) {
    throw new Error(
      `swarm engine tests need DOCKER_HOST=unix://... of a test engine, got "${host}": ${fixEngine}`,
    );
  }
  const info = spawnSync("docker", ["info", "--format", "{{json .Swarm}}"], { encoding: "utf8" });
  if (info.status !== 0) {
    throw new Error(
      `swarm engine tests need a Docker engine; none answers at DOCKER_HOST=${host}: ${fixEngine}`,
    );
  }
  const swarm = JSON.parse(info.stdout) as { LocalNodeState: string; ControlAvailable: boolean };
  if (swarm.LocalNodeState !== "active" || !swarm.ControlAvailable) {
    throw new Error(
      `the engine at ${host} is not a swarm manager (state ${swarm.LocalNodeState}): bash scripts/engine.sh swarm a`,
    );
  }
  const cloudflared = docker([
    "images",
    "mqtt-edge-e2e/cloudflared",
    "--format",
    "{{.Repository}}:{{.Tag}}",
  ])
    .split("\n")
    .filter(Boolean);
  const missing = [
    ...Object.values(IMAGES).filter(
      (i) => spawnSync("docker", ["image", "inspect", i], { stdio: "ignore" }).status !== 0,
    ),
  ];
  if (!cloudflared.length)
    missing.push(
      "mqtt-edge-e2e/cloudflared:<version> (needs the cloudflared binary: --cloudflared PATH)",
    );
  if (missing.length) {
    throw new Error(
      `swarm engine tests need the local images ${missing.join(", ")}: DOCKER_HOST=${host} bash scripts/images.sh`,
    );
  }
  for (const port of checkPorts ? Object.values(PORTS) : []) {
    await new Promise<void>((res, rej) => {
      const s = createServer();
      s.once("error", (e: NodeJS.ErrnoException) =>
        rej(
          new Error(
            `port ${port} is in use (${e.code}); the proxy publishes it in host mode: free it (a leftover mqtt-edge-swt* stack? docker service ls)`,
          ),
        ),
      );
      s.listen(port, "0.0.0.0", () => s.close(() => res()));
    });
  }
  const self = docker(["node", "ls", "--format", "{{.Self}} {{.Hostname}}"])
    .split("\n")
    .find((l) => l.startsWith("true "));
  if (!self) throw new Error("docker node ls shows no node for this engine");
  return {
    cloudflaredImage: cloudflared[0],
    nodeHostname: self.slice(5),
    socket: host.slice("unix://".length),
  };
}

function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((res) => {
    const req = get(url, (r) => {
      let body = "";
      r.setEncoding("utf8");
      r.on("data", (c: string) => (body += c));
      r.on("end", () => res({ status: r.statusCode ?? 0, body }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
    req.on("error", (e) => res({ status: 0, body: e.message }));
  });
}

/** Polls until `check` returns a value (not undefined), or fails with the last observation. */
async function until<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  seen: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs / 1000} s. ${seen()}`);
    await sleep(1000);
  }
}

/** A throwaway container on a network (the hop a connector or listener makes). */
function runOn(
  network: string,
  args: string[],
  env: Record<string, string> = {},
): { status: number; output: string } {
  const r = spawnSync(
    "docker",
    [
      "run",
      "--rm",
      "--network",
      network,
      ...Object.keys(env).flatMap((k) => ["-e", k]),
      IMAGES.client,
      ...args,
    ],
    { encoding: "utf8", env: { ...process.env, ...env }, timeout: 90_000 },
  );
  return { status: r.status ?? -1, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

const mqtt = (network: string, args: string[], password?: string) =>
  runOn(
    network,
    ["node", "/app/client.js", ...args],
    password === undefined ? {} : { MQTT_PASSWORD: password },
  );

interface TaskInfo {
  id: string;
  state: string;
  nodeId: string;
  containerId?: string;
}

async function runningTasks(serviceId: string): Promise<TaskInfo[]> {
  const filters = encodeURIComponent(
    JSON.stringify({ service: [serviceId], "desired-state": ["running"] }),
  );
  const tasks: any[] = await engineApi("GET", `/tasks?filters=${filters}`);
  return tasks.map((t) => ({
    id: t.ID,
    state: t.Status.State,
    nodeId: t.NodeID,
    containerId: t.Status.ContainerStatus?.ContainerID,
  }));
}

/** `node.role == manager`, `node.hostname == x`, `node.id != y`, `node.labels.k == v`. */
function constraintHolds(constraint: string, node: any): boolean {
  const m = /^\s*([A-Za-z0-9_.-]+)\s*(==|!=)\s*(.+?)\s*$/.exec(constraint);
  if (!m) throw new Error(`cannot evaluate constraint ${constraint}`);
  const [, key, op, want] = m;
  const actual =
    key === "node.role"
      ? node.Spec.Role
      : key === "node.hostname"
        ? node.Description.Hostname
        : key === "node.id"
          ? node.ID
          : key.startsWith("node.labels.")
            ? node.Spec.Labels?.[key.slice("node.labels.".length)]
            : undefined;
  if (actual === undefined && !key.startsWith("node.labels."))
    throw new Error(`cannot evaluate constraint key ${key}`);
  return op === "==" ? actual === want : actual !== want;
}

describe(`swarm mode realized on a real swarm (stack ${STACK})`, () => {
  let env: Awaited<ReturnType<typeof preflight>>;
  let services: Registration[] = [];
  let realized: Realized | undefined;
  let destroyed = false;
  let passwords: Record<string, string> = {};
  let token = "";
  const demoName = `${PREFIX}-demo`;
  const svc = (suffix: string) => {
    const r = services.find((s) => s.inputs.name === `${PREFIX}-${suffix}`);
    if (!r) throw new Error(`no declared service ${PREFIX}-${suffix}`);
    return r;
  };
  const idOf = (name: string) => {
    const c = realized?.created.find((x) => x.name === name && x.type === TYPES.service);
    if (!c)
      throw new Error(`service ${name} was not realized: ${JSON.stringify(realized?.failures)}`);
    return c.id;
  };

  before(async () => {
    env = await preflight();
    const base = managedConfig();
    const config = managedConfig({
      tunnel: { ...(base.tunnel as object), image: env.cloudflaredImage, edge: ["127.0.0.1:7844"] },
      broker: { ...(base.broker as object), image: IMAGES.mosquitto },
      swarm: {
        enabled: true,
        proxy: "dockerflow",
        // Host-mode publishing binds the node's port: one proxy task per node.
        proxyReplicas: 1,
        endpointMode: "dnsrr",
        ports: PORTS,
        dockerSocket: env.socket,
        letsencrypt: {
          email: "ops@example.com",
          domains: ["www.example.com"],
          node: env.nodeHostname,
        },
        httpHostnames: ["www.example.com"],
        images: {
          swarmListener: IMAGES.standin,
          proxy: IMAGES.standin,
          letsencrypt: IMAGES.standin,
          socketProxy: IMAGES.standin,
        },
      },
    });
    const { rec, outputs } = await runWithUuidTunnel(config, { stack: STACK });
    passwords = (await resolve(outputs.mqttCredentials)).value;
    token = (await resolve(outputs.tunnelToken)).value;
    services = rec.ofType(T.service);
    assert.equal(rec.ofType(T.container).length, 0, "swarm mode declares no plain containers");
    assert.deepEqual(
      stackObjects(STACK, `mqtt-edge-${STACK}-`),
      [],
      "nothing of this stack exists before the test",
    );

    const t0 = Date.now();
    realized = await realize(rec.registrations, {
      log: (l) => process.stderr.write(`[swarm ${((Date.now() - t0) / 1000).toFixed(1)} s] ${l}\n`),
      convergeTimeout: (name, declared) =>
        name === `${PREFIX}-cloudflared` ? CONNECTOR_CONVERGE_WAIT : declared,
    });
    process.stderr.write(`[swarm] realized in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  });

  after(async () => {
    spawnSync("docker", ["service", "rm", demoName], { stdio: "ignore" });
    if (realized && !destroyed) await destroy(realized);
  });

  test("every frontend and broker service converges to its declared replicas (the provider's convergeConfig)", (t) => {
    assert.ok(realized);
    for (const s of services) {
      const name: string = s.inputs.name;
      t.diagnostic(`${name}: ${realized.timings[s.name]?.toFixed(1)} s`);
      if (name === `${PREFIX}-cloudflared`) continue; // see the next test
      const c: Convergence | undefined = realized.convergence[name];
      assert.ok(c, `${name} has no convergence record: ${JSON.stringify(realized.failures)}`);
      assert.equal(c.converged, true, `${name} did not converge: ${JSON.stringify(c)}`);
      assert.equal(
        c.running,
        s.inputs.mode.replicated.replicas,
        `${name} runs its declared replicas`,
      );
    }
    assert.deepEqual(realized.failures, [], JSON.stringify(realized.failures, null, 1));
  });

  test("the connector does not hold the deploy hostage to the edge: no convergeConfig, the service stays", () => {
    assert.ok(realized);
    const connector = svc("cloudflared");
    // Healthy means connected to Cloudflare's edge (readiness), which this machine cannot reach:
    // waiting for convergence would fail `pulumi up` and make the provider delete the service.
    assert.deepEqual(connector.inputs.taskSpec.containerSpec.healthcheck.tests.slice(-1), [
      "ready",
    ]);
    assert.equal(connector.inputs.convergeConfig, undefined);
    assert.equal(
      realized.failures.find((f) => f.name === connector.inputs.name),
      undefined,
    );
    assert.ok(
      realized.created.some((x) => x.name === connector.inputs.name),
      "the connector service exists after the deploy",
    );
  });

  test("placement constraints hold: manager-only services on a manager, the companion on the named node", async () => {
    assert.ok(realized);
    const nodes: any[] = await engineApi("GET", "/nodes");
    for (const s of services) {
      const name: string = s.inputs.name;
      if (name === `${PREFIX}-cloudflared`) continue;
      const constraints: string[] = s.inputs.taskSpec.placement?.constraints ?? [];
      const tasks = await runningTasks(idOf(name));
      assert.ok(tasks.length > 0, `${name} has running tasks`);
      for (const task of tasks) {
        const node = nodes.find((n) => n.ID === task.nodeId);
        assert.ok(node, `${name}: task on a known node`);
        for (const c of constraints)
          assert.ok(constraintHolds(c, node), `${name}: ${c} on node ${node.Description.Hostname}`);
      }
    }
    assert.deepEqual(svc("letsencrypt-companion").inputs.taskSpec.placement.constraints, [
      `node.hostname == ${env.nodeHostname}`,
    ]);
    for (const role of ["socket-proxy", "swarm-listener", "proxy", "mosquitto"]) {
      assert.deepEqual(
        svc(role).inputs.taskSpec.placement.constraints,
        ["node.role == manager"],
        role,
      );
    }
  });

  test("the declared hardening reaches the task containers (read-only, capabilities, user, memory)", async (t) => {
    for (const s of services) {
      const name: string = s.inputs.name;
      if (name === `${PREFIX}-cloudflared`) continue;
      const cs = s.inputs.taskSpec.containerSpec;
      for (const task of await runningTasks(idOf(name))) {
        const c = dockerJson<any[]>(["container", "inspect", task.containerId!])[0];
        assert.equal(c.HostConfig.ReadonlyRootfs, cs.readOnly ?? false, `${name} read-only`);
        assert.deepEqual(c.HostConfig.CapDrop ?? [], cs.capDrops ?? [], `${name} cap drop`);
        assert.deepEqual(c.HostConfig.CapAdd ?? [], cs.capAdds ?? [], `${name} cap add`);
        if (cs.user) assert.equal(c.Config.User, cs.user, `${name} user`);
        const limit = s.inputs.taskSpec.resources?.limits?.memoryBytes;
        if (limit) assert.equal(c.HostConfig.Memory, limit, `${name} memory`);
        if (
          !(c.HostConfig.SecurityOpt ?? []).some((o: string) => o.startsWith("no-new-privileges"))
        ) {
          t.diagnostic(
            `${name}: no no-new-privileges (a swarm ContainerSpec cannot set it before API 1.46)`,
          );
        }
      }
    }
  });

  test("the socket proxy is the only service mounting the Docker socket; it answers GET /services and refuses POST", async () => {
    for (const s of services) {
      const name: string = s.inputs.name;
      if (name === `${PREFIX}-cloudflared`) continue;
      const spec = (await engineApi("GET", `/services/${idOf(name)}`)).Spec;
      const specMounts: any[] = spec.TaskTemplate.ContainerSpec.Mounts ?? [];
      const tasks = await runningTasks(idOf(name));
      const taskMounts: any[] = tasks.flatMap(
        (task) => dockerJson<any[]>(["container", "inspect", task.containerId!])[0].Mounts ?? [],
      );
      const sock = (m: any) =>
        /docker\.sock$/.test(m.Source ?? "") ||
        /docker\.sock$/.test(m.Target ?? m.Destination ?? "");
      if (name === `${PREFIX}-socket-proxy`) {
        assert.deepEqual(specMounts, [
          { Type: "bind", Source: env.socket, Target: "/var/run/docker.sock", ReadOnly: true },
        ]);
        assert.ok(
          taskMounts.some(
            (m) =>
              m.Source === env.socket && m.Destination === "/var/run/docker.sock" && m.RW === false,
          ),
        );
      } else {
        assert.ok(
          !specMounts.some(sock) && !taskMounts.some(sock),
          `${name} mounts the Docker socket`,
        );
      }
    }

    const probe = `
      const http = require("http");
      const call = (method, path) => new Promise((r) => {
        const q = http.request({ host: "socket-proxy", port: 2375, method, path, headers: { "Content-Type": "application/json" } }, (res) => {
          let b = ""; res.on("data", (c) => (b += c)); res.on("end", () => r({ status: res.statusCode, body: b }));
        });
        q.setTimeout(10000, () => q.destroy(new Error("timeout")));
        q.on("error", (e) => r({ status: 0, body: e.code || e.message }));
        q.end(method === "POST" ? "{}" : undefined);
      });
      (async () => {
        const s = await call("GET", "/services");
        const out = { getServices: s.status, names: s.status === 200 ? JSON.parse(s.body).map((x) => x.Spec.Name) : s.body };
        out.postServiceCreate = (await call("POST", "/services/create")).status;
        out.postContainerCreate = (await call("POST", "/containers/create")).status;
        out.getContainers = (await call("GET", "/containers/json")).status;
        out.getSecrets = (await call("GET", "/secrets")).status;
        console.log(JSON.stringify(out));
      })();`;
    const onSocketNet = runOn(`${PREFIX}-docker-api`, ["node", "-e", probe]);
    assert.equal(onSocketNet.status, 0, onSocketNet.output);
    const r = JSON.parse(onSocketNet.output.trim().split("\n").pop()!);
    assert.equal(r.getServices, 200, JSON.stringify(r));
    assert.ok(r.names.includes(`${PREFIX}-proxy`), "GET /services lists the stack's services");
    assert.equal(r.postServiceCreate, 403, "POST /services/create is refused");
    assert.equal(r.postContainerCreate, 403, "POST /containers/create is refused");
    assert.equal(r.getContainers, 403, "CONTAINERS=0");
    assert.equal(r.getSecrets, 403, "secrets are not exposed");

    // The internet-facing network does not reach it.
    const onMain = runOn(`${PREFIX}-main`, ["node", "-e", probe]);
    const m = JSON.parse(onMain.output.trim().split("\n").pop()!);
    assert.equal(
      m.getServices,
      0,
      `socket-proxy is not reachable from the main network: ${onMain.output}`,
    );
  });

  test("a service labelled with routeLabels() on the main network is routed by the proxy at 127.0.0.1:18080/demo", async () => {
    const labels = {
      "dev.mqtt-edge.stack": STACK,
      ...routeLabels("dockerflow", { service: demoName, port: 8000, path: "/demo" }),
    };
    await engineApi("POST", "/services/create", {
      Name: demoName,
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: IMAGES.standin,
          Env: ["ROLE=demo", "PORT=8000"],
          Labels: { "dev.mqtt-edge.stack": STACK },
        },
        Networks: [{ Target: `${PREFIX}-main` }],
      },
      Mode: { Replicated: { Replicas: 1 } },
      EndpointSpec: { Mode: "dnsrr" },
    });
    let last = { status: 0, body: "" };
    const url = `http://127.0.0.1:${PORTS.http}/demo`;
    let removed = false;
    try {
      await until(
        "GET /demo through the proxy answers from the demo service",
        60_000,
        async () => {
          last = await httpGet(url);
          return last.status === 200 ? last : undefined;
        },
        () => `last: ${last.status} ${last.body.slice(0, 200)}`,
      );
      assert.match(last.body, /^demo \S+ \/demo\n$/);

      // Removed: the listener tells the proxy (DF_NOTIFY_REMOVE_SERVICE_URL) and the route goes.
      docker(["service", "rm", demoName]);
      removed = true;
      await until(
        "the route is removed with the service",
        60_000,
        async () => {
          last = await httpGet(url);
          return last.status === 503 ? last : undefined;
        },
        () => `last: ${last.status}`,
      );
    } finally {
      if (!removed) spawnSync("docker", ["service", "rm", demoName], { stdio: "ignore" });
    }
  });

  test("the Let's Encrypt companion's ACME challenge path is answered through the proxy", async () => {
    let last = { status: 0, body: "" };
    await until(
      "GET /.well-known/acme-challenge/x through the proxy",
      60_000,
      async () => {
        last = await httpGet(`http://127.0.0.1:${PORTS.http}/.well-known/acme-challenge/x`);
        return last.status === 200 ? last : undefined;
      },
      () => `last: ${last.status} ${last.body.slice(0, 200)}`,
    );
    assert.equal(last.body, "standin-x");
  });

  test("the broker: pubsub over ws://mosquitto:9001 from the broker network with the generated password; anonymous refused", async () => {
    const net = `${PREFIX}-broker`;
    assert.match(passwords.sensor, /^pw-mqtt-password-sensor-x+$/);
    const ok = mqtt(
      net,
      pubsubArgs({ user: "sensor", topic: "clients/sensor/swarm", message: "hi" }),
      passwords.sensor,
    );
    assert.equal(ok.status, 0, ok.output);
    const anon = mqtt(net, ["connect", "--url", BROKER_WS]);
    assert.equal(anon.status, 4, anon.output);
    const wrong = mqtt(net, ["connect", "--url", BROKER_WS, "--user", "sensor"], "wrong-password");
    assert.equal(wrong.status, 4, wrong.output);

    // The Docker config and secret files, as the broker task sees them.
    const [task] = await runningTasks(idOf(`${PREFIX}-mosquitto`));
    const pid = dockerJson<any[]>(["container", "inspect", task.containerId!])[0].State.Pid;
    for (const [path, mode] of [
      [MOSQUITTO_PATHS.config, 0o440],
      [MOSQUITTO_PATHS.acl, 0o400],
      [MOSQUITTO_PATHS.passwords, 0o400],
    ] as const) {
      const st = statSync(`/proc/${pid}/root${path}`);
      assert.equal(st.mode & 0o777, mode, `${path} mode`);
      assert.equal(st.uid, MOSQUITTO_UID, `${path} owner`);
    }
  });

  test("the connector's tasks read the token from the secret file /run/secrets/tunnel_token (0400, uid 65532), never args or env", async () => {
    assert.ok(realized);
    // Created by realize() without a convergence wait (it declares no convergeConfig).
    const id = idOf(`${PREFIX}-cloudflared`);
    const created = { id };
    const task = await until("a connector task has a running container", 60_000, async () => {
      for (const x of await runningTasks(created.id)) {
        if (!x.containerId) continue;
        const c = dockerJson<any[]>(["container", "inspect", x.containerId])[0];
        if (c.State.Running && c.State.Pid > 0) return c;
      }
      return undefined;
    });
    const file = `/proc/${task.State.Pid}/root${TOKEN_FILE}`;
    assert.ok(existsSync(file), `${TOKEN_FILE} exists in the task`);
    const st = statSync(file);
    assert.equal(st.mode & 0o777, 0o400);
    assert.equal(st.uid, CLOUDFLARED_UID);
    assert.equal(st.gid, CLOUDFLARED_UID);
    assert.equal(readFileSync(file, "utf8"), token, "the file holds the tunnel token");
    assert.equal(JSON.parse(Buffer.from(token, "base64").toString("utf8")).t, TUNNEL_UUID);

    assert.deepEqual(task.Args.slice(-3), ["run", "--token-file", TOKEN_FILE]);
    assert.ok(
      !(task.Config.Env as string[]).some((e) => e.startsWith("TUNNEL_TOKEN=")),
      "no TUNNEL_TOKEN in the environment",
    );
    assert.ok(
      !JSON.stringify(task).includes(token),
      "the token appears nowhere in docker inspect of the task container",
    );
    const spec = await engineApi("GET", `/services/${created.id}`);
    assert.ok(!JSON.stringify(spec).includes(token), "nor in the service");
    assert.equal(task.Config.User, `${CLOUDFLARED_UID}:${CLOUDFLARED_UID}`);

    // cloudflared read the token from the file and went on to the (here unreachable) edge.
    const logs = await until("the connector logs its edge attempts", 30_000, () => {
      const l = spawnSync("docker", ["logs", task.Id], { encoding: "utf8" });
      const text = `${l.stdout}${l.stderr}`;
      return /Unable to establish connection with Cloudflare edge.*127\.0\.0\.1:7844/.test(text)
        ? text
        : undefined;
    });
    // Dialling the edge at all means the token file was read and accepted (an unreadable or
    // invalid token ends cloudflared before it dials).
    assert.doesNotMatch(logs, /token is not valid|permission denied|no such file/i);
  });

  test("destroy removes every service, network, secret, config and volume of the stack", async () => {
    assert.ok(realized);
    const t0 = Date.now();
    await destroy(realized);
    destroyed = true;
    assert.deepEqual(stackObjects(STACK, `mqtt-edge-${STACK}-`), []);
    await until("the task containers are gone", 60_000, () => {
      const left = docker([
        "ps",
        "-a",
        "--filter",
        `label=dev.mqtt-edge.stack=${STACK}`,
        "--format",
        "{{.Names}}",
      ]);
      return left === "" ? true : undefined;
    });
    process.stderr.write(`[swarm] destroyed in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  });
});

describe("swarm object names and the engine's limits", () => {
  // Swarm refuses service names over 63 characters and secret/config names over 64; config
  // validation refuses a stack and host whose prefix would pass that (SWARM_PREFIX_MAX, unit
  // tested). The longest stack name it accepts with host "local" must then work on the engine.
  test("every swarm object of the longest stack name validation accepts is accepted by the engine", async () => {
    await preflight(false);
    const base = managedConfig();
    const { rec } = await runWithUuidTunnel(
      managedConfig({
        tunnel: { ...(base.tunnel as object), edge: ["127.0.0.1:7844"] },
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
    for (const r of rec.registrations) {
      const name: string = r.inputs.name;
      if (r.type === TYPES.secret || r.type === TYPES.config) {
        const kind = r.type === TYPES.secret ? "secret" : "config";
        // The declared name with this test's own prefix, same length, so nothing real is touched.
        const probeName = probe + name.slice(probe.length);
        const res = spawnSync("docker", [kind, "create", probeName, "-"], {
          input: "probe",
          encoding: "utf8",
        });
        if (res.status === 0) docker([kind, "rm", probeName]);
        else refused.push(`${kind} ${name} (${name.length} chars): ${res.stderr.trim()}`);
      } else if (r.type === TYPES.service) {
        const probeName = probe + name.slice(probe.length);
        try {
          const { ID } = await engineApi("POST", "/services/create", {
            Name: probeName,
            TaskTemplate: { ContainerSpec: { Image: IMAGES.standin } },
            Mode: { Replicated: { Replicas: 0 } },
          });
          await engineApi("DELETE", `/services/${ID}`);
        } catch (e) {
          refused.push(`service ${name} (${name.length} chars): ${(e as Error).message}`);
        }
      }
    }
    assert.deepEqual(refused, []);
  });
});
