/**
 * End-to-end harness: the real Pulumi engine (Automation API, file backend) running this
 * repository's program against a real Docker engine and the fake Cloudflare API.
 *
 * Needs on PATH: `pulumi`, `pulumi-language-nodejs`, the docker/random/cloudflare provider
 * plugins (scripts/toolchain.sh), `docker` with DOCKER_HOST pointing at an engine
 * (scripts/engine.sh), the local images (scripts/images.sh) and `cloudflared`.
 *
 * A suite that deploys is declared with `deploySuite`: without the provider plugins it does not
 * start, and counts as one skipped test whose reason names the missing plugins. Any other missing
 * tool fails the suite (requireTools), naming the fix.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, test } from "node:test";
import { type EngineEvent, LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { FakeCloudflareApi } from "./cloudflareApi";
import { e2eImage } from "./e2eImages";

export const ROOT = join(__dirname, "..", "..");
export const ACCOUNT = "0123456789abcdef0123456789abcdef";
/** 40-80 of [0-9A-Za-z_-], as the provider demands of an API token. */
export const API_TOKEN = "e2e_fake_token_0123456789abcdefghijklmnopqrstuv";
/** The broker and client images (scripts/images.json). */
export const IMAGES = {
  mosquitto: e2eImage("mosquitto"),
  client: e2eImage("mqtt-client"),
};

/** The path of `bin` on PATH, or undefined. */
export function which(bin: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The provider plugins `pulumi up` needs: name -> the exact version package.json pins. */
export function pinnedPlugins(): Record<string, string> {
  const deps = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).dependencies;
  return Object.fromEntries(
    ["docker", "random", "cloudflare"].map((name) => [name, deps[`@pulumi/${name}`] as string]),
  );
}

/**
 * The pinned provider plugins that the Pulumi CLI does not have installed at exactly their
 * version, as "name version". scripts/toolchain.sh installs them (README, "Provider plugins").
 */
export function missingProviderPlugins(): string[] {
  const r = spawnSync("pulumi", ["plugin", "ls", "--json"], {
    encoding: "utf8",
    env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
  });
  const installed: { name: string; kind: string; version: string }[] =
    r.status === 0 ? JSON.parse(r.stdout || "[]") : [];
  return Object.entries(pinnedPlugins())
    .filter(
      ([name, version]) =>
        !installed.some((p) => p.kind === "resource" && p.name === name && p.version === version),
    )
    .map(([name, version]) => `${name} ${version}`);
}

let pluginGap: string[] | undefined;
/** missingProviderPlugins, asked of `pulumi plugin ls` once per process. */
function missingPluginsOnce(): string[] {
  pluginGap ??= missingProviderPlugins();
  return pluginGap;
}

/**
 * Why a deploy cannot run here, or undefined: the pinned provider plugins the installed CLI
 * lacks. Looked up once per process. Without a `pulumi` CLI there is no reason to skip:
 * requireTools then fails and names the CLI.
 */
export function missingPluginsReason(): string | undefined {
  if (!which("pulumi")) return undefined;
  const gap = missingPluginsOnce();
  return gap.length
    ? `provider plugins missing: ${gap.join(", ")} (README, "Provider plugins")`
    : undefined;
}

/**
 * A suite that runs `pulumi up`: `describe` when the provider plugins are installed; otherwise
 * one skipped test of the same name whose reason names the missing plugins, so the run counts
 * it as skipped, never as passed, and nothing of the suite starts.
 */
export function deploySuite(name: string, options: { timeout: number }, body: () => void): void {
  const reason = missingPluginsReason();
  if (reason) test(name, { skip: reason }, () => undefined);
  else describe(name, options, body);
}

/**
 * For the benchmarks that deploy: without the provider plugins, says so and exits with 75
 * (the exit status scripts/toolchain.sh and scripts/dev-up.sh use for the same gap).
 */
export function exitWithoutPlugins(bench: string): void {
  const reason = missingPluginsReason();
  if (!reason) return;
  console.error(`${bench}: skipped, ${reason}`);
  process.exit(75);
}

/** A plugin on PATH is used whatever version the SDK asks for: none may be there. */
export function pluginsOnPath(): string[] {
  return ["docker", "random", "cloudflare"]
    .map((n) => which(`pulumi-resource-${n}`))
    .filter((p): p is string => p !== undefined);
}

