/**
 * What the program declares, realized on a real Docker engine and checked with real clients.
 *
 * The Docker provider plugin cannot be obtained here, so `realize()` (./realize.ts) stands in for
 * it (not for Pulumi): it replays the recorded registrations of `runProgram` with the provider's
 * semantics. A failure here is either the program asking for something the engine does not do,
 * or realize() departing from the provider; realize.ts documents each step it copies.
 *
 *   eval "$(bash scripts/engine.sh start a)" && bash scripts/images.sh && npm run test:engine
 *
 * Every stack has a unique name, so its containers, networks and volumes (all named
 * mqtt-edge-<stack>-local-...) cannot collide with another run on a shared engine; after()
 * removes exactly those and checks nothing labelled with the stack is left.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import {
  BROKER_WS,
  dockerGateway,
  leftovers,
  mqttClient,
  pubsubArgs,
  startQuickTunnelService,
} from "../e2e/harness";
import { resolve, runProgram, T, type Recorder, type Registration } from "../unit/harness";
import { destroy, dockerCli, inspect, realize } from "./realize";
import {
  brokerSection,
  dockerAsync,
  IMAGES,
  managedStack,
  requireEngine,
  sleep,
  uniqueStack,
  until,
  withUuidTunnelIds,
} from "./support";

const log = (line: string) => process.stderr.write(`  [engine] ${line}\n`);

let preflight: { cloudflaredImage: string } | undefined;
const engine = () => (preflight ??= requireEngine());

const containers = (rec: Recorder) => rec.ofType(T.container);
/** The broker's containers: whatever the MqttBroker component declares, however many. */
const isBrokerContainer = (r: Registration) =>
  r.type === T.container && r.parent.includes(`${T.broker}::`);
const brokerName = (stack: string) => `mqtt-edge-${stack}-local-mosquitto`;
const brokerNet = (stack: string) => `mqtt-edge-${stack}-local-broker`;
const egressNet = (stack: string) => `mqtt-edge-${stack}-local-egress`;
/** GET argv[1], print the body; exit 0 ok, 3 error (e.g. ENETUNREACH), 5 timeout. */
const HTTP_GET = `require("http").get(process.argv[1], { timeout: 4000 }, (r) => {
  let b = ""; r.on("data", (d) => (b += d)); r.on("end", () => { process.stdout.write(b); process.exit(0); });
}).on("error", (e) => { console.error(e.code || e.message); process.exit(3); })
  .on("timeout", () => { console.error("timeout"); process.exit(5); });`;

async function passwordsOf(outputs: Awaited<ReturnType<typeof runProgram>>["outputs"]) {
  return (await resolve(outputs.mqttCredentials)).value;
}

