/**
 * `npm run probe -- --stack <stack> [--host <host>] [--url <url>] [--json] [--timeout <s>]
 *                  [--cwd <project dir>]`
 *
 * For each host of the stack, connects as `broker.probeUser` to the URL a client would use and
 * makes one MQTT round trip (README, "Is it up?"):
 * - `wss://<hostname>` (or the loopback URL the dev stack publishes), with the Access service
 *   token's headers when `tunnel.access` is on;
 * - through the client kit's `cloudflared access tcp` when the host has a `tcpHostname` and
 *   `cloudflared` is on PATH.
 * `--url` replaces each host's WebSocket URL (e.g. the broker's origin, as cloudflared dials it);
 * `--cwd` is the Pulumi project directory holding Pulumi.<stack>.yaml (default: this repository).
 * Prints one line per host and path; exit status 0 when every path answered, otherwise the code
 * of the earliest stage that failed (probe/stages.ts, EXIT_CODES); 2 for a usage or stack
 * problem. The password and the Access secret are never printed.
 */
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { EXIT_CODES, type ProbeResult, STAGES, probe } from "./stages";

const ROOT = join(__dirname, "..");
const USAGE =
  "usage: npm run probe -- --stack <stack> [--host <host>] [--url <url>] [--json] [--timeout <seconds>] [--cwd <dir>]";

interface Args {
  stack: string;
  host?: string;
  url?: string;
  json: boolean;
  timeoutMs: number;
  cwd: string;
}

function usage(message: string): never {
  console.error(`probe: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Partial<Args> = { json: false, timeoutMs: 10_000, cwd: ROOT };
  for (let i = 0; i < argv.length; i++) {
    const value = () => argv[++i] ?? usage(`${argv[i - 1]} needs a value`);
    switch (argv[i]) {
      case "--stack":
        a.stack = value();
        break;
      case "--host":
        a.host = value();
        break;
      case "--url":
        a.url = value();
        break;
      case "--cwd":
        a.cwd = value();
        break;
      case "--json":
        a.json = true;
        break;
      case "--timeout": {
        const s = Number(value());
        if (!(s > 0)) usage("--timeout expects a number of seconds");
        a.timeoutMs = s * 1000;
        break;
      }
      default:
        usage(`unknown argument ${argv[i]}`);
    }
  }
  if (!a.stack) usage("--stack is required");
  return a as Args;
}

interface Outputs {
  probe?: { user: string; topics: string };
  mqttCredentials?: Record<string, string>;
  hosts?: Record<string, { websocketUrl?: string; tcpHostname?: string }>;
  accessTokens?: Record<string, { clientId: string; clientSecret: string }>;
  clientKits?: Record<string, { dotenv?: string; command?: string }>;
}

/** The stack's outputs, secrets included, from the Pulumi CLI (never printed). */
function stackOutputs(stack: string, cwd: string): Outputs {
  const r = spawnSync("pulumi", ["stack", "output", "--json", "--show-secrets", "--stack", stack], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
  });
  if (r.error) usage(`cannot run pulumi: ${r.error.message}`);
  if (r.status !== 0) usage(`pulumi stack output --stack ${stack} failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Outputs;
}

interface Path {
  host: string;
  path: "websocket" | "tcp";
  url: string;
  headers?: Record<string, string>;
  /** For the TCP path: starts `cloudflared access tcp` and returns how to stop it. */
  start?: () => Promise<() => void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The client kit's command, run here: a local listener that cloudflared forwards to the edge. */
function accessTcp(hostname: string, dotenv: string | undefined, port: number) {
  return async () => {
    const env: Record<string, string> = { ...process.env } as Record<string, string>;
    for (const line of (dotenv ?? "").split("\n")) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) env[m[1]] = m[2];
    }
    const child = spawn(
      "cloudflared",
      ["access", "tcp", "--hostname", hostname, "--url", `127.0.0.1:${port}`],
      { env, stdio: "ignore" },
    );
    await new Promise((r) => setTimeout(r, 1000));
    return () => child.kill("SIGTERM");
  };
}

function hasCloudflared(): boolean {
  return spawnSync("sh", ["-c", "command -v cloudflared"], { stdio: "ignore" }).status === 0;
}

async function paths(a: Args, out: Outputs): Promise<Path[]> {
  const hosts = Object.entries(out.hosts ?? {}).filter(([h]) => !a.host || h === a.host);
  if (a.host && hosts.length === 0)
    usage(`no host ${a.host} in the stack (has ${Object.keys(out.hosts ?? {}).join(", ")})`);
  const list: Path[] = [];
  for (const [host, h] of hosts) {
    const url = a.url ?? h.websocketUrl;
    if (url) {
      const token = out.accessTokens?.[host];
      list.push({
        host,
        path: "websocket",
        url,
        headers: token
          ? { "CF-Access-Client-Id": token.clientId, "CF-Access-Client-Secret": token.clientSecret }
          : undefined,
      });
    }
    const kit = out.clientKits?.[host];
    if (!a.url && h.tcpHostname && kit && hasCloudflared()) {
      const port = await freePort();
      list.push({
        host,
        path: "tcp",
        url: `mqtt://127.0.0.1:${port}`,
        start: accessTcp(h.tcpHostname, kit.dotenv, port),
      });
    }
  }
  return list;
}

function line(a: Args, p: Path, r: ProbeResult): string {
  if (a.json) return JSON.stringify({ host: p.host, path: p.path, url: p.url, ...r });
  const where = `${p.host} ${p.path} ${p.url}`;
  return r.ok
    ? `${where}: ok, round trip ${r.ms} ms`
    : `${where}: FAILED at ${r.stage}: ${r.detail}`;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const out = stackOutputs(a.stack, a.cwd);
  if (!out.probe)
    usage(`stack ${a.stack} has no probe user: set broker.probeUser (README, "Is it up?")`);
  const password = out.mqttCredentials?.[out.probe.user];
  if (!password) usage(`stack ${a.stack} has no password for the probe user ${out.probe.user}`);
  const list = await paths(a, out);
  if (list.length === 0) usage(`stack ${a.stack} has no URL to probe (none mode? use --url)`);
  let worst: number | undefined;
  for (const p of list) {
    const stop = p.start ? await p.start() : undefined;
    try {
      const r = await probe({
        url: p.url,
        user: out.probe.user,
        password,
        topics: out.probe.topics.replace(/\/#$/, ""),
        headers: p.headers,
        timeoutMs: a.timeoutMs,
      });
      console.log(line(a, p, r));
      if (!r.ok) {
        const i = STAGES.indexOf(r.stage);
        worst = worst === undefined ? i : Math.min(worst, i);
      }
    } finally {
      stop?.();
    }
  }
  process.exit(worst === undefined ? 0 : EXIT_CODES[STAGES[worst]]);
}

main().catch((e: unknown) => {
  console.error(`probe: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
