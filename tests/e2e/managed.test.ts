/**
 * Managed mode, end to end: `pulumi up` of this program against a real Docker engine and the fake
 * Cloudflare API, checked with real clients; then a no-op preview, secrecy of everything printed
 * and stored, the blast radius of two changes, and a destroy that leaves nothing.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { stringify as stringifyYaml } from "yaml";
import { TYPES as T } from "../../shared/resourceTypes";
import type { FakeCloudflareApi } from "../support/cloudflareApi";
import {
  ACCOUNT,
  API_TOKEN,
  assertNoSecrets,
  BROKER_WS,
  brokerReady,
  connectorToken,
  deploySuite,
  docker,
  dockerAsync,
  dockerGateway,
  dockerJson,
  E2EStack,
  engineHasStartInterval,
  IMAGES,
  leftovers,
  managedTunnel,
  mqttClient,
  pubsubArgs,
  requireTools,
  startFakeCloudflare,
  until,
} from "../support/e2eStack";

/** GET argv[1] and print the body; exit 0 ok, 3 error (e.g. ENETUNREACH), 5 timeout. */
const HTTP_GET = `require("http").get(process.argv[1], { timeout: 4000 }, (r) => {
  let b = ""; r.on("data", (d) => (b += d)); r.on("end", () => { process.stdout.write(b); process.exit(0); });
}).on("error", (e) => { console.error(e.code || e.message); process.exit(3); })
  .on("timeout", () => { console.error("timeout"); process.exit(5); });`;

const STACK = "e2emanaged";
const PREFIX = `mqtt-edge-${STACK}-local`;
const BROKER_NET = `${PREFIX}-broker`;

