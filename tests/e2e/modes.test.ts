/**
 * Quick and none modes deploy with no Cloudflare account, and the broker is reachable; a Cloudflare
 * API that answers 429/503 for a while is survived, and a rerun converges without duplicates.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  ACCOUNT,
  API_TOKEN,
  E2EStack,
  IMAGES,
  deploySkipReason,
  dockerGateway,
  dockerJson,
  leftovers,
  mqttClient,
  pubsubArgs,
  requireTools,
  startFakeCloudflare,
  startQuickTunnelService,
} from "./harness";

const users = [{ name: "tester", acl: [{ access: "readwrite", topic: "e2e/#" }] }];

describe("quick and none modes", { timeout: 20 * 60_000, skip: deploySkipReason() }, () => {
  let tools: ReturnType<typeof requireTools>;
  const stacks: E2EStack[] = [];
  before(() => {
    tools = requireTools();
  });
  after(async () => {
    for (const s of stacks) await s.cleanup();
  });

  test("quick mode: a connector gets a quick tunnel and the broker answers on loopback", async () => {
    const quick = await startQuickTunnelService();
    try {
      const stack = new E2EStack("e2equick");
      stacks.push(stack);
      await stack.configure({
        tunnel: {
          mode: "quick",
          image: tools.cloudflaredImage,
          edge: ["127.0.0.1:7844"],
          // The engine's own bridge gateway is the host as every container sees it.
          quickService: quick.url(dockerGateway("bridge")),
        },
        broker: { image: IMAGES.mosquitto, users, websocket: { publish: "127.0.0.1:19001" } },
      });
      const r = await stack.up();
      assert.equal(r.summary.result, "succeeded");
      const connector = dockerJson("inspect", "mqtt-edge-e2equick-local-cloudflared-1")[0];
      assert.equal(connector.State.Running, true);
      const outputs = await stack.outputs();
      const summary = outputs.hosts.value[0];
      assert.equal(summary.mode, "quick");
      assert.deepEqual(summary.websocketUrls, ["ws://127.0.0.1:19001"]);
      const client = mqttClient(
        "host",
        pubsubArgs({
          url: "ws://127.0.0.1:19001",
          user: "tester",
          topic: "e2e/q",
          message: "quick",
        }),
        outputs.mqttCredentials.value.tester,
      );
      assert.equal(client.status, 0, client.output);
      // cloudflared asked the quick-tunnel service for credentials (it retries until it gets them).
      for (let i = 0; i < 30 && quick.requests === 0; i++)
        await new Promise((r) => setTimeout(r, 1000));
      assert.ok(quick.requests >= 1, "the connector requested a quick tunnel");
      const second = await stack.preview();
      assert.deepEqual(
        Object.entries(second.changeSummary).filter(([op, n]) => op !== "same" && n > 0),
        [],
        second.stdout,
      );
      await stack.destroy();
      assert.deepEqual(leftovers("e2equick"), []);
    } finally {
      quick.server.close();
    }
  });

  test("none mode: the broker alone, no connector", async () => {
    const stack = new E2EStack("e2enone");
    stacks.push(stack);
    await stack.configure({
      tunnel: { mode: "none" },
      broker: {
        image: IMAGES.mosquitto,
        users,
        tcp: { publish: "127.0.0.1:11883" },
        persistence: false,
      },
    });
    await stack.up();
    const names = leftovers("e2enone").filter((n) => n.startsWith("container"));
    assert.deepEqual(names, ["container mqtt-edge-e2enone-local-mosquitto"]);
    const outputs = await stack.outputs();
    const client = mqttClient(
      "mqtt-edge-e2enone-local-broker",
      pubsubArgs({ user: "tester", topic: "e2e/n", message: "none" }),
      outputs.mqttCredentials.value.tester,
    );
    assert.equal(client.status, 0, client.output);
    const tcp = mqttClient(
      "host",
      ["connect", "--url", "mqtt://127.0.0.1:11883", "--user", "tester"],
      outputs.mqttCredentials.value.tester,
    );
    assert.equal(tcp.status, 0, tcp.output);
    await stack.destroy();
    assert.deepEqual(leftovers("e2enone"), []);
  });
});

describe("a flaky Cloudflare API", { timeout: 30 * 60_000, skip: deploySkipReason() }, () => {
  let tools: ReturnType<typeof requireTools>;
  let stack: E2EStack;
  let fakeStop: () => Promise<void> = async () => {};

  before(() => {
    tools = requireTools();
  });
  after(async () => {
    if (stack) await stack.cleanup();
    await fakeStop();
  });

  test("429 and 503 answers: up converges or fails clearly, a rerun converges, nothing is duplicated", async () => {
    const { fake, baseUrl } = await startFakeCloudflare();
    fakeStop = () => fake.stop();
    stack = new E2EStack("e2efaults");
    await stack.configure(
      {
        tunnel: {
          mode: "managed",
          accountId: ACCOUNT,
          zone: "example.com",
          hostname: "mqtt-faults.example.com",
          image: tools.cloudflaredImage,
          edge: ["127.0.0.1:7844"],
        },
        broker: { image: IMAGES.mosquitto, users },
        "cloudflare:baseUrl": baseUrl,
      },
      { "cloudflare:apiToken": API_TOKEN },
    );
    fake.injectFaults({ status: 429, count: 3, match: /cfd_tunnel/ });
    fake.injectFaults({ status: 503, count: 2, match: /dns_records/ });
    let first: string;
    try {
      const r = await stack.up();
      first = r.summary.result;
    } catch (e) {
      first = "failed";
      assert.match(
        String(e),
        /429|503|Too Many|Service Unavailable|rate/i,
        "a failure names the API's answer",
      );
    }
    const faulted = fake.requests.filter((r) => r.status === 429 || r.status === 503).length;
    assert.equal(faulted, 5, "every injected fault was served");
    const rerun = await stack.up();
    assert.equal(rerun.summary.result, "succeeded", `first up: ${first}`);
    const live = [...fake.state.tunnels.values()].filter((t) => !t.deletedAt);
    assert.equal(live.length, 1, "one tunnel");
    assert.equal(fake.state.dnsRecords.size, 1, "one DNS record");
    assert.equal(fake.state.configs.size, 1, "one tunnel config");
    await stack.destroy();
    assert.deepEqual(leftovers("e2efaults"), []);
    assert.deepEqual(
      [...fake.state.tunnels.values()].filter((t) => !t.deletedAt),
      [],
    );
  });
});
