/**
 * Managed mode, end to end: `pulumi up` of this program against a real Docker engine and the fake
 * Cloudflare API, checked with real clients; then a no-op preview, secrecy of everything printed
 * and stored, the blast radius of two changes, and a destroy that leaves nothing.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify as stringifyYaml } from "yaml";
import type { FakeCloudflareApi } from "../fakes/cloudflare-api";
import {
  ACCOUNT,
  API_TOKEN,
  BROKER_WS,
  E2EStack,
  IMAGES,
  assertNoSecrets,
  connectorToken,
  docker,
  dockerJson,
  leftovers,
  mqttClient,
  pubsubArgs,
  requireTools,
  startFakeCloudflare,
} from "./harness";

const STACK = "e2emanaged";
const PREFIX = `mqtt-edge-${STACK}-local`;
const BROKER_NET = `${PREFIX}-broker`;

describe("managed mode end to end", { timeout: 30 * 60_000 }, () => {
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
      tunnel: {
        mode: "managed",
        accountId: ACCOUNT,
        zone: "example.com",
        hostname: "mqtt-e2e.example.com",
        replicas: 2,
        image: tools.cloudflaredImage,
        // No internet here: point connectors at a closed local port so they keep retrying.
        edge: ["127.0.0.1:7844"],
      },
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
    assert.equal(outputs.mqttCredentials.secret, true);
    assert.equal(outputs.tunnelToken.secret, true);
    assert.equal(outputs.tunnelId.value, tunnel.id);
    assert.equal(outputs.websocketUrl.value, "wss://mqtt-e2e.example.com");
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

  test("adding an MQTT user replaces only the broker, and a retained message survives", async () => {
    const retained = mqttClient(
      BROKER_NET,
      pubsubArgs({ user: "tester", topic: "e2e/retained", message: "kept", flags: ["--retain"] }),
      passwords.tester,
    );
    assert.equal(retained.status, 0, retained.output);
    // Mosquitto writes its persistence file on shutdown; replacement stops it gracefully.
    const withUser = {
      ...config,
      broker: { image: IMAGES.mosquitto, users: [...users, { name: "newcomer", acl: [] }] },
    };
    await stack.configure(withUser);
    const steps = await stack.previewSteps();
    const touched = steps.filter((s) => s.op !== "same");
    const replaced = touched.filter((s) => s.op === "replace" || s.op === "create-replacement");
    // The broker, and the one-shot container that writes its files (uploads replace it).
    assert.deepEqual(
      [...new Set(replaced.map((s) => s.urn.split("::").pop()))].sort(),
      ["local-broker-config-writer", "local-broker-mosquitto"],
      JSON.stringify(touched, null, 1),
    );
    const others = touched.filter((s) => !/local-broker-(mosquitto|config-writer)$/.test(s.urn));
    assert.deepEqual(
      others.map((s) => `${s.op} ${s.urn.split("::").pop()}`),
      ["create mqtt-password-newcomer"],
    );
    await stack.up();
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

  test("destroy leaves no container, network, volume, tunnel or DNS record", async () => {
    await stack.destroy();
    assert.deepEqual(leftovers(STACK), []);
    assert.deepEqual(
      [...fake.state.tunnels.values()].filter((t) => !t.deletedAt),
      [],
    );
    assert.equal(fake.state.dnsRecords.size, 0);
    assert.equal(docker("ps", "-a", "--filter", `name=${PREFIX}`, "--format", "{{.Names}}"), "");
  });
});
