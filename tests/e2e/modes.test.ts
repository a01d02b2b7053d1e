/**
 * Quick and none modes deploy with no Cloudflare account, and the broker is reachable; a Cloudflare
 * API that answers 429/503 for a while is survived, and a rerun converges without duplicates.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  ACCOUNT,
  API_TOKEN,
  assertNoSecrets,
  brokerReady,
  connectorToken,
  deploySuite,
  dockerGateway,
  dockerJson,
  E2EStack,
  IMAGES,
  leftovers,
  managedTunnel,
  mqttClient,
  pubsubArgs,
  requireTools,
  startFakeCloudflare,
  startQuickTunnelService,
  until,
} from "../support/e2eStack";

const users = [{ name: "tester", acl: [{ access: "readwrite", topic: "e2e/#" }] }];

deploySuite("quick and none modes", { timeout: 20 * 60_000 }, () => {
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
      const summary = outputs.hosts.value.local;
      assert.equal(summary.mode, "quick");
      assert.deepEqual(summary.websocketUrls, ["ws://127.0.0.1:19001"]);
      await brokerReady(
        "host",
        "tester",
        outputs.mqttCredentials.value.tester,
        "ws://127.0.0.1:19001",
      );
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
      await until("the connector's request for a quick tunnel", 30_000, () => quick.requests > 0);
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
    // The broker, and the one-shot container that handed it its files and exited.
    assert.deepEqual(names.sort(), [
      "container mqtt-edge-e2enone-local-mosquitto",
      "container mqtt-edge-e2enone-local-mosquitto-config-writer",
    ]);
    const writer = dockerJson("inspect", "mqtt-edge-e2enone-local-mosquitto-config-writer")[0];
    assert.equal(writer.State.Status, "exited");
    assert.equal(writer.State.ExitCode, 0);
    const outputs = await stack.outputs();
    await brokerReady(
      "mqtt-edge-e2enone-local-broker",
      "tester",
      outputs.mqttCredentials.value.tester,
    );
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

    // Without persistence a replaced broker starts empty: a retained message is gone.
    const retained = mqttClient(
      "mqtt-edge-e2enone-local-broker",
      pubsubArgs({ user: "tester", topic: "e2e/r", message: "gone", flags: ["--retain"] }),
      outputs.mqttCredentials.value.tester,
    );
    assert.equal(retained.status, 0, retained.output);
    // A new user alone is reloaded in place; a mosquitto.conf change (here max_keepalive)
    // replaces the broker.
    const broker = dockerJson("inspect", "mqtt-edge-e2enone-local-mosquitto")[0].Id;
    await stack.configure({
      tunnel: { mode: "none" },
      broker: {
        image: IMAGES.mosquitto,
        users: [...users, { name: "auditor", acl: [{ access: "read", topic: "#" }] }],
        tcp: { publish: "127.0.0.1:11883" },
        persistence: false,
        maxKeepalive: 30,
      },
    });
    await stack.up();
    assert.notEqual(
      dockerJson("inspect", "mqtt-edge-e2enone-local-mosquitto")[0].Id,
      broker,
      "replaced",
    );
    const after = await stack.outputs();
    await brokerReady(
      "mqtt-edge-e2enone-local-broker",
      "auditor",
      after.mqttCredentials.value.auditor,
    );
    assert.equal(
      after.mqttCredentials.value.tester,
      outputs.mqttCredentials.value.tester,
      "existing users keep their password",
    );
    const lost = mqttClient(
      "mqtt-edge-e2enone-local-broker",
      pubsubArgs({
        user: "auditor",
        topic: "e2e/r",
        message: "gone",
        flags: ["--no-publish", "--timeout", "5"],
      }),
      after.mqttCredentials.value.auditor,
    );
    assert.equal(lost.status, 5, `expected no retained message: ${lost.output}`);
    await stack.destroy();
    assert.deepEqual(leftovers("e2enone"), []);
  });
});

deploySuite("token mode", { timeout: 20 * 60_000 }, () => {
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

  test("connectors run a tunnel made elsewhere, its token set with --secret and on no command line", async () => {
    const { fake, baseUrl } = await startFakeCloudflare();
    fakeStop = () => fake.stop();
    // The tunnel is made outside the program, as the seed's users do in the dashboard.
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const doc = (await r.json()) as { success: boolean; result: any };
      assert.equal(doc.success, true, JSON.stringify(doc));
      return doc.result;
    };
    const made = await api("POST", `/accounts/${ACCOUNT}/cfd_tunnel`, {
      name: "made-in-the-dashboard",
      config_src: "cloudflare",
      tunnel_secret: Buffer.alloc(32, 7).toString("base64"),
    });
    const token: string = await api("GET", `/accounts/${ACCOUNT}/cfd_tunnel/${made.id}/token`);
    const requestsBefore = fake.requests.length;

    stack = new E2EStack("e2etoken");
    await stack.configure(
      {
        tunnel: {
          mode: "token",
          image: tools.cloudflaredImage,
          edge: ["127.0.0.1:7844"],
          replicas: 2,
        },
        broker: { image: IMAGES.mosquitto, users },
      },
      { tunnelToken: token },
    );
    const r = await stack.up();
    assert.equal(r.summary.result, "succeeded");
    for (const i of [1, 2]) {
      const name = `mqtt-edge-e2etoken-local-cloudflared-${i}`;
      const c = dockerJson("inspect", name)[0];
      assert.equal(c.State.Running, true, `${name} running`);
      assert.equal(connectorToken(name), token, `${name} runs the dashboard tunnel's token`);
      assertNoSecrets([JSON.stringify(c.Config.Cmd), JSON.stringify(c.Args), c.Path], [token]);
    }
    assert.equal(fake.requests.length, requestsBefore, "token mode never calls the Cloudflare API");
    const outputs = await stack.outputs();
    assert.equal(outputs.tunnelToken.secret, true);
    assert.equal(outputs.tunnelToken.value, token);
    const { exported, atRest } = await stack.exportState();
    assertNoSecrets([exported, atRest, ...stack.printed], [token]);
    const second = await stack.preview();
    assert.deepEqual(
      Object.entries(second.changeSummary).filter(([op, n]) => op !== "same" && n > 0),
      [],
      second.stdout,
    );
    await stack.destroy();
    assert.deepEqual(leftovers("e2etoken"), []);
  });
});

deploySuite("a flaky Cloudflare API", { timeout: 30 * 60_000 }, () => {
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
        tunnel: managedTunnel(tools.cloudflaredImage, { hostname: "mqtt-faults.example.com" }),
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