/** Fails loudly, naming what is missing and how to get it. */
export function requireTools(): { cloudflaredImage: string; cloudflared: string } {
  const missing: string[] = [];
  for (const bin of ["pulumi", "pulumi-language-nodejs", "cloudflared"]) {
    if (!which(bin)) missing.push(`${bin} (eval "$(bash scripts/toolchain.sh)")`);
  }
  if (missing.length === 0) {
    for (const p of missingPluginsOnce()) {
      missing.push(`provider plugin ${p} (bash scripts/toolchain.sh --only cli,plugins)`);
    }
  }
  for (const p of pluginsOnPath()) {
    missing.push(`no ${p} on PATH: it would be used whatever version the SDK asks for`);
  }
  if (!which("docker")) missing.push("docker (apt-get install docker.io)");
  if (missing.length) {
    throw new Error(`end-to-end tests need tools that are missing:\n  ${missing.join("\n  ")}`);
  }
  const info = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], {
    encoding: "utf8",
  });
  if (info.status !== 0) {
    throw new Error(
      `end-to-end tests need a Docker engine; none answers at DOCKER_HOST=${process.env.DOCKER_HOST ?? "(unset)"}: eval "$(bash scripts/engine.sh start a)"`,
    );
  }
  const cloudflaredImage = e2eImage("cloudflared");
  for (const image of [IMAGES.mosquitto, IMAGES.client, cloudflaredImage]) {
    if (spawnSync("docker", ["image", "inspect", image], { stdio: "ignore" }).status !== 0) {
      throw new Error(`end-to-end tests need the local image ${image}: bash scripts/images.sh`);
    }
  }
  return { cloudflaredImage, cloudflared: which("cloudflared")! };
}

