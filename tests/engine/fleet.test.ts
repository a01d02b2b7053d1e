/**
 * A fleet of two Docker hosts, as two real engines on this machine (scripts/engine.sh a and b):
 * each host's declared resources are created on its own engine (realize.ts stands in for the
 * Docker provider, one per host), then host b is removed from the config and only what the
 * program no longer declares is destroyed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { connectorToken, mqttClient, pubsubArgs } from "../e2e/harness";
import { resolve, runProgram, type Recorder } from "../unit/harness";
import { destroy, inspect, realize } from "./realize";
import { brokerSection, requireEngine, uniqueStack, withUuidTunnelIds } from "./support";
import { FAKE_ACCOUNT } from "../unit/harness";

const RUN = process.env.MQTT_EDGE_RUN ?? "/tmp/mqtt-edge";
const ENGINES = {
  a: `unix://${RUN}/docker-a/docker.sock`,
  b: `unix://${RUN}/docker-b/docker.sock`,
};

function onEngine<T>(engine: string, fn: () => T): T {
  const previous = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = engine;
  try {
    return fn();
  } finally {
    process.env.DOCKER_HOST = previous;
  }
}

async function onEngineAsync<T>(engine: string, fn: () => Promise<T>): Promise<T> {
  const previous = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = engine;
  try {
    return await fn();
  } finally {
    process.env.DOCKER_HOST = previous;
  }
}

function fleetConfig(cloudflaredImage: string, hosts: ("a" | "b")[]) {
  return {
    tunnel: {
      mode: "managed",
      accountId: FAKE_ACCOUNT,
      zone: "example.com",
      replicas: 1,
      image: cloudflaredImage,
      edge: ["127.0.0.1:7844"],
    },
    hosts: hosts.map((h) => ({
      name: `edge-${h}`,
      docker: ENGINES[h],
      hostname: `mqtt-${h}.example.com`,
    })),
    broker: brokerSection(),
  };
}

const tokenOf = (container: string): { t: string; s: string } =>
  JSON.parse(Buffer.from(connectorToken(container)!, "base64").toString("utf8"));

/** Publishes and receives over the broker's WebSocket listener from its private network. */
const client = (network: string, password: string): number =>
  mqttClient(
    network,
    pubsubArgs({ user: "sensor", topic: "sensors/fleet", message: "hi" }),
    password,
  ).status;

describe("a fleet of two hosts on two real engines", { timeout: 15 * 60_000 }, () => {
  const stack = uniqueStack("fleet");
  let cloudflaredImage = "";
  let both: Recorder;
  let passwords: Record<string, string>;

  before(async () => {
    for (const engine of Object.values(ENGINES)) {
      cloudflaredImage = onEngine(engine, () => requireEngine().cloudflaredImage);
    }
    const run = await withUuidTunnelIds(() =>
      runProgram(fleetConfig(cloudflaredImage, ["a", "b"]), { stack }),
    );
    both = run.rec;
    passwords = (await resolve(run.outputs.mqttCredentials)).value as Record<string, string>;
    for (const h of ["a", "b"] as const) {
      await onEngineAsync(ENGINES[h], () =>
        realize(both, { only: (r) => r.name.startsWith(`edge-${h}-`) }),
      );
    }
  });

  after(() => {
    for (const h of ["a", "b"] as const) {
      onEngine(ENGINES[h], () => {
        try {
          destroy(both, { only: (r) => r.name.startsWith(`edge-${h}-`) });
        } catch {
          // reported by the test that failed
        }
      });
    }
  });

  test("each engine runs its own broker and connector, with its own tunnel token", () => {
    const tokens = (["a", "b"] as const).map((h) =>
      onEngine(ENGINES[h], () => {
        const prefix = `mqtt-edge-${stack}-edge-${h}`;
        assert.equal(inspect(`${prefix}-mosquitto`).State.Health.Status, "healthy");
        assert.equal(inspect(`${prefix}-cloudflared-1`).State.Running, true);
        const other = h === "a" ? "b" : "a";
        const foreign = spawnSync(
          "docker",
          ["inspect", `mqtt-edge-${stack}-edge-${other}-mosquitto`],
          { stdio: "ignore" },
        );
        assert.notEqual(foreign.status, 0, `engine ${h} holds nothing of host ${other}`);
        return tokenOf(`${prefix}-cloudflared-1`);
      }),
    );
    assert.notEqual(tokens[0].t, tokens[1].t, "one tunnel per host");
  });

  test("both brokers serve clients on their own private networks", () => {
    for (const h of ["a", "b"] as const) {
      const status = onEngine(ENGINES[h], () =>
        client(`mqtt-edge-${stack}-edge-${h}-broker`, passwords.sensor),
      );
      assert.equal(status, 0, `host ${h}`);
    }
  });

  test("removing host b from the config destroys only host b's resources", async () => {
    const before = onEngine(ENGINES.a, () =>
      ["mosquitto", "cloudflared-1"].map((c) => {
        const i = inspect(`mqtt-edge-${stack}-edge-a-${c}`);
        return `${i.Id} ${i.State.StartedAt}`;
      }),
    );
    const onlyA = (
      await withUuidTunnelIds(() => runProgram(fleetConfig(cloudflaredImage, ["a"]), { stack }))
    ).rec;
    const kept = new Map(onlyA.registrations.map((r) => [r.urn, JSON.stringify(r.inputs)]));
    const gone = both.registrations.filter((r) => !kept.has(r.urn));
    const changed = both.registrations.filter(
      (r) => kept.has(r.urn) && kept.get(r.urn) !== JSON.stringify(r.inputs),
    );
    assert.deepEqual(
      changed.map((r) => r.name),
      [],
      "nothing of host a changes",
    );
    assert.ok(
      gone.length > 0 && gone.every((r) => r.name.startsWith("edge-b")),
      gone.map((r) => r.name).join(", "),
    );
    onEngine(ENGINES.b, () => destroy(gone));
    const left = onEngine(ENGINES.b, () =>
      spawnSync(
        "docker",
        ["ps", "-a", "--filter", `label=dev.mqtt-edge.stack=${stack}`, "--format", "{{.Names}}"],
        { encoding: "utf8" },
      ).stdout.trim(),
    );
    assert.equal(left, "", "engine b holds nothing of the stack");
    const after = onEngine(ENGINES.a, () =>
      ["mosquitto", "cloudflared-1"].map((c) => {
        const i = inspect(`mqtt-edge-${stack}-edge-a-${c}`);
        return `${i.Id} ${i.State.StartedAt}`;
      }),
    );
    assert.deepEqual(after, before, "host a's containers were not touched");
    assert.equal(
      onEngine(ENGINES.a, () => client(`mqtt-edge-${stack}-edge-a-broker`, passwords.sensor)),
      0,
    );
  });
});
