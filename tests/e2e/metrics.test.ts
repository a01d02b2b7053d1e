/**
 * tunnel.metrics and broker.monitorUser end to end: `pulumi up` of the README's metrics example
 * (in managed mode against the fake Cloudflare API) with the real providers on a real Docker
 * engine. Each connector's metrics server is scraped through its own published loopback port;
 * `$SYS` is read as the monitor user over WebSockets from the broker network, and every other
 * topic is refused to it; a second preview reports no changes, and destroy leaves nothing.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import type { FakeCloudflareApi } from "../support/cloudflareApi";
import { readmeExample } from "../support/readmeExamples";
import {
  API_TOKEN,
  BROKER_WS,
  brokerReady,
  deploySuite,
  dockerJson,
  E2EStack,
  IMAGES,
  leftovers,
  managedTunnel,
  mqttClient,
  publishRetained,
  pubsubArgs,
  requireTools,
  startFakeCloudflare,
  type Watched,
  until,
  watchTopics,
} from "../support/e2eStack";

const STACK = "h3metrics";
const PREFIX = `mqtt-edge-${STACK}-local`;
const BROKER_NET = `${PREFIX}-broker`;
const CONNECTED = "$SYS/broker/clients/connected";
/** The README's example, deployed as written; the test adds only what its environment needs. */
const EXAMPLE = readmeExample("## Metrics and monitoring");

/** As `user`, on the broker's WebSocket listener from its network. */
const asUser = (user: string, password: string) => ({
  network: BROKER_NET,
  url: BROKER_WS,
  user,
  password,
});

/** The client image's `watch` as `user`, until `until` arrives. */
function watch(user: string, password: string, filters: string[], until: string): Watched {
  return watchTopics(asUser(user, password), filters, until);
}

/** A retained publish as `user`, in MQTT 3.1.1 (4) or 5. */
function publish(user: string, password: string, topic: string, protocol: 4 | 5) {
  return publishRetained(asUser(user, password), topic, `from ${user}`, protocol);
}