export function docker(...args: string[]): string {
  return execFileSync("docker", args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

export function dockerJson<T = any>(...args: string[]): T {
  return JSON.parse(docker(...args)) as T;
}

/**
 * The engine's Docker API version at DOCKER_HOST (e.g. "1.41" on Debian's 20.10, "1.56" on the
 * `current` engine), asked once.
 */
let engineApi: string | undefined;
export function engineApiVersion(): string {
  engineApi ??= docker("version", "--format", "{{.Server.APIVersion}}");
  return engineApi;
}

/** API 1.44 or later: the engine keeps a healthcheck's start interval. */
export function engineHasStartInterval(): boolean {
  const [major, minor] = engineApiVersion().split(".").map(Number);
  return major > 1 || (major === 1 && minor >= 44);
}

/** Names of the stack's containers, networks and volumes still on the engine. */
export function leftovers(stack: string): string[] {
  const filter = `label=dev.mqtt-edge.stack=${stack}`;
  const lines = (s: string) => s.split("\n").filter(Boolean);
  return [
    ...lines(docker("ps", "-a", "--filter", filter, "--format", "container {{.Names}}")),
    ...lines(docker("network", "ls", "--filter", filter, "--format", "network {{.Name}}")),
    ...lines(docker("volume", "ls", "--filter", filter, "--format", "volume {{.Name}}")),
  ];
}

/** The tunnel token a connector container runs with (its TUNNEL_TOKEN), or undefined. */
export function connectorToken(container: string): string | undefined {
  const env: string[] = dockerJson("inspect", container)[0].Config.Env;
  return env.find((e) => e.startsWith("TUNNEL_TOKEN="))?.slice("TUNNEL_TOKEN=".length);
}

export interface ClientResult {
  status: number;
  output: string;
}

/** The broker's WebSocket listener as seen from its private network. */
export const BROKER_WS = "ws://mosquitto:9001";

/**
 * Arguments of the client image's `pubsub`: as `user`, subscribe to `topic`, publish `message`
 * there and wait for it to come back (exit 0). `flags` add e.g. `--retain`, `--no-publish`,
 * `--timeout N`.
 */
export function pubsubArgs(o: {
  url?: string;
  user: string;
  topic: string;
  message: string;
  flags?: string[];
}): string[] {
  return [
    "pubsub",
    "--url",
    o.url ?? BROKER_WS,
    "--user",
    o.user,
    "--topic",
    o.topic,
    "--message",
    o.message,
    ...(o.flags ?? []),
  ];
}

/**
 * Runs the MQTT.js client image on a Docker network (the hop cloudflared makes) and returns its
 * exit status: 0 ok, 3 cannot connect, 4 not authorised, 5 timeout. The password goes in the
 * environment, never on the command line.
 */
export function mqttClient(network: string, args: string[], password?: string): ClientResult {
  const env = password === undefined ? [] : ["-e", "MQTT_PASSWORD"];
  const r = spawnSync(
    "docker",
    ["run", "--rm", "--network", network, ...env, IMAGES.client, "node", "/app/client.js", ...args],
    {
      encoding: "utf8",
      env: { ...process.env, MQTT_PASSWORD: password ?? "" },
      timeout: 60_000,
    },
  );
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/** Where and as whom the client image connects; no user: anonymous. */
export interface ClientAt {
  /** The Docker network it runs on (or `container:<name>`, to share that one's namespace). */
  network: string;
  url: string;
  user?: string;
  password?: string;
}

/** What the client image's `watch` printed: its SUBACK codes and each message, in order. */
export interface Watched extends ClientResult {
  granted?: number[];
  messages: { topic: string; payload: string; retain: boolean }[];
}

/**
 * The client image's `watch`: subscribe to `filters` in one SUBSCRIBE and collect messages until
 * one arrives on `until` (retained messages come in the order of the filters, so a retained
 * `until` last is a marker that whatever the filters before it could get has come).
 */
export function watchTopics(
  at: ClientAt,
  filters: string[],
  until: string,
  timeoutS = 10,
): Watched {
  const r = mqttClient(
    at.network,
    [
      "watch",
      "--url",
      at.url,
      ...(at.user ? ["--user", at.user] : []),
      ...filters.flatMap((f) => ["--topic", f]),
      "--until",
      until,
      "--timeout",
      String(timeoutS),
    ],
    at.password,
  );
  const lines = r.output.split("\n");
  const suback = lines.find((l) => l.startsWith("SUBACK "));
  return {
    ...r,
    granted: suback ? JSON.parse(suback.slice("SUBACK ".length)) : undefined,
    messages: lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)),
  };
}

/**
 * The client image's `publish`: a retained QoS 1 message, in MQTT 3.1.1 (4) or 5, acknowledged
 * by the broker (exit 0), refused (4) or not.
 */
export function publishRetained(
  at: ClientAt,
  topic: string,
  message: string,
  protocol: 4 | 5 = 4,
): ClientResult {
  return mqttClient(
    at.network,
    [
      "publish",
      "--url",
      at.url,
      ...(at.user ? ["--user", at.user] : []),
      "--topic",
      topic,
      "--message",
      message,
      "--retain",
      "--protocol",
      String(protocol),
    ],
    at.password,
  );
}

/**
 * Waits, bounded, until the broker accepts an authenticated MQTT client at `url` (by default its
 * WebSocket listener, the tunnel's path) from `network`: the one meaning of a ready broker in
 * these tests. A "healthy" container only says the listener's socket is open.
 */
export async function brokerReady(
  network: string,
  user: string,
  password: string,
  url = BROKER_WS,
  timeoutMs = 60_000,
): Promise<void> {
  let last: ClientResult | undefined;
  try {
    await until(
      `an authenticated MQTT client at ${url} from ${network}`,
      timeoutMs,
      () => {
        last = mqttClient(
          network,
          ["connect", "--url", url, "--user", user, "--timeout", "5"],
          password,
        );
        return last.status === 0;
      },
      1000,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last attempt: ${last?.output ?? "none"}`);
  }
}

/** A stack of this repository's program in a temporary workspace on a file backend. */
export class E2EStack {
  readonly dir: string;
  readonly printed: string[] = [];
  private stackRef?: Stack;

  constructor(
    readonly name: string,
    private readonly env: Record<string, string> = {},
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `mqtt-edge-e2e-${name}-`));
    mkdirSync(join(this.dir, "state"));
    // The project file points back at the repository, so the real program and its Pulumi.yaml
    // defaults run; stack files and state stay in the temporary directory.
    const project = parseYaml(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8"));
    project.main = relative(this.dir, ROOT);
    writeFileSync(join(this.dir, "Pulumi.yaml"), stringifyYaml(project));
  }

  get envVars(): Record<string, string> {
    return {
      PULUMI_BACKEND_URL: `file://${join(this.dir, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
      ...this.env,
    };
  }

  /** Writes Pulumi.<stack>.yaml as a user would, then sets secrets through the CLI. */
  async configure(
    config: Record<string, unknown>,
    secrets: Record<string, string> = {},
  ): Promise<Stack> {
    const file = join(this.dir, `Pulumi.${this.name}.yaml`);
    let existing: Record<string, unknown> = {};
    try {
      existing = parseYaml(readFileSync(file, "utf8")) ?? {};
    } catch {
      // first configuration
    }
    const plain = Object.fromEntries(
      Object.entries(config).map(([k, v]) => [k.includes(":") ? k : `mqtt-edge:${k}`, v]),
    );
    const previous = (existing.config ?? {}) as Record<string, unknown>;
    // Keep encrypted secrets set earlier; replace every plain key.
    const kept = Object.fromEntries(
      Object.entries(previous).filter(
        ([, v]) => typeof v === "object" && v !== null && "secure" in v,
      ),
    );
    writeFileSync(file, stringifyYaml({ ...existing, config: { ...kept, ...plain } }));
    const ws = await LocalWorkspace.create({ workDir: this.dir, envVars: this.envVars });
    this.stackRef = await LocalWorkspace.createOrSelectStack(
      { stackName: this.name, workDir: this.dir },
      { workDir: this.dir, envVars: this.envVars },
    );
    void ws;
    for (const [k, v] of Object.entries(secrets)) {
      await this.stackRef.setConfig(k.includes(":") ? k : `mqtt-edge:${k}`, {
        value: v,
        secret: true,
      });
    }
    return this.stackRef;
  }

  get stack(): Stack {
    if (!this.stackRef) throw new Error("configure() first");
    return this.stackRef;
  }

  private capture(kind: string) {
    const chunks: string[] = [];
    return {
      onOutput: (s: string) => chunks.push(s),
      done: () => {
        const text = chunks.join("");
        this.printed.push(`--- ${kind}\n${text}`);
        return text;
      },
    };
  }

  async up() {
    const c = this.capture("up");
    try {
      const r = await this.stack.up({ onOutput: c.onOutput, color: "never" });
      return { ...r, stdout: c.done() };
    } catch (e) {
      c.done();
      throw e;
    }
  }

  async preview(onEvent?: (event: EngineEvent) => void) {
    const c = this.capture("preview");
    try {
      const r = await this.stack.preview({
        onOutput: c.onOutput,
        onEvent,
        color: "never",
        diff: true,
      });
      return { ...r, stdout: c.done() };
    } catch (e) {
      c.done();
      throw e;
    }
  }

  /**
   * Runs the pulumi CLI on this stack without blocking the event loop: the fake Cloudflare API
   * lives in this process and must keep answering the provider while the CLI runs.
   */
  async cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
    const child = spawn("pulumi", [...args, "--stack", this.name, "--non-interactive"], {
      cwd: this.dir,
      env: { ...process.env, ...this.envVars },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const status = await new Promise<number>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code) => resolve(code ?? -1));
    });
    const r = {
      status,
      stdout: Buffer.concat(out).toString(),
      stderr: Buffer.concat(err).toString(),
    };
    this.printed.push(`--- pulumi ${args.join(" ")}\n${r.stdout}${r.stderr}`);
    return r;
  }

  /**
   * `pulumi preview --refresh --expect-no-changes`: what .github/workflows/drift.yml runs every
   * day. Status 0 when the state read back from the providers matches the program.
   */
  refreshedPreview(): Promise<{ status: number; stdout: string; stderr: string }> {
    return this.cli(["preview", "--refresh", "--expect-no-changes", "--diff"]);
  }

  /** `pulumi preview --json`: every step with its operation, for blast-radius checks. */
  async previewSteps(): Promise<{ op: string; urn: string; type: string; diffs: string[] }[]> {
    const r = await this.cli(["preview", "--json"]);
    if (r.status !== 0)
      throw new Error(`pulumi preview --json failed:\n${r.stderr}\n${r.stdout.slice(-4000)}`);
    const doc = JSON.parse(r.stdout) as {
      steps?: {
        op: string;
        urn: string;
        diffs?: string[];
        newState?: { type: string };
        oldState?: { type: string };
      }[];
    };
    return (doc.steps ?? []).map((s) => ({
      op: s.op,
      urn: s.urn,
      type: s.newState?.type ?? s.oldState?.type ?? "",
      diffs: s.diffs ?? [],
    }));
  }

  async destroy() {
    const c = this.capture("destroy");
    try {
      const r = await this.stack.destroy({ onOutput: c.onOutput, color: "never" });
      return { ...r, stdout: c.done() };
    } catch (e) {
      c.done();
      throw e;
    }
  }

  /**
   * The state as a user or an attacker with the backend would see it: `pulumi stack export`
   * without --show-secrets (Automation API's exportStack passes that flag, which decrypts every
   * secret), and the checkpoint file at rest in the file backend.
   */
  async exportState(): Promise<{ exported: string; atRest: string }> {
    const r = await this.cli(["stack", "export"]);
    if (r.status !== 0) throw new Error(`pulumi stack export failed:\n${r.stderr}`);
    const stacksDir = join(this.dir, "state", ".pulumi", "stacks");
    const atRest = readdirSync(stacksDir, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(`${this.name}.json`))
      .map((f) => readFileSync(join(stacksDir, f), "utf8"))
      .join("\n");
    return { exported: r.stdout, atRest };
  }

  async outputs(): Promise<Record<string, { value: any; secret: boolean }>> {
    return (await this.stack.outputs()) as Record<string, { value: any; secret: boolean }>;
  }

  /** Best-effort cleanup after a failed test: destroy, then remove the stack. */
  async cleanup(): Promise<void> {
    if (!this.stackRef) return;
    try {
      await this.stackRef.destroy({ color: "never" });
    } catch {
      // reported by the test that failed
    }
    try {
      await this.stackRef.workspace.removeStack(this.name);
    } catch {
      // ditto
    }
  }
}

