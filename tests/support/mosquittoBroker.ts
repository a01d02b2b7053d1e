/**
 * Runs the real Debian mosquitto (`/usr/sbin/mosquitto`) with the files the program renders.
 *
 * The stack config goes through parseConfig exactly as the engine hands it over (one JSON string
 * per key), and the files come from the same renderers, with the same inputs, that MqttBroker
 * (components/broker.ts) uses. Only the paths (a temporary directory) and the ports (free ones)
 * differ, plus one textual change: the MQTT listener is bound to 127.0.0.1 (see bindLoopback).
 *
 * Run as root, mosquitto drops to the `mosquitto` user before it opens the password and ACL files
 * and the data directory, so everything is chowned to that user with mode 0600/0700, as the
 * production container has them owned by uid 1883.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrokerConfig } from "../../config";
import { reloaderScript } from "../../components/broker";
import { renderAclFile, renderMosquittoConf, renderPasswordFile } from "../../components/render";
import { parseStack } from "./stackConfig";

export const MOSQUITTO = "/usr/sbin/mosquitto";
if (
  !existsSync(MOSQUITTO) ||
  !existsSync("/usr/bin/mosquitto_passwd") ||
  !existsSync("/usr/bin/mosquitto_pub")
) {
  // Loud on purpose: these tests prove the rendered files on the real broker; .ci/run installs it.
  throw new Error(
    "the broker tests need Debian's mosquitto and mosquitto-clients: apt-get install mosquitto mosquitto-clients",
  );
}
export const LOOPBACK = "127.0.0.1";
/** Seed of the password file's salts: MqttBroker gets `${project}-${stack}-${host}` (edgeHost.ts). */
export const PHYSICAL_NAME = "mqtt-edge-test-local";

/** The `mqtt-edge:broker` object as a user writes it in Pulumi.<stack>.yaml. */
export type BrokerInput = Record<string, unknown>;

/**
 * Validates a broker config as `pulumi up` would: the value arrives as a JSON string under
 * `mqtt-edge:broker` and goes through parseConfig with the rest of the (default) stack config.
 */
export function parseBroker(broker: BrokerInput): BrokerConfig {
  return parseStack({ broker }).broker;
}

/** Passwords as the program generates them: 32 letters and digits (random.RandomPassword). */
export function generatePassword(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(randomBytes(32), (b) => alphabet[b % alphabet.length]).join("");
}

export interface RenderedFiles {
  conf: string;
  acl: string;
  /** Absent when there are no users (MqttBroker uploads no password file then). */
  passwd?: string;
}

export interface FilePaths {
  config: string;
  passwords: string;
  acl: string;
  data: string;
}

export function pathsIn(dir: string): FilePaths {
  return {
    config: join(dir, "mosquitto.conf"),
    passwords: join(dir, "passwd"),
    acl: join(dir, "acl"),
    data: join(dir, "data") + "/",
  };
}

/**
 * The three files, rendered with the inputs MqttBroker passes (broker.ts), with `paths` and the
 * listener ports overridden. Keep in step with broker.ts; parity.test.ts checks that it is.
 */
export function renderBrokerFiles(
  b: BrokerConfig,
  passwords: Record<string, string>,
  opts: { paths?: FilePaths; tcpPort?: number; websocketPort?: number; seed?: string } = {},
): RenderedFiles {
  const conf = renderMosquittoConf({
    allowAnonymous: b.allowAnonymous,
    persistence: b.persistence,
    websocketPort: opts.websocketPort ?? b.websocketPort,
    tcpPort: opts.tcpPort,
    maxConnections: b.maxConnections,
    messageSizeLimit: b.messageSizeLimit,
    maxKeepalive: b.maxKeepalive,
    passwordFile: b.users.length > 0 || b.monitorUser !== undefined,
    paths: opts.paths,
  });
  const acl = renderAclFile({
    users: b.users,
    patterns: b.patterns,
    anonymous: b.anonymousAcl,
    monitorUser: b.monitorUser,
  });
  const names = [...b.users.map((u) => u.name), ...(b.monitorUser ? [b.monitorUser] : [])];
  const passwd = names.length
    ? renderPasswordFile(
        names.map((n) => {
          const pw = passwords[n];
          if (pw === undefined) throw new Error(`no password for MQTT user "${n}"`);
          return { name: n, password: pw };
        }),
        opts.seed ?? PHYSICAL_NAME,
      )
    : undefined;
  return { conf, acl, passwd };
}

