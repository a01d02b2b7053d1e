/**
 * Day-2 changes under load, by `pulumi up` with the real providers: 20 clients on the broker
 * network over WebSockets, each publishing at QoS 1 every 100 ms on a topic of its own and
 * subscribed to it. In turn: add a user, change an ACL, rotate one user's password, remove a
 * user. Each time the broker container keeps its Id and StartedAt, no unaffected client loses
 * its connection or a message, the new credentials work, and the revoked ones are refused and
 * their live connection closed. Then a tunnel secret rotation with two connectors, sampled every
 * 100 ms: never fewer than one running. Last, `npm run probe` (broker.probeUser) at the broker's
 * origin: a round trip, and each failing stage named with its exit status.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { FakeCloudflareApi } from "../support/cloudflareApi";
import {
  API_TOKEN,
  BROKER_WS,
  brokerReady,
  deploySuite,
  docker,
  dockerJson,
  E2EStack,
  IMAGES,
  leftovers,
  managedTunnel,
  mqttClient,
  publishRetained,
  requireTools,
  ROOT,
  startFakeCloudflare,
  until,
} from "../support/e2eStack";
import { PROBE_TOPICS } from "../../config";
import { probe } from "../../probe/stages";
import { type ClientReport, LoadFleet } from "../support/loadClients";
import { silentWebSocketProxy } from "../support/silentProxy";

const STACK = "e2ereload";
const PREFIX = `mqtt-edge-${STACK}-local`;
const BROKER_NET = `${PREFIX}-broker`;
const BROKER = `${PREFIX}-mosquitto`;
/** How long a revocation may take to reach a live connection: the reloader polls every second. */
const REVOKE_MS = 10_000;

type User = { name: string; acl: { access: string; topic: string }[]; passwordVersion?: string };
const own = (name: string): User => ({
  name,
  acl: [{ access: "readwrite", topic: `load/${name}/#` }],
});
/** 18 devices that no change touches, one to rotate, one to remove. */
const DEVICES = Array.from({ length: 18 }, (_, i) => own(`dev${String(i + 1).padStart(2, "0")}`));

function brokerIdentity(): { id: string; startedAt: string } {
  const c = dockerJson("inspect", BROKER)[0];
  return { id: c.Id, startedAt: c.State.StartedAt };
}

function connects(user: string, password: string): number {
  return mqttClient(
    BROKER_NET,
    ["connect", "--url", BROKER_WS, "--user", user, "--timeout", "5"],
    password,
  ).status;
}