/**
 * A managed-mode tunnel section for the fake API's account and zone (startFakeCloudflare), its
 * connectors pointed at a closed local port as their edge (there is no internet here), so they
 * run and keep retrying. `extra` adds or overrides keys (hostname, replicas, ...).
 */
export function managedTunnel(
  cloudflaredImage: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    mode: "managed",
    accountId: ACCOUNT,
    zone: "example.com",
    image: cloudflaredImage,
    edge: ["127.0.0.1:7844"],
    ...extra,
  };
}

/** Starts the fake Cloudflare API with one account and zone example.com. */
export async function startFakeCloudflare(): Promise<{ fake: FakeCloudflareApi; baseUrl: string }> {
  const fake = new FakeCloudflareApi({
    apiToken: API_TOKEN,
    zones: [{ name: "example.com", accountId: ACCOUNT }],
  });
  const baseUrl = await fake.start();
  return { fake, baseUrl };
}

/**
 * A stand-in for TryCloudflare's quick-tunnel service (`cloudflared --quick-service`): answers
 * POST /tunnel as the real one does, so a quick-mode connector gets credentials offline. It
 * listens on all addresses because the connector reaches it from a Docker bridge network.
 */
export async function startQuickTunnelService(): Promise<{
  url: (gateway: string) => string;
  server: Server;
  requests: number;
}> {
  const state = { requests: 0 };
  const server = createServer((req, res) => {
    if (req.method === "POST" && req.url === "/tunnel") {
      state.requests++;
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          success: true,
          result: {
            id: "5c2b3a1e-0000-4000-8000-00000000e2e0",
            name: "qt-e2e",
            hostname: "e2e-quick.trycloudflare.com",
            account_tag: ACCOUNT,
            secret: Buffer.alloc(32, 9).toString("base64"),
          },
          errors: [],
        }),
      );
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "0.0.0.0", r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    url: (gateway: string) => `http://${gateway}:${port}`,
    get requests() {
      return state.requests;
    },
  };
}