/** Tears down a stack and asserts nothing of it is left on the engine. */
function teardown(stack: string, recs: Recorder[]): void {
  const errors: string[] = [];
  for (const rec of recs.reverse()) {
    try {
      destroy(rec);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const left = leftovers(stack);
  if (errors.length || left.length) {
    throw new Error(`cleanup of ${stack} incomplete: ${[...errors, ...left].join("; ")}`);
  }
}

function health(name: string) {
  return inspect(name).State.Health as
    { Status: string; Log: { ExitCode: number; Output: string }[] } | undefined;
}

describe("managed mode on a real engine", () => {
  const stack = uniqueStack("mgd");
  let rec: Recorder;
  let passwords: Record<string, string>;
  let token: string;
  let connectorNames: string[];

  before(async () => {
    const { cloudflaredImage } = engine();
    const run = await withUuidTunnelIds(() =>
      runProgram(managedStack({ cloudflaredImage }), { stack }),
    );
    rec = run.rec;
    passwords = await passwordsOf(run.outputs);
    token = (await resolve(run.outputs.tunnelToken)).value;
    connectorNames = containers(rec)
      .filter((r) => r.name.includes("-connector-"))
      .map((r) => r.inputs.name as string);
    assert.equal(connectorNames.length, 2);
    await realize(rec, { log });
  });

  after(() => {
    if (rec) teardown(stack, [rec]);
  });

  test("the broker is healthy and hardened as declared", () => {
    const c = inspect(brokerName(stack));
    assert.equal(c.State.Health?.Status, "healthy");
    assert.equal(c.HostConfig.ReadonlyRootfs, true, "read-only root filesystem");
    assert.equal(c.Config.User, "1883:1883");
    assert.deepEqual(c.HostConfig.CapDrop, ["ALL"]);
    assert.ok(
      (c.HostConfig.SecurityOpt ?? []).includes("no-new-privileges:true"),
      JSON.stringify(c.HostConfig.SecurityOpt),
    );
    assert.equal(c.HostConfig.Memory, 256 * 1024 * 1024);
    assert.deepEqual(c.HostConfig.LogConfig, {
      Type: "json-file",
      Config: { "max-file": "3", "max-size": "10m" },
    });
    assert.equal(c.HostConfig.RestartPolicy.Name, "unless-stopped");
    const bound = Object.values(
      (c.NetworkSettings.Ports ?? {}) as Record<string, unknown[] | null>,
    ).filter((b) => b?.length);
    assert.deepEqual(bound, [], "no published ports");
    assert.deepEqual(Object.keys(c.HostConfig.PortBindings ?? {}), []);
    assert.deepEqual(
      Object.keys(c.NetworkSettings.Networks),
      [brokerNet(stack)],
      "only the internal network",
    );
    assert.ok(c.NetworkSettings.Networks[brokerNet(stack)].Aliases.includes("mosquitto"));
    assert.equal(inspect(brokerNet(stack)).Internal, true);
  });

  test("config files are owned by mosquitto and unreadable by others", () => {
    const ls = dockerCli(["exec", brokerName(stack), "ls", "-ln", "/mosquitto/config"]);
    const files = new Map<string, { mode: string; uid: string; gid: string }>();
    for (const line of ls.split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 9 && f[0].startsWith("-"))
        files.set(f[8], { mode: f[0], uid: f[2], gid: f[3] });
    }
    assert.deepEqual(
      Object.fromEntries(files),
      {
        "mosquitto.conf": { mode: "-rw-r-----", uid: "1883", gid: "1883" },
        acl: { mode: "-rw-------", uid: "1883", gid: "1883" },
        passwd: { mode: "-rw-------", uid: "1883", gid: "1883" },
      },
      ls,
    );
  });

  test("broker logs reach docker logs (stderr)", () => {
    const r = spawnSync("docker", ["logs", brokerName(stack)], { encoding: "utf8" });
    assert.match(r.stderr, /mosquitto version \S+ running/);
    assert.match(r.stderr, /Opening websockets listen socket on port 9001/);
  });

  test("a client on the broker network publishes and receives with the generated password", () => {
    assert.match(passwords.sensor, /^pw-mqtt-password-sensor-x{24}$/);
    const ok = mqttClient(
      brokerNet(stack),
      pubsubArgs({ user: "sensor", topic: "sensors/engine", message: `m-${stack}` }),
      passwords.sensor,
    );
    assert.equal(ok.status, 0, ok.output);
    const wrong = mqttClient(
      brokerNet(stack),
      ["connect", "--url", BROKER_WS, "--user", "sensor"],
      `${passwords.sensor}-wrong`,
    );
    assert.equal(wrong.status, 4, wrong.output);
  });

  test("anonymous clients are refused", () => {
    const anon = mqttClient(brokerNet(stack), ["connect", "--url", BROKER_WS]);
    assert.equal(anon.status, 4, anon.output);
  });

  test("the broker network has no route out; the egress network has", async () => {
    // A web server container on the default bridge publishes a port on every host address; both
    // probes ask for it at the bridge's gateway address. From the egress network the request
    // is NATed and forwarded (it works, so this probe can fail); from the internal broker
    // network it must not get through. (A socket of the host itself, listening on 0.0.0.0, IS
    // reachable from an internal network on this engine: that traffic never leaves the host.)
    const web = `mqtt-edge-${stack}-probe-web`;
    dockerCli([
      "run",
      "-d",
      "--name",
      web,
      "--label",
      `dev.mqtt-edge.stack=${stack}`,
      "-p",
      "8080",
      IMAGES.client,
      "node",
      "-e",
      'require("http").createServer((q, s) => s.end("probe-ok")).listen(8080)',
    ]);
    try {
      const port = /:(\d+)$/m.exec(dockerCli(["port", web, "8080/tcp"]))?.[1];
      assert.ok(port, "the probe publishes no port");
      const url = `http://${dockerGateway("bridge")}:${port}/`;
      const probe = (net: string) =>
        dockerAsync(["run", "--rm", "--network", net, IMAGES.client, "node", "-e", HTTP_GET, url], {
          timeoutMs: 30_000,
        });
      let fromEgress = await probe(egressNet(stack));
      for (let i = 0; i < 5 && fromEgress.status !== 0; i++) {
        await sleep(1000); // the web server may still be starting
        fromEgress = await probe(egressNet(stack));
      }
      assert.equal(fromEgress.status, 0, `egress probe failed: ${fromEgress.stderr}`);
      assert.equal(fromEgress.stdout, "probe-ok");
      const fromBroker = await probe(brokerNet(stack));
      assert.notEqual(fromBroker.status, 0, `a container on the broker network reached ${url}`);
      log(`broker-network probe of ${url}: exit ${fromBroker.status} ${fromBroker.stderr.trim()}`);
    } finally {
      spawnSync("docker", ["rm", "-f", web], { stdio: "ignore" });
    }
  });

  test("connectors run with the token in the environment only", () => {
    for (const name of connectorNames) {
      const c = inspect(name);
      assert.equal(c.State.Running, true, name);
      const argv = JSON.stringify([c.Path, c.Args, c.Config.Cmd, c.Config.Entrypoint]);
      assert.ok(!argv.includes(token), `${name}: the token is on the command line`);
      assert.ok(!/--token\b/.test(argv), argv);
      assert.ok(c.Config.Env.includes(`TUNNEL_TOKEN=${token}`), `${name}: no TUNNEL_TOKEN in Env`);
      assert.deepEqual(
        Object.keys(c.NetworkSettings.Networks).sort(),
        [brokerNet(stack), egressNet(stack)].sort(),
      );
      assert.equal(c.HostConfig.ReadonlyRootfs, true);
      assert.equal(c.Config.User, "65532:65532");
      assert.deepEqual(c.HostConfig.CapDrop, ["ALL"]);
    }
  });

  test("from a connector's network namespace, the origin ws://mosquitto:9001 answers", () => {
    const r = mqttClient(
      `container:${connectorNames[0]}`,
      pubsubArgs({ user: "sensor", topic: "sensors/via-connector", message: "x" }),
      passwords.sensor,
    );
    assert.equal(r.status, 0, r.output);
  });

  test("cloudflared keeps retrying and its healthcheck runs and reports not ready", async () => {
    const before = connectorNames.map((n) => inspect(n).State.StartedAt as string);
    await sleep(10_000);
    connectorNames.forEach((n, i) => {
      const c = inspect(n);
      assert.equal(c.State.Running, true, `${n} stopped: ${c.State.Error}`);
      assert.equal(
        c.RestartCount,
        0,
        `${n} restarted; logs:\n${spawnSync("docker", ["logs", "--tail", "20", n], { encoding: "utf8" }).stderr}`,
      );
      assert.equal(c.State.StartedAt, before[i]);
    });
    // interval 15 s: the first check runs about 15 s after start.
    for (const n of connectorNames) {
      const h = await until(`a health check of ${n}`, 45_000, () => {
        const x = health(n);
        return x && x.Log?.length ? x : undefined;
      });
      assert.ok(["starting", "unhealthy"].includes(h.Status), `${n}: ${h.Status}`);
      const last = h.Log.at(-1)!;
      assert.notEqual(last.ExitCode, 0);
      assert.doesNotMatch(
        last.Output,
        /executable file not found|no such file or directory|OCI runtime exec failed/i,
      );
      assert.match(last.Output, /ready|503/, last.Output);
    }
  });
});

describe("quick mode on a real engine", () => {
  const stack = uniqueStack("qck");
  let rec: Recorder | undefined;
  let quick: Awaited<ReturnType<typeof startQuickTunnelService>>;

  before(async () => {
    const { cloudflaredImage } = engine();
    quick = await startQuickTunnelService();
    const gateway = dockerGateway("bridge");
    const run = await runProgram(
      {
        tunnel: {
          mode: "quick",
          image: cloudflaredImage,
          quickService: quick.url(gateway),
          edge: ["127.0.0.1:7844"],
        },
        broker: brokerSection(),
      },
      { stack },
    );
    rec = run.rec;
    await realize(rec, { log });
  });

  after(() => {
    quick?.server.close();
    if (rec) teardown(stack, [rec]);
  });

  test("cloudflared asks the quick-tunnel service for a tunnel", async () => {
    const name = `mqtt-edge-${stack}-local-cloudflared-1`;
    await until("a POST /tunnel from cloudflared", 30_000, () => quick.requests > 0);
    const logs = await until("the quick tunnel's hostname in the connector log", 15_000, () => {
      const r = spawnSync("docker", ["logs", name], { encoding: "utf8" });
      return /e2e-quick\.trycloudflare\.com/.test(r.stdout + r.stderr)
        ? r.stdout + r.stderr
        : undefined;
    });
    assert.match(logs, /e2e-quick\.trycloudflare\.com/);
    assert.equal(inspect(name).State.Running, true);
    assert.equal(inspect(brokerName(stack)).State.Health?.Status, "healthy");
  });
});

/**
 * Adding an MQTT user replaces the broker container (new password file, deleteBeforeReplace):
 * the provider deletes the old container, then creates the new one on the same volumes.
 */
for (const persistence of [true, false]) {
  describe(`adding a user replaces the broker (persistence ${persistence})`, () => {
    const stack = uniqueStack(persistence ? "usp" : "usn");
    const recs: Recorder[] = [];
    const users = (extra: string[]) => [
      { name: "sensor", acl: [{ access: "readwrite", topic: "sensors/#" }] },
      ...extra.map((name) => ({ name, acl: [{ access: "read", topic: "#" }] })),
    ];

    after(() => teardown(stack, recs));

    test(`a retained message ${persistence ? "survives" : "does not survive"} the replacement`, async () => {
      engine();
      const a = await runProgram(
        { tunnel: { mode: "none" }, broker: brokerSection({ persistence, users: users([]) }) },
        { stack },
      );
      recs.push(a.rec);
      await realize(a.rec, { log });
      const pwA = await passwordsOf(a.outputs);
      const message = `retained-${stack}`;
      const pub = mqttClient(
        brokerNet(stack),
        pubsubArgs({ user: "sensor", topic: "sensors/retained", message, flags: ["--retain"] }),
        pwA.sensor,
      );
      assert.equal(pub.status, 0, pub.output);

      // config B: one more user. Only the broker container is replaced; volumes stay.
      const b = await runProgram(
        {
          tunnel: { mode: "none" },
          broker: brokerSection({ persistence, users: users(["auditor"]) }),
        },
        { stack },
      );
      destroy(a.rec, { only: isBrokerContainer });
      // What the replaced broker left in its data directory (mosquitto writes it on a clean exit).
      const dataDir = persistence
        ? dockerCli([
            "run",
            "--rm",
            "--mount",
            `type=volume,source=mqtt-edge-${stack}-local-mosquitto-data,target=/d`,
            IMAGES.mosquitto,
            "ls",
            "-ln",
            "/d",
          ])
        : "(no data volume)";
      recs.push(b.rec);
      await realize(b.rec, { log, only: isBrokerContainer });
      const pwB = await passwordsOf(b.outputs);
      assert.equal(pwB.sensor, pwA.sensor, "existing users keep their password");

      const auditor = mqttClient(
        brokerNet(stack),
        pubsubArgs({
          user: "auditor",
          topic: "sensors/retained",
          message,
          flags: ["--no-publish", "--timeout", "8"],
        }),
        pwB.auditor,
      );
      if (persistence) {
        assert.equal(
          auditor.status,
          0,
          `the new user did not get the retained message: ${auditor.output}\n` +
            `data volume after the old broker was destroyed (docker stop -t ${a.rec.registrations.find((r) => r.inputs.name === brokerName(stack))?.inputs.destroyGraceSeconds ?? 0}, as the provider does):\n${dataDir}`,
        );
      } else {
        assert.equal(
          auditor.status,
          5,
          `expected a timeout (no retained message), got: ${auditor.output}`,
        );
        const connect = mqttClient(
          brokerNet(stack),
          ["connect", "--url", BROKER_WS, "--user", "auditor"],
          pwB.auditor,
        );
        assert.equal(connect.status, 0, `the new user cannot connect: ${connect.output}`);
      }
    });
  });
}

describe("none mode on a real engine", () => {
  const stack = uniqueStack("non");
  let rec: Recorder | undefined;

  before(async () => {
    engine();
    const run = await runProgram({ tunnel: { mode: "none" }, broker: brokerSection() }, { stack });
    rec = run.rec;
    await realize(rec, { log });
  });

  after(() => {
    if (rec) teardown(stack, [rec]);
  });

  test("only the broker runs", () => {
    const names = (all: boolean) =>
      dockerCli([
        "ps",
        ...(all ? ["-a"] : []),
        "--filter",
        `label=dev.mqtt-edge.stack=${stack}`,
        "--format",
        "{{.Names}}",
      ])
        .split("\n")
        .filter(Boolean);
    assert.deepEqual(names(false), [brokerName(stack)], "running containers");
    assert.deepEqual(
      names(true).filter((n) => n.includes("cloudflared")),
      [],
      "no connector at all",
    );
    assert.deepEqual(
      containers(rec!).filter((r) => !isBrokerContainer(r)),
      [],
      "nothing declared beyond the broker",
    );
    assert.equal(inspect(brokerName(stack)).State.Health?.Status, "healthy");
  });
});
