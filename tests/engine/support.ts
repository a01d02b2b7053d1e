/**
 * Shared by tests/engine/containers.test.ts and bench/failover.ts: preflight (fail loudly, never
 * skip), the stack configs, async process helpers (the event loop must stay free while a probe
 * container talks to an HTTP server in this process), and a mocks tweak for tunnel ids.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { FAKE_ACCOUNT, Recorder, T } from "../unit/harness";

export const IMAGES = {
  mosquitto: "mqtt-edge-e2e/mosquitto:2.0.11",
  client: "mqtt-edge-e2e/mqtt-client:1",
} as const;

function cloudflaredVersion(): string | undefined {
  const candidates = [
    "cloudflared",
    join(homedir(), ".cache", "mqtt-edge", "toolchain", "bin", "cloudflared"),
  ];
  for (const bin of candidates) {
    if (bin.includes("/") && !existsSync(bin)) continue;
    const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
    const v = r.status === 0 ? /version (\S+)/.exec(r.stdout)?.[1] : undefined;
    if (v) return v;
  }
  return undefined;
}

/**
 * Throws, naming the fix, when there is no engine or an image is missing. CI provides both;
 * a test that cannot run must fail, not pass.
 */
export function requireEngine(): { cloudflaredImage: string } {
  const info = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], {
    encoding: "utf8",
  });
  if (info.error || info.status !== 0) {
    throw new Error(
      `engine tests need a Docker engine; none answers at DOCKER_HOST=${process.env.DOCKER_HOST ?? "(unset)"}` +
        ` (${(info.stderr ?? String(info.error)).trim()}).\nFix: eval "$(bash scripts/engine.sh start a)"`,
    );
  }
  let cloudflaredImage = process.env.MQTT_EDGE_CLOUDFLARED_IMAGE;
  if (!cloudflaredImage) {
    const version = cloudflaredVersion();
    if (version) {
      cloudflaredImage = `mqtt-edge-e2e/cloudflared:${version}`;
    } else {
      const tags = spawnSync(
        "docker",
        ["images", "mqtt-edge-e2e/cloudflared", "--format", "{{.Tag}}"],
        {
          encoding: "utf8",
        },
      )
        .stdout.split("\n")
        .filter((t) => t && t !== "<none>");
      if (tags.length !== 1) {
        throw new Error(
          `engine tests need exactly one mqtt-edge-e2e/cloudflared image (found ${tags.length}) or ` +
            `MQTT_EDGE_CLOUDFLARED_IMAGE.\nFix: bash scripts/images.sh (needs ~/.cache/mqtt-edge/toolchain/bin/cloudflared)`,
        );
      }
      cloudflaredImage = `mqtt-edge-e2e/cloudflared:${tags[0]}`;
    }
  }
  const missing = [IMAGES.mosquitto, IMAGES.client, cloudflaredImage].filter(
    (image) => spawnSync("docker", ["image", "inspect", image], { stdio: "ignore" }).status !== 0,
  );
  if (missing.length) {
    throw new Error(
      `engine tests need the local image(s) ${missing.join(", ")} on DOCKER_HOST=${process.env.DOCKER_HOST ?? "(unset)"}.\n` +
        `Fix: bash scripts/images.sh (the cloudflared image needs ~/.cache/mqtt-edge/toolchain/bin/cloudflared)`,
    );
  }
  return { cloudflaredImage };
}

/** A stack name no other run on a shared engine uses: physical names derive from it. */
export function uniqueStack(tag: string): string {
  return `eng${tag}${randomBytes(3).toString("hex")}`;
}

export interface Configs {
  cloudflaredImage: string;
}

/** The broker section every engine config shares; images are the local stand-ins. */
export function brokerSection(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    image: IMAGES.mosquitto,
    users: [
      { name: "sensor", acl: [{ access: "readwrite", topic: "sensors/#" }] },
      { name: "dashboard", acl: [{ access: "read", topic: "#" }] },
    ],
    ...extra,
  };
}

/** Managed mode with connectors that retry a closed local edge address instead of exiting. */
export function managedStack(c: Configs, replicas = 2, broker: Record<string, unknown> = {}) {
  return {
    tunnel: {
      mode: "managed",
      accountId: FAKE_ACCOUNT,
      zone: "example.com",
      hostname: "mqtt.example.com",
      replicas,
      image: c.cloudflaredImage,
      edge: ["127.0.0.1:7844"],
    },
    broker: brokerSection(broker),
  };
}

/**
 * Harness limitation, not a program property: the mocks give every resource the id
 * `<name>-id`, so the mocked token's tunnel id is "local-tunnel-tunnel-id", which cloudflared
 * refuses ("Provided Tunnel token is not valid.") and exits on, restart after restart. Real
 * tunnel ids are UUIDs. While `fn` runs, tunnels get a UUID id (derived from the resource name);
 * the token is still made by the mocks from that id and still flows through the program.
 */
export async function withUuidTunnelIds<R>(fn: () => Promise<R>): Promise<R> {
  const original = Recorder.prototype.newResource;
  Recorder.prototype.newResource = function (this: Recorder, args) {
    const r = original.call(this, args);
    if (args.type === T.tunnel) {
      const h = createHash("sha256").update(args.name).digest("hex");
      r.id = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
    }
    return r;
  };
  try {
    return await fn();
  } finally {
    Recorder.prototype.newResource = original;
  }
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Async `docker ...` (keeps this process's HTTP servers answering). `env` adds variables. */
export function dockerAsync(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn("docker", args, {
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout, stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns a value, or throws `what` after `timeoutMs`. */
export async function until<V>(
  what: string,
  timeoutMs: number,
  check: () => V | undefined | false,
  everyMs = 500,
): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
