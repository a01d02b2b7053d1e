/**
 * The README's quick start, checked after `bash scripts/dev-up.sh` has deployed the dev stack
 * (Pulumi.dev.yaml) from a clean clone: the broker answers on 127.0.0.1 to the generated
 * credentials from `pulumi stack output --show-secrets`, anonymous clients and wrong passwords are
 * refused, `npm run probe` makes its round trip as the probe user, the quick-tunnel connector
 * runs (and, with no way to Cloudflare, says so in its log), and `pulumi destroy` leaves nothing
 * of the stack on the engine.
 *
 *   bash scripts/dev-up.sh && node --import tsx --test tests/quickstart/dev-stack.test.ts
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import mqtt from "mqtt";

const ROOT = join(__dirname, "..", "..");
const PREFIX = "mqtt-edge-dev-local";

/** The engine scripts/dev-up.sh deployed to, by the same rule it uses. */
function dockerHost(): string {
  if (process.env.DOCKER_HOST) return process.env.DOCKER_HOST;
  if (existsSync("/var/run/docker.sock")) return "unix:///var/run/docker.sock";
  return execFileSync("bash", ["scripts/engine.sh", "env", "dev"], { cwd: ROOT, encoding: "utf8" })
    .trim()
    .replace(/^export DOCKER_HOST=/, "");
}

const env = {
  ...process.env,
  DOCKER_HOST: dockerHost(),
  PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL ?? `file://${join(ROOT, ".pulumi-state")}`,
  PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "",
  PULUMI_SKIP_UPDATE_CHECK: "true",
};
const pulumi = (...args: string[]) =>
  execFileSync("pulumi", [...args, "--stack", "dev", "--non-interactive"], {
    cwd: ROOT,
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
const docker = (...args: string[]) =>
  execFileSync("docker", args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/** Connects once; resolves "ok", or the broker's refusal / the error's code. */
function connect(url: string, username?: string, password?: string): Promise<string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      username,
      password,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
    const done = (r: string) => {
      client.end(true);
      resolve(r);
    };
    client.once("connect", () => done("ok"));
    client.once("error", (e: Error & { code?: string | number }) =>
      done(`refused ${e.code ?? e.message}`),
    );
    client.once("close", () => done("closed"));
  });
}

/** Publishes to and receives back from `topic` as `username`. */
function roundTrip(
  url: string,
  username: string,
  password: string,
  topic: string,
): Promise<string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      username,
      password,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
    const timer = setTimeout(() => {
      client.end(true);
      resolve("timeout");
    }, 10_000);
    client.once("error", (e) => {
      clearTimeout(timer);
      client.end(true);
      resolve(`error ${e.message}`);
    });
    client.on("message", (t, payload) => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.end(true);
      resolve(payload.toString());
    });
    client.once("connect", () =>
      client.subscribe(topic, { qos: 1 }, () => client.publish(topic, "quickstart", { qos: 1 })),
    );
  });
}

describe("the dev stack from the README's quick start", { timeout: 10 * 60_000 }, () => {
  let credentials: Record<string, string>;
  let destroyed = false;

  before(() => {
    const outputs = JSON.parse(pulumi("stack", "output", "--json", "--show-secrets"));
    credentials = outputs.mqttCredentials;
    assert.ok(credentials && Object.keys(credentials).length > 0, JSON.stringify(outputs));
  });

  after(() => {
    if (!destroyed) spawnSync("pulumi", ["destroy", "--yes", "--stack", "dev"], { cwd: ROOT, env });
  });

  test("the broker answers on 127.0.0.1 (WebSockets and MQTT) to each generated credential", async () => {
    assert.equal(
      JSON.parse(docker("inspect", `${PREFIX}-mosquitto`))[0].State.Health.Status,
      "healthy",
    );
    for (const [user, password] of Object.entries(credentials)) {
      assert.equal(await connect("ws://127.0.0.1:9001", user, password), "ok", `${user} over ws`);
      assert.equal(
        await connect("mqtt://127.0.0.1:1883", user, password),
        "ok",
        `${user} over tcp`,
      );
    }
    // The dev stack's pattern clients/%u/# lets every user publish and subscribe under its name.
    const [user, password] = Object.entries(credentials)[0];
    assert.equal(
      await roundTrip("ws://127.0.0.1:9001", user, password, `clients/${user}/quickstart`),
      "quickstart",
    );
  });

  test("npm run probe -- --stack dev prints a round trip for the local host", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "probe/cli.ts", "--stack", "dev"], {
      cwd: ROOT,
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^local websocket ws:\/\/127\.0\.0\.1:9001: ok, round trip \d+ ms$/m);
    for (const secret of Object.values(credentials)) assert.ok(!r.stdout.includes(secret));
    const json = spawnSync(
      process.execPath,
      ["--import", "tsx", "probe/cli.ts", "--stack", "dev", "--json"],
      { cwd: ROOT, env, encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(json.status, 0, `${json.stdout}${json.stderr}`);
    const line = JSON.parse(json.stdout.trim().split("\n")[0]);
    assert.equal(line.host, "local");
    assert.equal(line.ok, true);
  });

  test("anonymous clients and wrong passwords are refused", async () => {
    for (const url of ["ws://127.0.0.1:9001", "mqtt://127.0.0.1:1883"]) {
      assert.match(await connect(url), /^refused (5|135)$/, `anonymous on ${url}`);
      const [user] = Object.keys(credentials);
      assert.match(await connect(url, user, "not-the-password"), /^refused (4|5|134|135)$/);
    }
  });

  test("without a way to Cloudflare, the quick-tunnel connector says so and is restarted to retry", async () => {
    // What the README tells a user offline: cloudflared cannot get a quick tunnel, logs why and
    // exits; its restart policy starts it again, with Docker's growing delay. The broker is
    // unaffected (the test above).
    const name = `${PREFIX}-cloudflared-1`;
    const c = JSON.parse(docker("inspect", name))[0];
    assert.equal(c.HostConfig.RestartPolicy.Name, "unless-stopped");
    const deadline = Date.now() + 60_000;
    let logs = "";
    while (Date.now() < deadline) {
      const r = spawnSync("docker", ["logs", name], { env, encoding: "utf8" });
      logs = `${r.stdout}${r.stderr}`;
      if (/failed to request quick Tunnel|https:\/\/[a-z0-9-]+\.trycloudflare\.com/.test(logs))
        break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.match(logs, /Requesting new quick Tunnel on trycloudflare\.com/);
    // Here (no internet) the request fails; with internet the log carries the tunnel's URL.
    assert.match(logs, /failed to request quick Tunnel|https:\/\/[a-z0-9-]+\.trycloudflare\.com/);
  });

  test("pulumi destroy leaves nothing of the stack", () => {
    pulumi("destroy", "--yes");
    destroyed = true;
    const filter = "label=dev.mqtt-edge.stack=dev";
    assert.equal(docker("ps", "-aq", "--filter", filter), "");
    assert.equal(docker("network", "ls", "-q", "--filter", filter), "");
    assert.equal(docker("volume", "ls", "-q", "--filter", filter), "");
  });
});
