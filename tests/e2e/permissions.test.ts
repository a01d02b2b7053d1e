/**
 * API token permissions, end to end: real `pulumi preview` and `pulumi up` of this program with
 * the real cloudflare provider against the fake Cloudflare API, whose tokens carry permission
 * groups and are refused with Cloudflare's 403 where they lack one.
 * - for each permission the README lists, a token without it fails `preview` in the preflight,
 *   naming that permission, before anything is created;
 * - a token holding exactly the README's list deploys managed mode with `access: true`, a
 *   `tcpHostname` and `manageZoneSettings`, and destroys it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { requiredPermissions } from "../../shared/cloudflarePermissions";
import type { FakeCloudflareApi } from "../support/cloudflareApi";
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

const STACK = "e2eperms";

deploySuite("API token permissions end to end", { timeout: 20 * 60_000 }, () => {
  let fake: FakeCloudflareApi;
  let stack: E2EStack;
  let config: Record<string, unknown>;
  const needed = requiredPermissions({ access: true, tcpHostname: true, manageZoneSettings: true });

  before(async () => {
    const tools = requireTools();
    const started = await startFakeCloudflare();
    fake = started.fake;
    stack = new E2EStack(STACK);
    config = {
      tunnel: managedTunnel(tools.cloudflaredImage, {
        hostname: "mqtt-perms.example.com",
        tcpHostname: "mqtt-perms-tcp.example.com",
        access: true,
        manageZoneSettings: true,
      }),
      broker: { image: IMAGES.mosquitto },
      "cloudflare:baseUrl": started.baseUrl,
    };
    await stack.configure(config, { "cloudflare:apiToken": API_TOKEN });
  });

  after(async () => {
    if (stack) await stack.cleanup();
    if (fake) await fake.stop();
  });

  const withToken = async (permissions: string[]) => {
    const token = fake.addToken({ permissions, accounts: [ACCOUNT] });
    await stack.configure(config, { "cloudflare:apiToken": token });
  };

  for (const missing of needed) {
    test(`a token without "${missing}" fails preview naming it, and nothing is created`, async () => {
      await withToken(needed.filter((p) => p !== missing));
      fake.requests.length = 0;
      const failed = await stack.preview().then(
        () => undefined,
        (e: unknown) => errorText(e),
      );
      assert.ok(failed !== undefined, "expected the preview to fail");
      assert.match(
        failed,
        new RegExp(`needs the permission "${missing.replace(/[:.]/g, "\\$&")}"`),
      );
      assert.deepEqual(
        fake.requests.filter((r) => r.method !== "GET").map((r) => `${r.method} ${r.path}`),
        [],
      );
      assert.equal(fake.state.tunnels.size, 0);
    });
  }

  test("a token with exactly the README's list deploys access, a TCP hostname and zone settings", async () => {
    await withToken(needed);
    const r = await stack.up();
    assert.equal(r.summary.result, "succeeded");
    assert.equal([...fake.state.tunnels.values()].filter((t) => !t.deletedAt).length, 1);
    assert.equal(fake.state.accessApps.size, 2);
    await stack.destroy();
    assert.deepEqual(leftovers(STACK), []);
    assert.equal(fake.state.accessApps.size, 0);
  });
});