/** All plaintext secrets of a stack, for leak checks. */
export function assertNoSecrets(texts: string[], secrets: string[]): void {
  for (const secret of secrets) {
    if (!secret || secret.length < 8)
      throw new Error("a secret to check for must be at least 8 characters");
    for (const text of texts) {
      if (text.includes(secret)) {
        const at = text.indexOf(secret);
        throw new Error(
          `a secret (${secret.slice(0, 4)}...) appears in plain text: ...${text.slice(Math.max(0, at - 80), at)}<SECRET>...`,
        );
      }
    }
  }
}

/**
 * This machine's address on a Docker network's bridge: the gateway of its IPAM config, or, where
 * that has none (a fresh swarm's docker_gwbridge on Docker 20.10 lists only its subnet until the
 * daemon restarts), the IPv4 address of its Linux bridge.
 */
export function dockerGateway(network: string): string {
  const [n] = dockerJson<
    { IPAM: { Config?: { Gateway?: string }[] }; Options?: Record<string, string> }[]
  >("network", "inspect", network);
  const gateway = n.IPAM.Config?.[0]?.Gateway;
  if (gateway) return gateway;
  const dev = n.Options?.["com.docker.network.bridge.name"] ?? network;
  const ip = spawnSync("ip", ["-4", "-o", "addr", "show", "dev", dev], { encoding: "utf8" });
  const m = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(ip.stdout ?? "");
  if (!m) {
    throw new Error(
      `network ${network}: no gateway in its IPAM config and no IPv4 address on its bridge ${dev} (${ip.stderr?.trim()})`,
    );
  }
  return m[1];
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** `docker ...` without blocking the event loop (HTTP servers in this process keep answering). */
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

/** A rejected deployment's message (Automation API errors carry the CLI's output in it). */
export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `check` every `everyMs` until it returns a value, or throws naming `what` after
 * `timeoutMs`: a bounded wait for a condition, never a fixed sleep.
 */
export async function until<V>(
  what: string,
  timeoutMs: number,
  check: () => V | undefined | false | Promise<V | undefined | false>,
  everyMs = 500,
): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
