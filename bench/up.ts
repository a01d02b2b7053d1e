/**
 * `pulumi up` against `docker compose up`, on the same engine with the same local images, in one
 * run, interleaved round by round. `npm run bench:up` (a benchmark, not a test).
 *
 * - compose: seed 000's stack as its documentation describes it (services mosquitto and
 *   cloudflared, `restart: unless-stopped`, mosquitto.conf mounted, the token from .env on
 *   cloudflared's command line), its images retagged to the local ones; Debian's docker-compose.
 * - pulumi: the equivalent stack of this program from nothing: token mode (the seed's token),
 *   one connector, the defaults otherwise (authentication, ACLs, persistence, hardening, a
 *   healthcheck the deploy waits for).
 *
 * Each round: compose up -d, compose down; pulumi up, a no-op pulumi preview, a no-op pulumi up,
 * a one-user change (pulumi up: the config writer replaced, the broker reloads in place), pulumi
 * destroy. The order of the two tools alternates by round. Medians, the
 * ratios against compose, and a breakdown of one `pulumi up` from the engine's own events (the
 * receipt time of each event in this process): CLI start to the engine's prelude, language host
 * and program evaluation up to the first registration, each provider step, the waits.
 *
 * Aims (issue 12): up <= 2.0x compose up, no-op preview < 5 s, destroy <= 1.5x compose down;
 * (issue 20) a one-user change <= 1.5x a no-op pulumi up.
 * Needs what the e2e suites need (scripts/toolchain.sh, scripts/engine.sh, scripts/images.sh).
 * ROUNDS (default 5) sets the number of rounds.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import {
  E2EStack,
  IMAGES,
  brokerReady,
  exitWithoutPlugins,
  leftovers,
  requireTools,
} from "../tests/support/e2eStack";

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const users = [{ name: "sensor", acl: [{ access: "readwrite", topic: "sensors/#" }] }];
/** A well-formed tunnel token (base64 JSON of account tag, tunnel id, secret); no edge here. */
const TOKEN = Buffer.from(
  JSON.stringify({
    a: "0123456789abcdef0123456789abcdef",
    t: "5c2b3a1e-0000-4000-8000-00000000b0b0",
    s: Buffer.alloc(32, 3).toString("base64"),
  }),
).toString("base64");

const seconds = (ms: number) => (ms / 1000).toFixed(2);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Seed 000 as docker-compose files in a fresh directory, with the given images. */
function composeProject(mosquitto: string, cloudflared: string): string {
  const dir = mkdtempSync(join(tmpdir(), "mqtt-edge-bench-compose-"));
  writeFileSync(
    join(dir, "docker-compose.yml"),
    `version: "3"
services:
  mosquitto:
    image: ${mosquitto}
    container_name: benchcompose-mosquitto
    volumes:
      - ./mosquitto.conf:/mosquitto/config/mosquitto.conf
    restart: unless-stopped
  cloudflared:
    image: ${cloudflared}
    container_name: benchcompose-cloudflared
    command: tunnel --no-autoupdate --edge 127.0.0.1:7844 run --token \${CLOUDFLARE_TUNNEL_TOKEN}
    restart: unless-stopped
`,
  );
  writeFileSync(
    join(dir, "mosquitto.conf"),
    "listener 1883\nallow_anonymous true\nlistener 9001\nprotocol websockets\n",
  );
  writeFileSync(join(dir, ".env"), `CLOUDFLARE_TUNNEL_TOKEN=${TOKEN}\n`);
  return dir;
}

const execFileAsync = promisify(execFile);

/**
 * One MQTT round trip on the broker, from inside its container (the broker network is internal):
 * mosquitto_rr (MQTT 5) publishes on `topic` and waits for its own message there. `auth`: user
 * and password; none: anonymous (seed 000's broker allows nothing else).
 */