/**
 * renderMosquittoConf writes `listener <port>` (all interfaces, as the container needs) and has no
 * bind-address input. To keep the plain MQTT listener on loopback the harness rewrites that one
 * line to `listener <port> 127.0.0.1`; nothing else in the file changes. The websockets listener
 * is left alone: Debian's 2.0.11 (libwebsockets linked in) ignores a listener address of
 * 127.0.0.1 there and listens on every address anyway, and refuses `::1` or `localhost` outright.
 */
export function bindLoopback(conf: string, port: number): string {
  const re = new RegExp(`^listener ${port}$`, "m");
  if (!re.test(conf)) throw new Error(`rendered config has no "listener ${port}" line:\n${conf}`);
  return conf.replace(re, `listener ${port} ${LOOPBACK}`);
}

/**
 * A port nobody listens on right now: bind port 0, read it, release it. Bound on every address
 * (not just loopback) because the websockets listener takes the port on every address.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function mosquittoIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined; // not root: mosquitto does not switch user
  const uid = Number(execFileSync("id", ["-u", "mosquitto"]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", "mosquitto"]).toString().trim());
  return { uid, gid };
}

function own(path: string, mode: number): void {
  const ids = mosquittoIds();
  if (ids) chownSync(path, ids.uid, ids.gid);
  chmodSync(path, mode);
}

/**
 * Whether something listens on <port> (on 127.0.0.1 or any address), read from /proc/net/tcp{,6}
 * instead of connecting: Debian's 2.0.11 counts a closed connection twice against
 * max_connections (fixed upstream in 2.0.12), so a probe that connected would skew those tests.
 */
function listening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return ["/proc/net/tcp", "/proc/net/tcp6"].some((file) =>
    readFileSync(file, "utf8")
      .split("\n")
      .some((line) => {
        const f = line.trim().split(/\s+/);
        return f[3] === "0A" && f[1]?.endsWith(`:${hex}`);
      }),
  );
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export interface StartOptions {
  /** The `mqtt-edge:broker` config object; parsed with parseConfig. */
  broker?: BrokerInput;
  /** An already-built config, e.g. one that bypasses validation on purpose. */
  config?: BrokerConfig;
  /** Passwords per user; generated when absent. */
  passwords?: Record<string, string>;
  /** Last-moment edit of the rendered files (mutation and injection tests, the bench). */
  edit?: (files: RenderedFiles, ports: { tcp: number; ws: number }) => RenderedFiles;
  /** How long to wait for both listeners. */
  readyTimeoutMs?: number;
  /**
   * Run mosquitto under the broker container's reloader (busybox sh, reloaderScript) with a
   * generation marker in the broker's directory, as MqttBroker does; `handOver` then changes
   * the files the way the config writer does.
   */
  reloader?: boolean;
}

/** A running broker on free loopback ports, in its own temporary directory. */
export class Broker {
  readonly dir: string;
  readonly paths: FilePaths;
  readonly config: BrokerConfig;
  readonly passwords: Record<string, string>;
  readonly files: RenderedFiles;
  private child?: ChildProcess;
  private output = "";
  private exitCode: number | null = null;
  private generation = 0;

