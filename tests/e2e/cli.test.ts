/**
 * The real Pulumi CLI and Node.js language host run this repository's program (Pulumi.yaml,
 * TypeScript entry point, project config declarations). The first check needs no provider plugin:
 * a bad stack must fail in the program, before any resource is registered. The second previews,
 * so it is skipped, naming them, when the pinned plugins are not installed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { ACCOUNT, E2EStack, missingPluginsReason, which } from "../support/e2eStack";

function requireCli(): void {
  for (const bin of ["pulumi", "pulumi-language-nodejs"]) {
    if (!which(bin)) {
      throw new Error(
        `${bin} is not on PATH: eval "$(bash scripts/toolchain.sh --only cli,nodejs)"`,
      );
    }
  }
}

describe("the program under the real Pulumi CLI", { timeout: 10 * 60_000 }, () => {
  const stacks: E2EStack[] = [];
  before(requireCli);
  after(async () => {
    for (const s of stacks) await s.stack?.workspace.removeStack(s.name).catch(() => undefined);
  });

  test("an invalid stack fails with every problem named, and nothing is registered", async () => {
    const stack = new E2EStack("clibad");
    stacks.push(stack);
    await stack.configure(
      {
        tunnel: {
          mode: "managed",
          accountId: ACCOUNT,
          zone: "example.com",
          hostname: "mqtt.other.org",
          image: "cloudflare/cloudflared:latest",
        },
        broker: { users: [{ name: "a\nallow_anonymous true" }], websocketPort: 70000 },
      },
      { tunnelToken: "not-for-managed-mode-0123456789abcdef" },
    );
    let failure = "";
    try {
      await stack.preview();
    } catch (e) {
      failure = String(e);
    }
    assert.ok(failure, "preview must fail");
    for (const expected of [
      'mqtt-edge:tunnel.hostname: "mqtt.other.org" is not inside zone "example.com"',
      'mqtt-edge:tunnel.image: expected a pinned tag, not "latest"',
      "mqtt-edge:broker.websocketPort: expected a port between 1 and 65535",
      "mqtt-edge:broker.users[0].name: expected a user name",
      "mqtt-edge:tunnelToken: only used in token mode",
    ]) {
      assert.ok(failure.includes(expected), `missing "${expected}" in:\n${failure.slice(0, 3000)}`);
    }
    assert.ok(
      !failure.includes("not-for-managed-mode-0123456789abcdef"),
      "the secret is not echoed",
    );
    const state = JSON.parse((await stack.exportState()).exported);
    assert.deepEqual(state.deployment.resources ?? [], [], "no resource was registered");
  });

  test(
    "the project's declared defaults reach the program through the engine",
    {
      skip: missingPluginsReason(),
    },
    async () => {
      const stack = new E2EStack("clidefaults");
      stacks.push(stack);
      // No mqtt-edge keys at all: Pulumi.yaml's defaults (quick tunnel, one user) must make a valid
      // stack, so the run gets past validation and on to registering provider resources.
      await stack.configure({});
      const events: EngineEvent[] = [];
      let failure = "";
      try {
        await stack.preview((e) => events.push(e));
      } catch (e) {
        failure = String(e);
      }
      assert.ok(!failure.includes("invalid stack configuration"), failure.slice(0, 3000));

      // The engine's resolved configuration, as handed to the program, carries the defaults.
      const prelude = events.find((e) => e.preludeEvent)?.preludeEvent;
      assert.ok(prelude, "the engine reported the configuration it ran with");
      assert.deepEqual(JSON.parse(prelude.config["mqtt-edge:tunnel"]), { mode: "quick" });
      const broker = JSON.parse(prelude.config["mqtt-edge:broker"]);
      assert.deepEqual(
        broker.users.map((u: { name: string }) => u.name),
        ["client"],
      );

      assert.equal(failure, "", "the default stack previews cleanly");
      // Each plugin was found at exactly the version its SDK asks for: no plugin from PATH, no
      // version mismatch warning.
      const warnings = events
        .map((e) => e.diagnosticEvent)
        .filter(
          (d) =>
            d &&
            (d.severity === "warning" || d.severity === "error") &&
            /version|PATH/i.test(d.message),
        )
        .map((d) => d!.message);
      assert.deepEqual(warnings, []);
    },
  );
});
