/**
 * The zone preflight, end to end: real `pulumi preview` and `pulumi up` of this program with the
 * real cloudflare provider against the fake Cloudflare API, and a real Docker engine.
 * - websockets off: preview and up fail naming the zone and the fix; nothing is created;
 * - websockets on: preview plans the stack;
 * - `tunnel.manageZoneSettings: true`: up turns websockets on, a second preview is clean;
 * - Bot Fight Mode on: a warning, and the deploy still succeeds;
 * - destroy leaves the zone's websockets on (retainOnDelete) and nothing else behind.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { FakeCloudflareApi, RecordedRequest } from "../support/cloudflareApi";
import {
  ACCOUNT,
  API_TOKEN,
  deploySuite,
  E2EStack,
  errorText,
  IMAGES,
  leftovers,
  managedTunnel,
  requireTools,
  startFakeCloudflare,
} from "../support/e2eStack";

const STACK = "h4zone";
const ZONE = "example.com";

/** The requests that change something in Cloudflare. */
const writes = (reqs: RecordedRequest[]) =>
  reqs.filter((r) => r.method !== "GET").map((r) => `${r.method} ${r.path}`);

deploySuite("zone preflight end to end", { timeout: 20 * 60_000 }, () => {
  let fake: FakeCloudflareApi;
  let stack: E2EStack;
  let zoneId: string;
  let config: Record<string, unknown>;

  before(async () => {
    const tools = requireTools();
    const started = await startFakeCloudflare();
    fake = started.fake;
    zoneId = [...fake.state.zones.values()].find((z) => z.name === ZONE)!.id;
    // The README's example (section "Zone settings: WebSockets and Bot Fight Mode").
    config = {
      tunnel: managedTunnel(tools.cloudflaredImage, { hostname: "mqtt-zone.example.com" }),
      broker: {
        image: IMAGES.mosquitto,
        users: [{ name: "sensor", acl: [{ access: "readwrite", topic: "sensors/#" }] }],
      },
      "cloudflare:baseUrl": started.baseUrl,
    };
    stack = new E2EStack(STACK);
    await stack.configure(config, { "cloudflare:apiToken": API_TOKEN });
  });

  after(async () => {
    if (stack) await stack.cleanup();
    if (fake) await fake.stop();
  });

  /** Runs preview and up; both must fail before anything is created. Returns their errors. */
  const refused = async (): Promise<string[]> => {
    fake.requests.length = 0;
    const errors: string[] = [];
    for (const run of [() => stack.preview(), () => stack.up()]) {
      const failed = await run().then(
        () => undefined,
        (e: unknown) => errorText(e),
      );
      assert.ok(failed !== undefined, "expected the deployment to fail");
      errors.push(failed);
    }
    assert.deepEqual(writes(fake.requests), []);
    assert.equal(fake.state.tunnels.size, 0);
    assert.equal(fake.state.dnsRecords.size, 0);
    assert.deepEqual(leftovers(STACK), []);
    return errors;
  };

  test("a pending zone: preview and up fail naming the zone, its status and the fix", async () => {
    fake.setZoneStatus(ZONE, "pending");
    try {
      for (const failed of await refused()) {
        assert.match(
          failed,
          new RegExp(`zone ${ZONE.replace(".", "\\.")} \\(${zoneId}\\) is pending, not active`),
        );
        assert.match(failed, /nameservers point at Cloudflare/);
      }
    } finally {
      fake.setZoneStatus(ZONE, "active");
    }
  });

  test("a zone of another account: preview and up fail naming both accounts", async () => {
    const other = "11111111111111111111111111111111";
    await stack.configure({
      ...config,
      tunnel: { ...(config.tunnel as object), accountId: other },
    });
    try {
      for (const failed of await refused()) {
        assert.match(
          failed,
          new RegExp(
            `zone ${ZONE.replace(".", "\\.")} is in account ${ACCOUNT}, not in tunnel.accountId ${other}`,
          ),
        );
        assert.match(failed, /set mqtt-edge:tunnel\.accountId to the zone's account/);
      }
    } finally {
      await stack.configure(config);
    }
  });

  test("websockets off: preview and up fail naming the zone and the fix, nothing created", async () => {
    fake.setZoneSettings(ZONE, { websockets: "off" });
    for (const failed of await refused()) {
      assert.match(failed, new RegExp(`zone ${ZONE.replace(".", "\\.")} \\(${zoneId}\\)`));
      assert.match(failed, /WebSockets are off/);
      // The message stands on its own line, not only at the end of a serialization chain.
      assert.match(failed, new RegExp(`error: zone ${ZONE.replace(".", "\\.")} \\(`));
      assert.match(failed, /Network > WebSockets/);
      assert.match(failed, /mqtt-edge:tunnel\.manageZoneSettings: true/);
    }
    // The provider read the setting (the real API path) and wrote nothing (refused()).
    const paths = fake.requests.map((r) => `${r.method} ${r.path}`);
    assert.ok(
      paths.includes(`GET /client/v4/zones/${zoneId}/settings/websockets`),
      paths.join("\n"),
    );
    assert.equal(fake.state.configs.size, 0);
    assert.equal(fake.state.zones.get(zoneId)!.websockets, "off");
  });

  test("websockets on: preview plans the stack", async () => {
    fake.setZoneSettings(ZONE, { websockets: "on" });
    const r = await stack.preview();
    assert.ok((r.changeSummary.create ?? 0) > 0, JSON.stringify(r.changeSummary));
    assert.doesNotMatch(r.stdout, /WebSockets are/);
    assert.equal(fake.state.tunnels.size, 0);
  });

  test("manageZoneSettings: up turns websockets on, a second preview is clean", async () => {
    fake.setZoneSettings(ZONE, { websockets: "off" });
    await stack.configure({
      ...config,
      tunnel: { ...(config.tunnel as Record<string, unknown>), manageZoneSettings: true },
    });
    fake.requests.length = 0;
    const r = await stack.up();
    assert.equal(r.summary.result, "succeeded");
    assert.equal(fake.state.zones.get(zoneId)!.websockets, "on");
    const patch = fake.requests.find(
      (x) => x.method === "PATCH" && x.path.endsWith(`/zones/${zoneId}/settings/websockets`),
    );
    assert.ok(patch, fake.requests.map((x) => `${x.method} ${x.path}`).join("\n"));
    assert.equal((patch.body as Record<string, unknown>).value, "on");
    assert.equal(fake.state.tunnels.size, 1);
    assert.equal(fake.state.dnsRecords.size, 1);
    const outputs = await stack.outputs();
    assert.ok(outputs.tunnelId.value);

    const again = await stack.preview();
    const changed = Object.entries(again.changeSummary).filter(([op, n]) => op !== "same" && n > 0);
    assert.deepEqual(changed, [], again.stdout);
  });

  test("a refreshed preview reports no changes against what the API fills in on GET", async () => {
    const r = await stack.refreshedPreview();
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  });

  test("Bot Fight Mode on: a warning naming the zone, and the deploy still succeeds", async () => {
    fake.setZoneSettings(ZONE, { fightMode: true });
    fake.requests.length = 0;
    const r = await stack.up();
    assert.equal(r.summary.result, "succeeded");
    assert.match(r.stdout, /warning: zone example\.com \([0-9a-f]{32}\): Bot Fight Mode is on/);
    assert.match(r.stdout, /Security > Bots/);
    const paths = fake.requests.map((x) => `${x.method} ${x.path}`);
    assert.ok(paths.includes(`GET /client/v4/zones/${zoneId}/bot_management`), paths.join("\n"));
    fake.setZoneSettings(ZONE, { fightMode: false });
  });

  test("destroy leaves websockets on (retainOnDelete) and nothing else", async () => {
    fake.requests.length = 0;
    await stack.destroy();
    assert.equal(fake.state.zones.get(zoneId)!.websockets, "on");
    assert.ok(
      !fake.requests.some((x) => x.method !== "GET" && x.path.includes("/settings/")),
      writes(fake.requests).join("\n"),
    );
    assert.ok([...fake.state.tunnels.values()].every((t) => t.deletedAt !== null));
    assert.equal(fake.state.dnsRecords.size, 0);
    assert.deepEqual(leftovers(STACK), []);
  });
  test("a pending zone of the same name in another account does not count (after destroy: a plan)", async () => {
    fake.addZone({ name: ZONE, accountId: "22222222222222222222222222222222", status: "pending" });
    const r = await stack.preview();
    assert.ok((r.changeSummary.create ?? 0) > 0, JSON.stringify(r.changeSummary));
  });
});