deploySuite("managed mode end to end", { timeout: 30 * 60_000 }, () => {
  let tools: ReturnType<typeof requireTools>;
  let fake: FakeCloudflareApi;
  let stack: E2EStack;
  let config: Record<string, unknown>;
  let passwords: Record<string, string> = {};

  const users = [
    { name: "tester", acl: [{ access: "readwrite", topic: "e2e/#" }] },
    { name: "sensor", acl: [{ access: "write", topic: "sensors/#" }] },
  ];

  before(async () => {
    tools = requireTools();
    const started = await startFakeCloudflare();
    fake = started.fake;
    config = {
      tunnel: managedTunnel(tools.cloudflaredImage, {
        hostname: "mqtt-e2e.example.com",
        replicas: 2,
      }),
      broker: { image: IMAGES.mosquitto, users },
      "cloudflare:baseUrl": started.baseUrl,
    };
    stack = new E2EStack(STACK);
    await stack.configure(config, { "cloudflare:apiToken": API_TOKEN });
  });

  after(async () => {
    if (stack) await stack.cleanup();
    if (fake) await fake.stop();
  });

  test("up deploys a healthy broker, two connectors and the tunnel in Cloudflare", async () => {
    const r = await stack.up();
    assert.equal(r.summary.result, "succeeded");

    const broker = dockerJson("inspect", `${PREFIX}-mosquitto`)[0];
    assert.equal(broker.State.Running, true);
    assert.equal(broker.State.Health?.Status, "healthy");
    assert.equal(broker.HostConfig.ReadonlyRootfs, true);
    assert.deepEqual(broker.HostConfig.CapDrop, ["ALL"]);
    assert.equal(broker.Config.User, "1883:1883");
    assert.deepEqual(broker.HostConfig.PortBindings ?? {}, {}, "nothing published");
    // broker.healthStartInterval "auto" (the default): on where the engine speaks API 1.44+.
    assert.equal(
      broker.Config.Healthcheck.StartInterval ?? 0,
      engineHasStartInterval() ? 250_000_000 : 0,
      "the healthcheck's start interval, in ns",
    );
    for (const i of [1, 2]) {
      const c = dockerJson("inspect", `${PREFIX}-cloudflared-${i}`)[0];
      assert.equal(c.State.Running, true, `connector ${i} running`);
      assert.ok(!c.Config.Cmd.join(" ").includes("eyJ"), "no token on the command line");
    }
    const internal = dockerJson("network", "inspect", BROKER_NET)[0];
    assert.equal(internal.Internal, true);

    const tunnels = [...fake.state.tunnels.values()].filter((t) => !t.deletedAt);
    assert.equal(tunnels.length, 1);
    const tunnel = tunnels[0];
    assert.equal(tunnel.configSrc, "cloudflare");
    assert.equal(tunnel.accountId, ACCOUNT);
    const cfg = fake.state.configs.get(tunnel.id);
    assert.deepEqual(
      (cfg?.config as { ingress: unknown[] }).ingress.map((r) => {
        const { hostname, service } = r as { hostname?: string; service: string };
        return hostname ? { hostname, service } : { service };
      }),
      [
        { hostname: "mqtt-e2e.example.com", service: "http://mosquitto:9001" },
        { service: "http_status:404" },
      ],
    );
    const records = [...fake.state.dnsRecords.values()];
    assert.equal(records.length, 1);
    assert.equal(records[0].name, "mqtt-e2e.example.com");
    assert.equal(records[0].type, "CNAME");
    assert.equal(records[0].content, `${tunnel.id}.cfargotunnel.com`);
    assert.equal(records[0].proxied, true);
    assert.equal(records[0].ttl, 1);

    const outputs = await stack.outputs();
    passwords = outputs.mqttCredentials.value;
    await brokerReady(BROKER_NET, "tester", passwords.tester);
    assert.equal(outputs.mqttCredentials.secret, true);
    assert.equal(outputs.tunnelToken.secret, true);
    assert.equal(outputs.tunnelId.value, tunnel.id);
    assert.equal(outputs.websocketUrl.value, "wss://mqtt-e2e.example.com");
  });

  test("the broker is hardened as declared, its files owned by mosquitto and unreadable by others", () => {
    const c = dockerJson("inspect", `${PREFIX}-mosquitto`)[0];
    assert.ok(
      (c.HostConfig.SecurityOpt ?? []).includes("no-new-privileges:true"),
      JSON.stringify(c.HostConfig.SecurityOpt),
    );
    assert.equal(c.HostConfig.Memory, 256 * 1024 * 1024);
    assert.equal(c.HostConfig.MemorySwap, 256 * 1024 * 1024, "no swap");
    assert.deepEqual(c.HostConfig.LogConfig, {
      Type: "json-file",
      Config: { "max-file": "3", "max-size": "10m" },
    });
    assert.equal(c.HostConfig.RestartPolicy.Name, "unless-stopped");
    assert.deepEqual(Object.keys(c.NetworkSettings.Networks), [BROKER_NET], "internal only");
    assert.ok(c.NetworkSettings.Networks[BROKER_NET].Aliases.includes("mosquitto"));

    const ls = docker("exec", `${PREFIX}-mosquitto`, "ls", "-ln", "/mosquitto/config");
    const files: Record<string, { mode: string; uid: string; gid: string }> = {};
    for (const line of ls.split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 9 && f[0].startsWith("-")) files[f[8]] = { mode: f[0], uid: f[2], gid: f[3] };
    }
    assert.deepEqual(
      files,
      {
        "mosquitto.conf": { mode: "-rw-r-----", uid: "1883", gid: "1883" },
        acl: { mode: "-rw-------", uid: "1883", gid: "1883" },
        passwd: { mode: "-rw-------", uid: "1883", gid: "1883" },
        generation: { mode: "-rw-------", uid: "1883", gid: "1883" },
      },
      ls,
    );
    const writer = dockerJson("inspect", `${PREFIX}-mosquitto-config-writer`)[0];
    assert.equal(writer.State.Status, "exited");
    assert.equal(writer.State.ExitCode, 0);
    assert.deepEqual(writer.HostConfig.CapAdd, ["CAP_CHOWN"]);
    assert.equal(writer.HostConfig.NetworkMode, "none");
    // mosquitto logs to stderr, which reaches docker logs unbuffered.
    const logs = spawnSync("docker", ["logs", `${PREFIX}-mosquitto`], { encoding: "utf8" });
    assert.match(logs.stderr, /mosquitto version \S+ running/);
    assert.match(logs.stderr, /Opening websockets listen socket on port 9001/);
  });

  test("the broker network has no route out; the connectors' egress network has", async () => {
    // A web server on the default bridge publishes a port on every host address; both probes
    // ask for it at the bridge's gateway. From the egress network the request is forwarded (so
    // the probe can succeed); from the internal broker network it must not get through.
    const web = `${PREFIX}-probe-web`;
    docker(
      "run",
      "-d",
      "--name",
      web,
      "--label",
      `dev.mqtt-edge.probe=${STACK}`,
      "-p",
      "8080",
      IMAGES.client,
      "node",
      "-e",
      'require("http").createServer((q, s) => s.end("probe-ok")).listen(8080)',
    );
    try {
      const port = /:(\d+)$/m.exec(docker("port", web, "8080/tcp"))?.[1];
      assert.ok(port, "the probe publishes no port");
      const url = `http://${dockerGateway("bridge")}:${port}/`;
      const probe = (net: string) =>
        dockerAsync(["run", "--rm", "--network", net, IMAGES.client, "node", "-e", HTTP_GET, url]);
      const fromEgress = await until("the probe web server", 30_000, async () => {
        const r = await probe(`${PREFIX}-egress`);
        return r.status === 0 ? r : undefined;
      });
      assert.equal(fromEgress.stdout, "probe-ok");
      const fromBroker = await probe(BROKER_NET);
      assert.notEqual(fromBroker.status, 0, `a container on the broker network reached ${url}`);
    } finally {
      spawnSync("docker", ["rm", "-f", web], { stdio: "ignore" });
    }
  });

  test("connectors: hardened, on both networks, the origin answers from their namespace", async () => {
    for (const i of [1, 2]) {
      const c = dockerJson("inspect", `${PREFIX}-cloudflared-${i}`)[0];
      assert.deepEqual(
        Object.keys(c.NetworkSettings.Networks).sort(),
        [BROKER_NET, `${PREFIX}-egress`].sort(),
      );
      assert.equal(c.HostConfig.ReadonlyRootfs, true);
      assert.equal(c.Config.User, "65532:65532");
      assert.deepEqual(c.HostConfig.CapDrop, ["ALL"]);
      assert.equal(c.HostConfig.MemorySwap, c.HostConfig.Memory, "no swap");
      assert.ok(!/--token\b/.test(JSON.stringify([c.Path, c.Args])), "no --token argument");
    }
    const r = mqttClient(
      `container:${PREFIX}-cloudflared-1`,
      pubsubArgs({ user: "tester", topic: "e2e/via-connector", message: "x" }),
      passwords.tester,
    );
    assert.equal(r.status, 0, r.output);
    // No edge here: cloudflared keeps retrying, and its healthcheck (interval 15 s) runs and
    // reports not ready, rather than failing to run at all.
    for (const i of [1, 2]) {
      const name = `${PREFIX}-cloudflared-${i}`;
      const h = await until(`a health check of ${name}`, 60_000, async () => {
        const x = dockerJson("inspect", name)[0].State.Health;
        return x?.Log?.length ? x : undefined;
      });
      assert.ok(["starting", "unhealthy"].includes(h.Status), `${name}: ${h.Status}`);
      const last = h.Log.at(-1);
      assert.notEqual(last.ExitCode, 0);
      assert.doesNotMatch(last.Output, /executable file not found|no such file|OCI runtime/i);
      assert.match(last.Output, /ready|503/, last.Output);
      const c = dockerJson("inspect", name)[0];
      assert.equal(c.State.Running, true, `${name}: ${c.State.Error}`);
      assert.equal(c.RestartCount, 0, `${name} restarted`);
    }
  });

  test("the token inside each connector is the fake tunnel's account, id and secret", () => {
    const tunnel = [...fake.state.tunnels.values()].find((t) => !t.deletedAt)!;
    for (const i of [1, 2]) {
      const token = connectorToken(`${PREFIX}-cloudflared-${i}`);
      assert.ok(token, "TUNNEL_TOKEN set");
      const decoded = JSON.parse(Buffer.from(token, "base64").toString("utf8"));
      assert.deepEqual(decoded, { a: ACCOUNT, t: tunnel.id, s: tunnel.tunnelSecret });
    }
  });

  test("a client on the broker network publishes and receives over WebSockets; anonymous is refused", () => {
    const ok = mqttClient(
      BROKER_NET,
      pubsubArgs({ user: "tester", topic: "e2e/hello", message: "hi" }),
      passwords.tester,
    );
    assert.equal(ok.status, 0, ok.output);
    const anon = mqttClient(BROKER_NET, ["connect", "--url", BROKER_WS]);
    assert.equal(anon.status, 4, anon.output);
    const wrong = mqttClient(
      BROKER_NET,
      ["connect", "--url", BROKER_WS, "--user", "tester"],
      "wrong-password",
    );
    assert.equal(wrong.status, 4, wrong.output);
    const denied = mqttClient(
      BROKER_NET,
      pubsubArgs({ user: "sensor", topic: "sensors/x", message: "m", flags: ["--timeout", "3"] }),
      passwords.sensor,
    );
    assert.notEqual(denied.status, 0, "sensor may write but not read sensors/#");
  });

  test("cloudflared accepts the ingress rules the program produced", () => {
    const tunnel = [...fake.state.tunnels.values()].find((t) => !t.deletedAt)!;
    const ingress = (fake.state.configs.get(tunnel.id)!.config as { ingress: unknown[] }).ingress;
    const dir = mkdtempSync(join(tmpdir(), "mqtt-edge-ingress-"));
    const file = join(dir, "config.yml");
    writeFileSync(file, stringifyYaml({ tunnel: tunnel.id, ingress }));
    const out = execFileSync(
      tools.cloudflared,
      ["tunnel", "--config", file, "ingress", "validate"],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    assert.match(out, /OK/);
    // And it would refuse rules without the catch-all, so the check can fail.
    writeFileSync(file, stringifyYaml({ tunnel: tunnel.id, ingress: ingress.slice(0, -1) }));
    assert.throws(() =>
      execFileSync(tools.cloudflared, ["tunnel", "--config", file, "ingress", "validate"], {
        stdio: "pipe",
      }),
    );
  });

  test("a second preview reports no changes", async () => {
    const r = await stack.preview();
    const changed = Object.entries(r.changeSummary).filter(([op, n]) => op !== "same" && n > 0);
    assert.deepEqual(changed, [], r.stdout);
  });

  test("a refreshed preview reports no changes against what the API fills in on GET", async () => {
    // What .github/workflows/drift.yml runs every day.
    const r = await stack.refreshedPreview();
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  });

  test("state and everything printed hold no secret in plain text", async () => {
    const tunnel = [...fake.state.tunnels.values()].find((t) => !t.deletedAt)!;
    const token = connectorToken(`${PREFIX}-cloudflared-1`)!;
    const secrets = [token, tunnel.tunnelSecret, ...Object.values(passwords)];
    const { exported, atRest } = await stack.exportState();
    assert.ok(exported.includes(tunnel.id), "the export is the real state");
    assert.ok(atRest.includes(tunnel.id), "the checkpoint at rest is the real state");
    // The secrets are there, encrypted: the scan below can only pass for the right reason.
    assert.match(exported, /"ciphertext"/);
    assert.doesNotMatch(exported, /"plaintext"/);
    assertNoSecrets([exported, atRest, ...stack.printed], secrets);
    // The base64 tunnel secret is also looked for in the other common spelling of its bytes.
    assertNoSecrets(
      [exported, atRest, ...stack.printed],
      [Buffer.from(tunnel.tunnelSecret, "base64").toString("hex")],
    );
    // The cloudflared command lines hold no token either.
    for (const i of [1, 2]) {
      const c = dockerJson("inspect", `${PREFIX}-cloudflared-${i}`)[0];
      assertNoSecrets([JSON.stringify(c.Config.Cmd), JSON.stringify(c.Args), c.Path], [token]);
    }
  });

  test("adding an MQTT user replaces only the config writer; the broker reloads in place", async () => {
    const retained = mqttClient(
      BROKER_NET,
      pubsubArgs({ user: "tester", topic: "e2e/retained", message: "kept", flags: ["--retain"] }),
      passwords.tester,
    );
    assert.equal(retained.status, 0, retained.output);
    const broker = dockerJson("inspect", `${PREFIX}-mosquitto`)[0];
    const withUser = {
      ...config,
      broker: { image: IMAGES.mosquitto, users: [...users, { name: "newcomer", acl: [] }] },
    };
    await stack.configure(withUser);
    const steps = await stack.previewSteps();
    const touched = steps.filter((s) => s.op !== "same");
    assert.deepEqual(
      touched.map((s) => `${s.op} ${s.urn.split("::").pop()}`).sort(),
      ["create mqtt-password-newcomer", "replace local-broker-config-writer"],
      JSON.stringify(touched, null, 1),
    );
    await stack.up();
    const outputs = await stack.outputs();
    await brokerReady(BROKER_NET, "newcomer", outputs.mqttCredentials.value.newcomer);
    const now = dockerJson("inspect", `${PREFIX}-mosquitto`)[0];
    assert.equal(now.Id, broker.Id, "the same broker container");
    assert.equal(now.State.StartedAt, broker.State.StartedAt, "not restarted");
    const survived = mqttClient(
      BROKER_NET,
      pubsubArgs({
        user: "tester",
        topic: "e2e/retained",
        message: "kept",
        flags: ["--no-publish"],
      }),
      passwords.tester,
    );
    assert.equal(survived.status, 0, `retained message lost: ${survived.output}`);
    config = withUser;
  });

  test('broker.healthStartInterval false, then back to "auto", on the running stack: only the broker follows, and only where the engine keeps a start interval', async () => {
    const keeps = engineHasStartInterval();
    const startIntervalNs = () =>
      dockerJson("inspect", `${PREFIX}-mosquitto`)[0].Config.Healthcheck.StartInterval ?? 0;
    for (const setting of [false, "auto"] as const) {
      const next = {
        ...config,
        broker: { ...(config.broker as object), healthStartInterval: setting },
      };
      await stack.configure(next);
      const touched = (await stack.previewSteps()).filter((s) => s.op !== "same");
      if (!keeps) {
        // API below 1.44: "auto" was off already, so neither value changes anything.
        assert.deepEqual(touched, [], `${setting}: ${JSON.stringify(touched)}`);
        continue;
      }
      const names = [...new Set(touched.map((s) => s.urn.split("::").pop()))];
      assert.deepEqual(names, ["local-broker-mosquitto"], JSON.stringify(touched, null, 1));
      // replaceOnChanges: the provider's in-place update would not apply a new healthcheck.
      assert.ok(
        touched.some((s) => s.op === "replace"),
        JSON.stringify(touched, null, 1),
      );
      await stack.up();
      await brokerReady(BROKER_NET, "tester", passwords.tester);
      assert.equal(startIntervalNs(), setting === false ? 0 : 250_000_000, `after ${setting}`);
      assert.deepEqual(
        (await stack.previewSteps()).filter((s) => s.op !== "same"),
        [],
        `a second preview after ${setting}`,
      );
    }
    config = { ...config, broker: { ...(config.broker as object), healthStartInterval: "auto" } };
  });

  test("rotating the tunnel secret changes only the tunnel and the connectors, in place", async () => {
    // A copy: the fake updates its tunnel objects in place.
    const before = { ...[...fake.state.tunnels.values()].find((t) => !t.deletedAt)! };
    const rotated = { ...config, tunnel: { ...(config.tunnel as object), secretVersion: "2" } };
    await stack.configure(rotated);
    const steps = (await stack.previewSteps()).filter((s) => s.op !== "same");
    const names = steps.map((s) => `${s.op} ${s.urn.split("::").pop()}`);
    for (const s of steps) {
      const name = s.urn.split("::").pop()!;
      assert.match(
        name,
        /^local-(tunnel-(secret|tunnel)|connector-\d)$/,
        `unexpected change: ${names.join(", ")}`,
      );
    }
    assert.ok(
      names.some((n) => n.endsWith("local-connector-1")),
      names.join(", "),
    );
    assert.ok(
      steps.some((s) => s.op === "replace" && s.urn.endsWith("local-connector-2")),
      `preview shows the connectors replaced: ${names.join(", ")}`,
    );
    await stack.up();
    const live = [...fake.state.tunnels.values()].filter((t) => !t.deletedAt);
    assert.equal(live.length, 1, "one tunnel");
    assert.equal(live[0].id, before.id, "the secret is rotated in place: same tunnel, same DNS");
    assert.notEqual(live[0].tunnelSecret, before.tunnelSecret);
    for (const i of [1, 2]) {
      const token = connectorToken(`${PREFIX}-cloudflared-${i}`)!;
      assert.deepEqual(JSON.parse(Buffer.from(token, "base64").toString()), {
        a: ACCOUNT,
        t: live[0].id,
        s: live[0].tunnelSecret,
      });
    }
    const record = [...fake.state.dnsRecords.values()][0];
    assert.equal(record.content, `${live[0].id}.cfargotunnel.com`);
    config = rotated;
  });

  test("replacing the tunnel while Cloudflare still lists connections for the old one", async () => {
    const old = [...fake.state.tunnels.values()].find((t) => !t.deletedAt)!;
    // A connector that stopped a moment ago: Cloudflare keeps its connections listed, and
    // refuses to delete the tunnel meanwhile (400, 1022).
    fake.stopConnector(old.id, fake.startConnector(old.id), { lingerMs: 30 * 60_000 });
    assert.ok(fake.listedConnections(old).length > 0);
    const exported = JSON.parse((await stack.cli(["stack", "export"])).stdout) as {
      deployment: { resources: { urn: string; type: string }[] };
    };
    const urn = exported.deployment.resources.find((r) => r.type === T.tunnel)!.urn;
    const r = await stack.cli(["up", "--yes", "--skip-preview", "--replace", urn]);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.ok(old.deletedAt, "the old tunnel is deleted");
    const live = [...fake.state.tunnels.values()].filter((t) => !t.deletedAt);
    assert.equal(live.length, 1);
    assert.notEqual(live[0].id, old.id);
    assert.ok(
      fake.requests.some(
        (q) => q.method === "DELETE" && q.path.endsWith(`/cfd_tunnel/${old.id}/connections`),
      ),
      "the old tunnel's connections were cleaned up",
    );
    for (const i of [1, 2]) {
      const token = connectorToken(`${PREFIX}-cloudflared-${i}`)!;
      assert.equal(JSON.parse(Buffer.from(token, "base64").toString()).t, live[0].id);
    }
  });

  test("destroy leaves no container, network, volume, tunnel or DNS record", async () => {
    const tunnel = [...fake.state.tunnels.values()].find((t) => !t.deletedAt)!;
    fake.stopConnector(tunnel.id, fake.startConnector(tunnel.id), { lingerMs: 30 * 60_000 });
    await stack.destroy();
    const paths = fake.requests.filter((q) => q.method === "DELETE").map((q) => q.path);
    const cleanup = paths.indexOf(
      `/client/v4/accounts/${ACCOUNT}/cfd_tunnel/${tunnel.id}/connections`,
    );
    const deleted = paths.indexOf(`/client/v4/accounts/${ACCOUNT}/cfd_tunnel/${tunnel.id}`);
    assert.ok(cleanup >= 0 && deleted > cleanup, `cleanup before delete: ${paths.join(", ")}`);
    assert.deepEqual(leftovers(STACK), []);
    assert.deepEqual(
      [...fake.state.tunnels.values()].filter((t) => !t.deletedAt),
      [],
    );
    assert.equal(fake.state.dnsRecords.size, 0);
    assert.equal(docker("ps", "-a", "--filter", `name=${PREFIX}`, "--format", "{{.Names}}"), "");
  });
});