  private constructor(
    readonly tcpPort: number,
    readonly wsPort: number,
    config: BrokerConfig,
    passwords: Record<string, string>,
    edit?: StartOptions["edit"],
    readonly reloader = false,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "mqtt-edge-broker-"));
    this.paths = pathsIn(this.dir);
    this.config = config;
    this.passwords = passwords;
    const rendered = renderBrokerFiles(config, passwords, {
      paths: this.paths,
      tcpPort,
      websocketPort: wsPort,
    });
    this.files = edit ? edit(rendered, { tcp: tcpPort, ws: wsPort }) : rendered;
    own(this.dir, 0o700);
    mkdirSync(this.paths.data);
    own(this.paths.data, 0o700);
    writeFileSync(this.paths.config, bindLoopback(this.files.conf, tcpPort));
    own(this.paths.config, 0o640);
    writeFileSync(this.paths.acl, this.files.acl);
    own(this.paths.acl, 0o600);
    if (this.files.passwd !== undefined) {
      writeFileSync(this.paths.passwords, this.files.passwd);
      own(this.paths.passwords, 0o600);
    }
  }

  static async start(opts: StartOptions): Promise<Broker> {
    const config = opts.config ?? parseBroker(opts.broker ?? {});
    const passwords = { ...opts.passwords };
    for (const u of config.users) passwords[u.name] ??= generatePassword();
    if (config.monitorUser) passwords[config.monitorUser] ??= generatePassword();
    const tcp = await freePort();
    let ws = await freePort();
    while (ws === tcp) ws = await freePort();
    const broker = new Broker(tcp, ws, config, passwords, opts.edit, opts.reloader);
    if (opts.reloader) broker.writeMarker();
    try {
      await broker.launch(opts.readyTimeoutMs);
    } catch (e) {
      await broker.dispose();
      throw e;
    }
    return broker;
  }

  get markerPath(): string {
    return join(this.dir, "generation");
  }

  /** The generation marker, written whole and then renamed into place; owned like the files. */
  writeMarker(): void {
    const tmp = `${this.markerPath}.tmp`;
    writeFileSync(tmp, `set-${++this.generation}`);
    own(tmp, 0o600);
    execFileSync("mv", [tmp, this.markerPath]);
  }

  /**
   * What the config writer does with a new user set: the ACL and password files replaced in
   * place, then (unless `marker: false`) the generation marker last.
   */
  handOver(
    config: BrokerConfig,
    passwords: Record<string, string>,
    opts: { marker?: boolean } = {},
  ): void {
    const files = renderBrokerFiles(config, passwords, {
      paths: this.paths,
      tcpPort: this.tcpPort,
      websocketPort: this.wsPort,
    });
    writeFileSync(this.paths.acl, files.acl);
    own(this.paths.acl, 0o600);
    if (files.passwd !== undefined) {
      writeFileSync(this.paths.passwords, files.passwd);
      own(this.paths.passwords, 0o600);
    }
    if (opts.marker !== false) this.writeMarker();
  }

  /** First line of `mosquitto -h`, e.g. "mosquitto version 2.0.11". */
  static async version(): Promise<string> {
    return spawnSync(MOSQUITTO, ["-h"]).stdout.toString().split("\n")[0];
  }

  get tcpUrl(): string {
    return `mqtt://${LOOPBACK}:${this.tcpPort}`;
  }

  get wsUrl(): string {
    return `ws://${LOOPBACK}:${this.wsPort}`;
  }

  url(transport: "tcp" | "ws"): string {
    return transport === "tcp" ? this.tcpUrl : this.wsUrl;
  }

  /** Everything mosquitto wrote to stdout and stderr so far. */
  get log(): string {
    return this.output;
  }

  /**
   * Waits, bounded, until mosquitto's output matches `pattern`, and returns the output: a refusal
   * reaches the client before the broker's line about it reaches this process.
   */
  async logMatching(pattern: RegExp, timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (Date.now() > deadline) {
        throw new Error(
          `no ${pattern} in mosquitto's output after ${timeoutMs} ms:\n${this.output}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.output;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts mosquitto on this directory and waits until both listeners are listening. */
  async launch(timeoutMs = 20_000): Promise<void> {
    if (this.child) throw new Error("already running");
    this.exitCode = null;
    const command = [MOSQUITTO, "-c", this.paths.config];
    const child = this.reloader
      ? spawn(
          "busybox",
          ["sh", "-c", reloaderScript(this.markerPath), "mqtt-edge-reloader", ...command],
          { stdio: ["ignore", "pipe", "pipe"] },
        )
      : spawn(command[0], command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    running.add(child);
    child.stdout.on("data", (d: Buffer) => (this.output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (this.output += d.toString()));
    child.once("exit", (code, signal) => {
      this.exitCode = code ?? (signal ? -1 : 0);
      running.delete(child);
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exitCode !== null) {
        this.child = undefined;
        throw new Error(
          `mosquitto exited (code ${this.exitCode}) before listening:\n${this.output}`,
        );
      }
      if (listening(this.tcpPort) && listening(this.wsPort)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(
          `mosquitto not listening on ${this.tcpPort}/${this.wsPort} after ${timeoutMs} ms:\n${this.output}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM by PID (mosquitto saves its persistence file on the way out), then SIGKILL. */
  async stop(timeoutMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /** Stops and starts mosquitto again on the same files, data directory and ports. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stops the broker and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
  }
}