deploySuite(
  "metrics: published connector metrics and a $SYS-only monitor user",
  { timeout: 30 * 60_000 },
  () => {
    let tools: ReturnType<typeof requireTools>;
    let fake: FakeCloudflareApi;
    let stack: E2EStack;
    let passwords: Record<string, string> = {};
    let metricsUrls: string[] = [];

    before(async () => {
      tools = requireTools();
      const started = await startFakeCloudflare();
      fake = started.fake;
      stack = new E2EStack(STACK);
      await stack.configure(
        {
          tunnel: managedTunnel(tools.cloudflaredImage, {
            hostname: "mqtt-metrics.example.com",
            ...EXAMPLE["mqtt-edge:tunnel"],
          }),
          broker: { image: IMAGES.mosquitto, ...EXAMPLE["mqtt-edge:broker"] },
          "cloudflare:baseUrl": started.baseUrl,
        },
        { "cloudflare:apiToken": API_TOKEN },
      );
    });

    after(async () => {
      if (stack) await stack.cleanup();
      if (fake) await fake.stop();
    });

    test("up: connector i publishes its metrics server on 127.0.0.1:(2000 + i - 1); ready stays the healthcheck", async () => {
      const r = await stack.up();
      assert.equal(r.summary.result, "succeeded");
      for (const i of [1, 2]) {
        const c = dockerJson("inspect", `${PREFIX}-cloudflared-${i}`)[0];
        assert.equal(c.State.Running, true);
        assert.deepEqual(c.HostConfig.PortBindings, {
          "2000/tcp": [{ HostIp: "127.0.0.1", HostPort: String(1999 + i) }],
        });
        const args: string[] = c.Args;
        assert.equal(args[args.indexOf("--metrics") + 1], "0.0.0.0:2000", args.join(" "));
        assert.deepEqual(c.Config.Healthcheck.Test, [
          "CMD",
          "cloudflared",
          "tunnel",
          "--metrics",
          "127.0.0.1:2000",
          "ready",
        ]);
      }
      const outputs = await stack.outputs();
      metricsUrls = outputs.hosts.value.local.metricsUrls;
      assert.deepEqual(metricsUrls, [
        "http://127.0.0.1:2000/metrics",
        "http://127.0.0.1:2001/metrics",
      ]);
      passwords = outputs.mqttCredentials.value;
      assert.equal(outputs.mqttCredentials.secret, true);
      assert.deepEqual(Object.keys(passwords).sort(), ["monitor", "sensor"]);
      await brokerReady(BROKER_NET, "sensor", passwords.sensor);
    });

    test("/metrics and /ready scraped from each connector through its published port on loopback", async () => {
      const version = execFileSync(tools.cloudflared, ["--version"], { encoding: "utf8" }).match(
        /version (\S+)/,
      )?.[1];
      assert.ok(version);
      const connectorIds: string[] = [];
      for (const url of metricsUrls) {
        const body = await until(`Prometheus text at ${url}`, 60_000, async () => {
          const res = await fetch(url).catch(() => undefined);
          return res?.status === 200 ? res.text() : undefined;
        });
        assert.match(body, new RegExp(`^build_info\\{.*version="${version}".*\\} 1$`, "m"));
        // Counts the connections cloudflared serves or tries to open (1 or more here, with no
        // edge to reach), not registered ones: readiness is /ready's to say.
        assert.match(body, /^cloudflared_tunnel_ha_connections \d+$/m, body.slice(0, 2000));
        assert.match(body, /^cloudflared_tunnel_total_requests 0$/m);
        const ready = await fetch(url.replace(/\/metrics$/, "/ready"));
        assert.equal(ready.status, 503, "not ready without a connection to the edge");
        const doc = (await ready.json()) as {
          status: number;
          readyConnections: number;
          connectorId: string;
        };
        assert.equal(doc.status, 503);
        assert.equal(doc.readyConnections, 0);
        assert.match(doc.connectorId, /^[0-9a-f-]{36}$/);
        connectorIds.push(doc.connectorId);
      }
      assert.notEqual(connectorIds[0], connectorIds[1], "each port reaches a connector of its own");
    });

    test("the monitor user reads $SYS/broker/clients/connected over WebSockets from the broker network", () => {
      const r = watch("monitor", passwords.monitor, [CONNECTED], CONNECTED);
      assert.equal(r.status, 0, r.output);
      assert.deepEqual(r.granted, [1]);
      assert.equal(r.messages.length, 1, r.output);
      assert.equal(r.messages[0].topic, CONNECTED);
      assert.match(r.messages[0].payload, /^\d+$/, r.output);
      assert.equal(r.messages[0].retain, true, "$SYS statistics are retained");
    });

    test("the monitor user is refused every other topic: subscriptions deliver nothing, publishes are dropped", () => {
      // Retained messages the sensor may write and read: they are there to be delivered.
      for (const topic of ["sensors/h3-retained", "clients/sensor/h3-retained"]) {
        const put = mqttClient(
          BROKER_NET,
          pubsubArgs({ user: "sensor", topic, message: "kept", flags: ["--retain"] }),
          passwords.sensor,
        );
        assert.equal(put.status, 0, put.output);
      }
      const control = watch(
        "sensor",
        passwords.sensor,
        ["sensors/#", "clients/#"],
        "clients/sensor/h3-retained",
      );
      assert.equal(control.status, 0, control.output);
      assert.deepEqual(control.messages.map((m) => m.topic).sort(), [
        "clients/sensor/h3-retained",
        "sensors/h3-retained",
      ]);

      // Subscribe: the same filters, and "#", then the retained $SYS topic as the marker. Mosquitto
      // 2.0's ACL file checks no SUBSCRIBE (SUBACK grants every filter); it delivers nothing.
      const filters = ["#", "sensors/#", "clients/#", "clients/monitor/#"];
      const sub = watch("monitor", passwords.monitor, [...filters, CONNECTED], CONNECTED);
      assert.equal(sub.status, 0, sub.output);
      assert.deepEqual(sub.granted, [1, 1, 1, 1, 1]);
      assert.deepEqual(
        sub.messages.map((m) => m.topic),
        [CONNECTED],
        "the monitor user received a message outside $SYS",
      );

      // Publish: MQTT 5 gets PUBACK 135 (not authorised), the client's exit 4; clients/monitor/x
      // is what the clients/%u/# pattern would have granted.
      for (const topic of ["sensors/h3-monitor", "clients/monitor/h3", "$SYS/broker/h3"]) {
        const r = publish("monitor", passwords.monitor, topic, 5);
        assert.equal(r.status, 4, `${topic}: ${r.output}`);
        assert.match(r.output, /publish refused/);
      }
      // MQTT 3.1.1: acknowledged and dropped; nothing was retained.
      const v311 = publish("monitor", passwords.monitor, "sensors/h3-monitor", 4);
      assert.equal(v311.status, 0, v311.output);
      const marker = publish("sensor", passwords.sensor, "sensors/h3-marker", 4);
      assert.equal(marker.status, 0, marker.output);
      const seen = watch(
        "sensor",
        passwords.sensor,
        ["sensors/h3-monitor", "sensors/h3-marker"],
        "sensors/h3-marker",
      );
      assert.equal(seen.status, 0, seen.output);
      assert.deepEqual(
        seen.messages.map((m) => m.topic),
        ["sensors/h3-marker"],
        "a publish of the monitor user was stored",
      );
    });

    test("a second preview reports no changes", async () => {
      const r = await stack.preview();
      const changed = Object.entries(r.changeSummary).filter(([op, n]) => op !== "same" && n > 0);
      assert.deepEqual(changed, [], r.stdout);
    });

    test("destroy leaves no container, network or volume, and frees the metrics ports", async () => {
      await stack.destroy();
      assert.deepEqual(leftovers(STACK), []);
      for (const url of metricsUrls) {
        const res = await fetch(url).catch((e: Error) => e);
        assert.ok(res instanceof Error, `${url} still answers`);
      }
    });
  },
);
