/**
 * A fleet of two Docker hosts, as two real engines on this machine (scripts/engine.sh a and b),
 * deployed by `pulumi up` with one Docker provider per host: each engine runs its own broker and
 * connector with its own tunnel token; removing host b from the config destroys only host b's
 * resources, on its engine and in Cloudflare, and leaves host a's containers running untouched.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import type { FakeCloudflareApi } from "../support/cloudflareApi";
import {
  API_TOKEN,
  brokerReady,
  connectorToken,
  deploySuite,
  dockerJson,
  E2EStack,
  IMAGES,
  leftovers,
  managedTunnel,
  mqttClient,
  pubsubArgs,
  requireTools,
  startFakeCloudflare,
} from "../support/e2eStack";

const RUN = process.env.MQTT_EDGE_RUN ?? "/tmp/mqtt-edge";
const ENGINES = {
  a: `unix://${RUN}/docker-a/docker.sock`,
  b: `unix://${RUN}/docker-b/docker.sock`,
};
const STACK = "e2efleet";
const users = [{ name: "sensor", acl: [{ access: "readwrite", topic: "sensors/#" }] }];

/** Runs `fn` with DOCKER_HOST pointing at one engine (the harness's docker helpers read it). */
function onEngine<T>(engine: "a" | "b", fn: () => T): T {
  const previous = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = ENGINES[engine];
  try {
    return fn();
  } finally {
    process.env.DOCKER_HOST = previous;
  }
}

async function onEngineAsync<T>(engine: "a" | "b", fn: () => Promise<T>): Promise<T> {
  const previous = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = ENGINES[engine];
  try {
    return await fn();
  } finally {
    process.env.DOCKER_HOST = previous;
  }
}

const prefix = (h: "a" | "b") => `mqtt-edge-${STACK}-edge-${h}`;
const tokenOf = (container: string): { t: string; s: string } =>
  JSON.parse(Buffer.from(connectorToken(container)!, "base64").toString("utf8"));
const identity = (h: "a" | "b") =>
  onEngine(h, () =>
    ["mosquitto", "cloudflared-1"].map((c) => {
      const i = dockerJson("inspect", `${prefix(h)}-${c}`)[0];
      return `${i.Id} ${i.State.StartedAt}`;
    }),
  );

deploySuite("a fleet of two hosts on two real engines", { timeout: 20 * 60_000 }, () => {
  let fake: FakeCloudflareApi;
  let stack: E2EStack;
  let config: (hosts: ("a" | "b")[]) => Record<string, unknown>;
  let passwords: Record<string, string>;

  before(async () => {
    const tools = onEngine("b", () => requireTools());
    onEngine("a", () => requireTools());
    const started = await startFakeCloudflare();
    fake = started.fake;
    config = (hosts) => ({
      tunnel: managedTunnel(tools.cloudflaredImage),
      hosts: hosts.map((h) => ({
        name: `edge-${h}`,
        docker: ENGINES[h],
        hostname: `mqtt-${h}.example.com`,
      })),
      broker: { image: IMAGES.mosquitto, users },
      "cloudflare:baseUrl": started.baseUrl,
    });
    stack = new E2EStack(STACK);
    await stack.configure(config(["a", "b"]), { "cloudflare:apiToken": API_TOKEN });
    const r = await stack.up();
    assert.equal(r.summary.result, "succeeded");
    passwords = (await stack.outputs()).mqttCredentials.value;
    for (const h of ["a", "b"] as const) {
      await onEngineAsync(h, () => brokerReady(`${prefix(h)}-broker`, "sensor", passwords.sensor));
    }
  });

  after(async () => {
    if (stack) await stack.cleanup();
    if (fake) await fake.stop();
  });

  test("each engine runs its own broker and connector, with its own tunnel token", () => {
    const tokens = (["a", "b"] as const).map((h) =>
      onEngine(h, () => {
        assert.equal(
          dockerJson("inspect", `${prefix(h)}-mosquitto`)[0].State.Health.Status,
          "healthy",
        );
        assert.equal(dockerJson("inspect", `${prefix(h)}-cloudflared-1`)[0].State.Running, true);
        const other = h === "a" ? "b" : "a";
        const foreign = spawnSync("docker", ["inspect", `${prefix(other)}-mosquitto`], {
          stdio: "ignore",
        });
        assert.notEqual(foreign.status, 0, `engine ${h} holds nothing of host ${other}`);
        return tokenOf(`${prefix(h)}-cloudflared-1`);
      }),
    );
    assert.notEqual(tokens[0].t, tokens[1].t, "one tunnel per host");
    const live = [...fake.state.tunnels.values()].filter((t) => !t.deletedAt);
    assert.deepEqual(live.map((t) => t.id).sort(), tokens.map((t) => t.t).sort());
    assert.deepEqual([...fake.state.dnsRecords.values()].map((r) => r.name).sort(), [
      "mqtt-a.example.com",
      "mqtt-b.example.com",
    ]);
  });

  test("both brokers serve clients on their own private networks", () => {
    for (const h of ["a", "b"] as const) {
      const r = onEngine(h, () =>
        mqttClient(
          `${prefix(h)}-broker`,
          pubsubArgs({ user: "sensor", topic: "sensors/fleet", message: `hi-${h}` }),
          passwords.sensor,
        ),
      );
      assert.equal(r.status, 0, `host ${h}: ${r.output}`);
    }
  });

  test("removing host b destroys only host b's resources; host a's containers are untouched", async () => {
    const before = identity("a");
    // Host b's connector stopped a moment ago: Cloudflare still lists its connections and
    // refuses to delete its tunnel meanwhile (400, 1022) unless they are cleaned up first.
    const tunnelB = onEngine("b", () => tokenOf(`${prefix("b")}-cloudflared-1`)).t;
    fake.stopConnector(tunnelB, fake.startConnector(tunnelB), { lingerMs: 30 * 60_000 });
    await stack.configure(config(["a"]));
    const steps = (await stack.previewSteps()).filter((s) => s.op !== "same");
    assert.ok(steps.length > 0);
    for (const s of steps) {
      assert.equal(s.op, "delete", `${s.op} ${s.urn}`);
      assert.match(s.urn, /::edge-b(-|$)/, `only host b's resources go: ${s.urn}`);
    }
    const r = await stack.up();
    assert.equal(r.summary.result, "succeeded");
    assert.deepEqual(
      onEngine("b", () => leftovers(STACK)),
      [],
      "engine b holds nothing of the stack",
    );
    assert.deepEqual(identity("a"), before, "host a's containers were not touched");
    const live = [...fake.state.tunnels.values()].filter((t) => !t.deletedAt);
    assert.equal(live.length, 1);
    assert.equal(live[0].id, onEngine("a", () => tokenOf(`${prefix("a")}-cloudflared-1`)).t);
    assert.deepEqual(
      [...fake.state.dnsRecords.values()].map((d) => d.name),
      ["mqtt-a.example.com"],
    );
    const client = onEngine("a", () =>
      mqttClient(
        `${prefix("a")}-broker`,
        pubsubArgs({ user: "sensor", topic: "sensors/fleet", message: "still" }),
        passwords.sensor,
      ),
    );
    assert.equal(client.status, 0, client.output);
    await stack.destroy();
    assert.deepEqual(
      onEngine("a", () => leftovers(STACK)),
      [],
    );
    assert.equal(fake.state.dnsRecords.size, 0);
  });
});