async function roundTrip(
  container: string,
  topic: string,
  auth?: [string, string],
): Promise<boolean> {
  const creds = auth ? ["-u", auth[0], "-P", auth[1]] : [];
  const args = ["exec", container, "mosquitto_rr", "-h", "127.0.0.1", "-p", "1883", ...creds];
  try {
    await execFileAsync("docker", [...args, "-t", topic, "-e", topic, "-m", "rt", "-W", "2"], {
      timeout: 5000,
    });
    return true;
  } catch {
    return false;
  }
}

/** Milliseconds from `t0` to the first round trip that succeeds, polling every 50 ms. */
async function firstRoundTrip(
  t0: number,
  container: string,
  topic: string,
  auth?: [string, string],
): Promise<number> {
  for (;;) {
    if (await roundTrip(container, topic, auth)) return performance.now() - t0;
    if (performance.now() - t0 > 120_000) throw new Error(`no MQTT round trip on ${container}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function compose(dir: string, ...args: string[]): void {
  execFileSync("docker-compose", ["-p", "benchcompose", ...args], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
}

interface Timeline {
  at: number;
  what: string;
}

/** `pulumi up` with every engine event stamped on receipt. */
async function upWithTimeline(stack: E2EStack): Promise<{ total: number; timeline: Timeline[] }> {
  const timeline: Timeline[] = [];
  const t0 = performance.now();
  const mark = (what: string) => timeline.push({ at: performance.now() - t0, what });
  const onEvent = (e: EngineEvent) => {
    if (e.preludeEvent) mark("prelude");
    const pre = e.resourcePreEvent?.metadata;
    if (pre && pre.op !== "same") mark(`start ${pre.op} ${pre.urn.split("::").pop()}`);
    const out = e.resOutputsEvent?.metadata;
    if (out && out.op !== "same") mark(`done ${out.op} ${out.urn.split("::").pop()}`);
    if (e.summaryEvent) mark("summary");
  };
  await stack.stack.up({ onEvent, color: "never" });
  mark("cli exit");
  return { total: performance.now() - t0, timeline };
}

function breakdown(timeline: Timeline[]): string[] {
  const at = (what: string) => timeline.find((t) => t.what === what)?.at;
  const first = timeline.find((t) => t.what.startsWith("start "))?.at ?? 0;
  const lines = [
    `  CLI start, plugins resolved, engine ready (to prelude) ${seconds(at("prelude") ?? 0)} s`,
    `  language host + program evaluation (prelude -> first step) ${seconds(first - (at("prelude") ?? 0))} s`,
  ];
  const starts = timeline.filter((t) => t.what.startsWith("start "));
  for (const s of starts) {
    const name = s.what.slice("start ".length);
    const done = at(`done ${name}`);
    if (done !== undefined)
      lines.push(
        `  ${name.padEnd(48)} ${seconds(s.at)} -> ${seconds(done)} s (${seconds(done - s.at)} s)`,
      );
  }
  const summary = at("summary") ?? 0;
  lines.push(`  summary -> CLI exit ${seconds((at("cli exit") ?? 0) - summary)} s`);
  return lines;
}

async function main(): Promise<void> {
  exitWithoutPlugins("bench:up");
  const tools = requireTools();
  execFileSync("docker-compose", ["version"], { stdio: "ignore" });
  const dir = composeProject(IMAGES.mosquitto, tools.cloudflaredImage);
  const stack = new E2EStack(`benchup${Date.now().toString(36).slice(-5)}`);
  const config = (extra: { name: string; acl: unknown[] }[] = []) => ({
    tunnel: { mode: "token", image: tools.cloudflaredImage, edge: ["127.0.0.1:7844"] },
    broker: { image: IMAGES.mosquitto, users: [...users, ...extra] },
  });
  await stack.configure(config(), { tunnelToken: TOKEN });

  const t: Record<string, number[]> = {
    "compose up": [],
    "compose up -> round trip": [],
    "compose down": [],
    "pulumi up": [],
    "pulumi up -> round trip": [],
    "no-op preview": [],
    "no-op up": [],
    "one-user change": [],
    "pulumi destroy": [],
  };
  let timeline: Timeline[] = [];
  const composeRound = async () => {
    // The command and, from its start, the first MQTT round trip on its broker, side by side.
    const t0 = performance.now();
    const up = execFileAsync("docker-compose", ["-p", "benchcompose", "up", "-d"], {
      cwd: dir,
    }).then(() => performance.now() - t0);
    const [upMs, rtMs] = await Promise.all([
      up,
      firstRoundTrip(t0, "benchcompose-mosquitto", "bench/rt"),
    ]);
    t["compose up"].push(upMs);
    t["compose up -> round trip"].push(rtMs);
    t["compose down"].push(await timed(() => compose(dir, "down")));
  };
  const pulumiRound = async (round: number) => {
    await stack.configure(config());
    const t0 = performance.now();
    const up = await upWithTimeline(stack);
    t["pulumi up"].push(up.total);
    // The password is the stack's output: a user has it once the command is done.
    const password = (await stack.outputs()).mqttCredentials.value.sensor as string;
    t["pulumi up -> round trip"].push(
      await firstRoundTrip(t0, `mqtt-edge-${stack.name}-local-mosquitto`, "sensors/rt", [
        "sensor",
        password,
      ]),
    );
    if (round === 0) timeline = up.timeline;
    t["no-op preview"].push(await timed(() => stack.preview()));
    t["no-op up"].push(await timed(() => stack.up()));
    await stack.configure(config([{ name: `new${round}`, acl: [] }]));
    t["one-user change"].push(await timed(() => stack.up()));
    t["pulumi destroy"].push(await timed(() => stack.destroy()));
    if (leftovers(stack.name).length) throw new Error(`destroy left ${leftovers(stack.name)}`);
  };
  try {
    // A warm-up of each, not counted: image layers and plugin binaries in the page cache.
    await composeRound();
    for (const k of Object.keys(t)) t[k] = [];
    await stack.up();
    const outputs = await stack.outputs();
    await brokerReady(
      `mqtt-edge-${stack.name}-local-broker`,
      "sensor",
      outputs.mqttCredentials.value.sensor,
    );
    await stack.destroy();
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        await composeRound();
        await pulumiRound(round);
      } else {
        await pulumiRound(round);
        await composeRound();
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
  } finally {
    try {
      compose(dir, "down");
    } catch {
      // already down
    }
    await stack.cleanup();
  }

  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  console.log(`\n${ROUNDS} interleaved rounds, medians (min-max):`);
  for (const [k, v] of Object.entries(t)) {
    console.log(
      `  ${k.padEnd(16)} ${seconds(m[k])} s (${seconds(Math.min(...v))}-${seconds(Math.max(...v))})`,
    );
  }
  console.log("ratios:");
  console.log(
    `  pulumi up / compose up         x${(m["pulumi up"] / m["compose up"]).toFixed(2)} (aim <= 2.0)`,
  );
  console.log(
    `  up -> first round trip, pulumi / compose x${(m["pulumi up -> round trip"] / m["compose up -> round trip"]).toFixed(2)} (${seconds(m["pulumi up -> round trip"])} s / ${seconds(m["compose up -> round trip"])} s; compose: anonymous, as seed 000 allows; pulumi: authenticated, with the password the stack outputs)`,
  );
  console.log(`  no-op preview                  ${seconds(m["no-op preview"])} s (aim < 5 s)`);
  console.log(
    `  one-user change / compose up   x${(m["one-user change"] / m["compose up"]).toFixed(2)}`,
  );
  console.log(
    `  one-user change / no-op up     x${(m["one-user change"] / m["no-op up"]).toFixed(2)} (aim <= 1.5)`,
  );
  console.log(
    `  pulumi destroy / compose down  x${(m["pulumi destroy"] / m["compose down"]).toFixed(2)} (aim <= 1.5)`,
  );
  console.log("one pulumi up from nothing, by the engine's events (s since the CLI was started):");
  for (const line of breakdown(timeline)) console.log(line);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