deploySuite(
  "users and ACLs change in place under load; connectors roll",
  {
    timeout: 30 * 60_000,
  },
  () => {
    let fake: FakeCloudflareApi;
    let stack: E2EStack;
    let config: Record<string, unknown>;
    let passwords: Record<string, string>;
    let fleet: LoadFleet | undefined;
    let broker: { id: string; startedAt: string };
    let users: User[];
    /** Users whose connections a change is meant to close. */
    const affected = new Set<string>();

    async function apply(next: User[]): Promise<void> {
      users = next;
      config = { ...config, broker: { ...(config.broker as object), users } };
      await stack.configure(config);
      const r = await stack.up();
      assert.equal(r.summary.result, "succeeded");
      passwords = (await stack.outputs()).mqttCredentials.value;
    }

    /** Every unaffected client connected all along, with nothing stuck, lost or duplicated. */
    async function unaffectedClean(when: string): Promise<ClientReport[]> {
      const report = await fleet!.report();
      const bad = report.filter(
        (c) =>
          !affected.has(c.user) &&
          (!c.connected || c.closes || c.stuck || c.lost || c.duplicates || c.errors.length),
      );
      assert.deepEqual(bad, [], `${when}: clients that should not have noticed`);
      assert.ok(
        report.filter((c) => !affected.has(c.user)).every((c) => c.sent > 0),
        `${when}: every unaffected client is publishing`,
      );
      assert.deepEqual(
        brokerIdentity(),
        broker,
        `${when}: the broker was not replaced or restarted`,
      );
      return report;
    }

    before(async () => {
      const tools = requireTools();
      const started = await startFakeCloudflare();
      fake = started.fake;
      users = [...DEVICES, own("rotated"), own("gone")];
      config = {
        tunnel: managedTunnel(tools.cloudflaredImage, {
          hostname: "mqtt-reload.example.com",
          replicas: 2,
        }),
        broker: { image: IMAGES.mosquitto, persistence: false, users, probeUser: "probe" },
        "cloudflare:baseUrl": started.baseUrl,
      };
      stack = new E2EStack(STACK);
      await stack.configure(config, { "cloudflare:apiToken": API_TOKEN });
      const r = await stack.up();
      assert.equal(r.summary.result, "succeeded");
      passwords = (await stack.outputs()).mqttCredentials.value;
      await brokerReady(BROKER_NET, "dev01", passwords.dev01);
      broker = brokerIdentity();
      fleet = new LoadFleet(
        STACK,
        BROKER_NET,
        BROKER_WS,
        users.map((u) => ({
          id: `load-${u.name}`,
          user: u.name,
          password: passwords[u.name],
          topic: `load/${u.name}/seq`,
        })),
      );
      await until("all 20 clients connected and publishing", 60_000, async () => {
        const report = await fleet!.report();
        return report.length === 20 && report.every((c) => c.connected && c.sent > 0);
      });
    });

    after(async () => {
      await fleet?.stop();
      if (stack) await stack.cleanup();
      if (fake) await fake.stop();
    });

    test("a new user works after up; nobody else notices", async () => {
      await apply([...users, own("newcomer")]);
      await until("the new user connects", REVOKE_MS, () =>
        connects("newcomer", passwords.newcomer) === 0 ? true : undefined,
      );
      await unaffectedClean("add a user");
    });

    test("an ACL change applies to dev01's live connection; nobody is disconnected", async () => {
      const at = { network: BROKER_NET, url: BROKER_WS, user: "dev01", password: passwords.dev01 };
      assert.equal(publishRetained(at, "extra/dev01", "before", 5).status, 4, "not yet allowed");
      await apply(
        users.map((u) =>
          u.name === "dev01" ? { ...u, acl: [...u.acl, { access: "write", topic: "extra/#" }] } : u,
        ),
      );
      await until("dev01 may publish to extra/#", REVOKE_MS, () =>
        publishRetained(at, "extra/dev01", "after", 5).status === 0 ? true : undefined,
      );
      await unaffectedClean("change an ACL");
    });

    test("rotating one user's password: the old one is refused, its connection closed", async () => {
      const old = passwords.rotated;
      const others = Object.fromEntries(Object.entries(passwords).filter(([u]) => u !== "rotated"));
      affected.add("rotated");
      await apply(users.map((u) => (u.name === "rotated" ? { ...u, passwordVersion: "2" } : u)));
      assert.notEqual(passwords.rotated, old, "a new password");
      assert.deepEqual(
        Object.fromEntries(Object.entries(passwords).filter(([u]) => u !== "rotated")),
        others,
        "no other password changed",
      );
      const closed = await until("the rotated user's connection closed", REVOKE_MS, async () => {
        const c = (await fleet!.report()).find((x) => x.user === "rotated")!;
        return !c.connected && c.closes > 0 ? c : undefined;
      });
      assert.equal(closed.closes, 1);
      assert.equal(connects("rotated", old), 4, "the old password is refused");
      assert.equal(connects("rotated", passwords.rotated), 0, "the new one works");
      await unaffectedClean("rotate a password");
    });

    test("removing a user closes its live connection and refuses it after", async () => {
      const password = passwords.gone;
      affected.add("gone");
      await apply(users.filter((u) => u.name !== "gone"));
      await until("the removed user's connection closed", REVOKE_MS, async () => {
        const c = (await fleet!.report()).find((x) => x.user === "gone")!;
        return !c.connected && c.closes > 0 ? true : undefined;
      });
      assert.equal(connects("gone", password), 4, "the removed user is refused");
      await unaffectedClean("remove a user");
    });

    test("the files keep their owner and modes after the reloads", () => {
      const ls = docker("exec", BROKER, "ls", "-ln", "/mosquitto/config");
      const files: Record<string, string> = {};
      for (const line of ls.split("\n")) {
        const f = line.trim().split(/\s+/);
        if (f.length >= 9 && f[0].startsWith("-")) files[f[8]] = `${f[0]} ${f[2]}:${f[3]}`;
      }
      assert.deepEqual(files, {
        "mosquitto.conf": "-rw-r----- 1883:1883",
        acl: "-rw------- 1883:1883",
        passwd: "-rw------- 1883:1883",
        generation: "-rw------- 1883:1883",
      });
      // mosquitto and the reloader write to stderr, which `docker logs` passes on as stderr.
      const r = spawnSync("docker", ["logs", BROKER], { encoding: "utf8" });
      const logs = `${r.stdout}${r.stderr}`;
      assert.equal((logs.match(/mqtt-edge: reloading passwords and ACL/g) ?? []).length, 4, logs);
      for (const secret of Object.values(passwords)) assert.ok(!logs.includes(secret));
    });

    test("rotating the tunnel secret replaces the two connectors one at a time", async () => {
      const ids = () =>
        docker(
          "ps",
          "-q",
          "--no-trunc",
          "--filter",
          `label=dev.mqtt-edge.stack=${STACK}`,
          "--filter",
          "label=dev.mqtt-edge.replica",
          "--filter",
          "status=running",
        )
          .split("\n")
          .filter(Boolean);
      const before = ids();
      assert.equal(before.length, 2);
      const samples: { at: number; running: number }[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          samples.push({ at: Date.now(), running: ids().length });
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      config = { ...config, tunnel: { ...(config.tunnel as object), secretVersion: "2" } };
      await stack.configure(config);
      try {
        const r = await stack.up();
        assert.equal(r.summary.result, "succeeded");
      } finally {
        sampling = false;
        await sampler;
      }
      const after = ids();
      assert.equal(after.length, 2);
      assert.deepEqual(
        after.filter((id) => before.includes(id)),
        [],
        "both connectors were replaced",
      );
      const counts = samples.map((x) => x.running);
      assert.ok(samples.length > 10, `${samples.length} samples`);
      assert.ok(Math.min(...counts) >= 1, `running connectors sampled: ${counts.join(",")}`);
      // How long one connector was down: what a one-replica tunnel goes without any.
      let down = 0;
      for (let i = 1; i < samples.length; i++) {
        if (samples[i - 1].running < 2) down += samples[i].at - samples[i - 1].at;
      }
      console.log(`one connector down for ${down} ms in all (samples: ${counts.join("")})`);
      await unaffectedClean("rotate the tunnel secret");
    });

    /** `npm run probe` against this stack, as a user runs it (exit status, what it printed). */
    // Not spawnSync: the stand-in servers below answer from this process's event loop.
    async function probeCli(...args: string[]): Promise<{ status: number; out: string }> {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          join(ROOT, "probe/cli.ts"),
          "--stack",
          STACK,
          "--cwd",
          stack.dir,
          ...args,
        ],
        { cwd: ROOT, env: { ...process.env, ...stack.envVars } },
      );
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
      const status = await new Promise<number>((r) => child.on("close", (code) => r(code ?? -1)));
      clearTimeout(timer);
      return { status, out };
    }
    /** The broker's WebSocket listener as cloudflared dials it, minus the edge: from this host. */
    const origin = () =>
      `ws://${dockerJson("inspect", BROKER)[0].NetworkSettings.Networks[BROKER_NET].IPAddress}:9001`;

    test("npm run probe: a round trip at the broker's origin; stages named when it fails", async () => {
      await fleet?.stop();
      fleet = undefined;
      const ok = await probeCli("--url", origin());
      assert.equal(ok.status, 0, ok.out);
      assert.match(ok.out, /^local websocket ws:\/\/[\d.]+:9001: ok, round trip \d+ ms$/m);
      for (const secret of Object.values(passwords)) assert.ok(!ok.out.includes(secret));

      // The probe user's password wrong: CONNACK 5, not authorised, from the deployed broker.
      const wrong = await probe({
        url: origin(),
        user: "probe",
        password: "not-the-probe-password",
        topics: PROBE_TOPICS,
        timeoutMs: 10_000,
      });
      assert.deepEqual(wrong.ok ? wrong : [wrong.stage, wrong.code], ["connack", 5]);

      // A challenge page where the upgrade should be, and a proxy that never answers CONNECT.
      const challenge = createServer((_req, res) => {
        res.writeHead(403, { "cf-mitigated": "challenge" });
        res.end("<title>Just a moment...</title>");
      });
      const silent = await silentWebSocketProxy();
      await new Promise<void>((r) => challenge.listen(0, "127.0.0.1", r));
      try {
        const port = (challenge.address() as { port: number }).port;
        const c = await probeCli("--url", `ws://127.0.0.1:${port}`);
        assert.equal(c.status, 12, c.out);
        assert.match(c.out, /FAILED at upgrade: HTTP 403: a Cloudflare challenge page/);
        const t = await probeCli("--url", silent.url, "--timeout", "2");
        assert.equal(t.status, 13, t.out);
        assert.match(t.out, /FAILED at connack: no CONNACK within 2000 ms/);
      } finally {
        challenge.close();
        silent.close();
      }

      // The broker stopped: nothing answers at its origin.
      const url = origin();
      docker("stop", BROKER);
      try {
        const down = await probeCli("--url", url, "--timeout", "5");
        assert.equal(down.status, 11, down.out);
        assert.match(down.out, /FAILED at tcp: /);
      } finally {
        docker("start", BROKER);
      }
      await brokerReady(BROKER_NET, "dev01", passwords.dev01);
    });

    test("destroy leaves nothing", async () => {
      await fleet?.stop();
      fleet = undefined;
      await stack.destroy();
      assert.deepEqual(leftovers(STACK), []);
    });
  },
);
