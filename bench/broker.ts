/**
 * The rendered mosquitto.conf against a stock one, on the same mosquitto binary in one run, over
 * WebSockets with MQTT.js (the hop cloudflared makes). Loopback only; bounded to about three
 * minutes (BENCH_BUDGET_S).
 *
 *   npm run bench:broker   (BENCH_MESSAGES, BENCH_ROUND_TRIPS, BENCH_ROUNDS, BENCH_BUDGET_S to change
 *                           sizes; VARIANTS="a|b|..." or VARIANTS=all to pick variants)
 *
 * Throughput: one publisher sends N QoS 0 messages of 100 bytes as fast as it can; the clock
 * stops when a subscriber has received the last one (msgs/s). Latency: one client publishes to
 * a topic it subscribes to and waits for its own message, sequentially (p50/p99 in ms).
 * Variants: the rendered config as deployed (password file, ACL, persistence, logging,
 * set_tcp_nodelay true) and the stock config (`listener` + `protocol websockets` +
 * `allow_anonymous true`) by default; with VARIANTS=all also the rendered config without one
 * directive each. Rounds interleave the variants (the order rotates every round), each figure is
 * the median over rounds, and the headline ratio is the median of the per-round ratios: a
 * rendered run is compared with the stock run of the same round, which cancels most of the drift
 * of a shared machine.
 */
import type { MqttClient } from "mqtt";
import { Broker, type RenderedFiles } from "../tests/support/mosquittoBroker";
import { connect, end, endAll, type Credentials } from "../tests/support/mqttClients";

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
// About a third of websocket round trips wait ~100 ms (see the note printed at the end), so 300
// of them take ~10 s per run; throughput needs no such wait and gets the rounds.
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
/** Whole-run budget; phases stop early (and say so) once it is spent. */
const BUDGET_MS = Number(process.env.BENCH_BUDGET_S ?? 180) * 1000;
/** A phase gives up when nothing arrives for this long. */
const STALL_MS = 5_000;
const PAYLOAD = Buffer.alloc(100, "x");

const startedAt = Date.now();
const remaining = () => BUDGET_MS - (Date.now() - startedAt);

interface Variant {
  name: string;
  anonymous: boolean;
  edit?: (files: RenderedFiles, ports: { tcp: number; ws: number }) => RenderedFiles;
}

const stock = (extra: string[]) => (files: RenderedFiles, ports: { tcp: number; ws: number }) => ({
  // The harness waits for a plain MQTT listener too; it stays idle here.
  conf: [
    `listener ${ports.tcp}`,
    `listener ${ports.ws}`,
    "protocol websockets",
    "allow_anonymous true",
    ...extra,
    "",
  ].join("\n"),
  acl: files.acl,
});

const flipNodelay = (files: RenderedFiles) => {
  if (!/^set_tcp_nodelay true$/m.test(files.conf))
    throw new Error("rendered config has no set_tcp_nodelay true");
  return { ...files, conf: files.conf.replace(/^set_tcp_nodelay true$/m, "set_tcp_nodelay false") };
};

/** Drops one directive of the rendered config, to see what it costs. */
const without = (directive: RegExp) => (files: RenderedFiles) => {
  if (!directive.test(files.conf)) throw new Error(`rendered config has no ${directive}`);
  return { ...files, conf: files.conf.replace(directive, "") };
};

const ALL_VARIANTS: Variant[] = [
  { name: "rendered (as deployed)", anonymous: false },
  { name: "rendered, set_tcp_nodelay false", anonymous: false, edit: flipNodelay },
  { name: "rendered, no acl_file", anonymous: false, edit: without(/^acl_file .*$/m) },
  {
    name: "rendered, persistence false",
    anonymous: false,
    edit: (f) => ({ ...f, conf: f.conf.replace(/^persistence true$/m, "persistence false") }),
  },
  { name: "stock", anonymous: true, edit: stock([]) },
  { name: "stock + set_tcp_nodelay true", anonymous: true, edit: stock(["set_tcp_nodelay true"]) },
];
const DEFAULT_VARIANTS = ["rendered (as deployed)", "stock"];
const picked =
  process.env.VARIANTS === "all"
    ? ALL_VARIANTS.map((v) => v.name)
    : (process.env.VARIANTS?.split("|") ?? DEFAULT_VARIANTS);
for (const name of picked) {
  if (!ALL_VARIANTS.some((v) => v.name === name)) {
    throw new Error(
      `VARIANTS: unknown variant "${name}"; expected "all" or names from: ${ALL_VARIANTS.map((v) => v.name).join(", ")}`,
    );
  }
}
const VARIANTS = ALL_VARIANTS.filter((v) => picked.includes(v.name));

/** The broker config the rendered variants deploy: auth, an ACL, a pattern, persistence. */
const RENDERED = {
  allowAnonymous: false,
  persistence: true,
  users: [
    { name: "bench", acl: [{ access: "readwrite", topic: "bench/#" }] },
    { name: "other", acl: [{ access: "read", topic: "other/#" }] },
  ],
  patterns: [{ access: "readwrite", topic: "clients/%u/#" }],
};

interface Result {
  msgsPerSec: number;
  received: number;
  p50: number;
  p99: number;
  roundTrips: number;
  /** Round trips of 50 ms or more (mosquitto 2.0 services libwebsockets once per 100 ms loop). */
  stalls: number;
}

/** Resolves when `count()` reaches `target`, or with what arrived once progress stalls. */
function until(
  count: () => number,
  target: number,
  onTick: (cb: () => void) => void,
): Promise<void> {
  return new Promise((resolve) => {
    let last = -1;
    const check = setInterval(() => {
      const n = count();
      if (n === last || remaining() < 0) {
        clearInterval(check);
        resolve();
      }
      last = n;
    }, STALL_MS);
    onTick(() => {
      if (count() >= target) {
        clearInterval(check);
        resolve();
      }
    });
  });
}

async function throughput(
  pub: MqttClient,
  sub: MqttClient,
  topic: string,
): Promise<{ rate: number; received: number }> {
  await sub.subscribeAsync(topic, { qos: 0 });
  let received = 0;
  const done = until(
    () => received,
    MESSAGES,
    (tick) =>
      sub.on("message", (t) => {
        if (t === topic) received++;
        tick();
      }),
  );
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < MESSAGES; i++) pub.publish(topic, PAYLOAD, { qos: 0 });
  await done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  sub.removeAllListeners("message");
  return { rate: received / seconds, received };
}

async function latency(client: MqttClient, topic: string): Promise<number[]> {
  await client.subscribeAsync(topic, { qos: 0 });
  const samples: number[] = [];
  let arrived: (() => void) | undefined;
  client.on("message", () => arrived?.());
  const phaseEnd = Date.now() + Math.max(0, Math.min(remaining(), 15_000));
  for (let i = 0; i < ROUND_TRIPS && Date.now() < phaseEnd; i++) {
    const t0 = process.hrtime.bigint();
    const got = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), STALL_MS);
      arrived = () => {
        clearTimeout(timer);
        resolve(true);
      };
      client.publish(topic, PAYLOAD, { qos: 0 });
    });
    if (!got) break;
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  client.removeAllListeners("message");
  return samples.sort((a, b) => a - b);
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function runVariant(v: Variant): Promise<Result> {
  const b = await Broker.start({ broker: RENDERED, edit: v.edit });
  try {
    const creds: Credentials = v.anonymous
      ? {}
      : { username: "bench", password: b.passwords.bench };
    const sub = await connect(b.wsUrl, creds);
    const pub = await connect(b.wsUrl, creds);
    const tp = await throughput(pub, sub, "bench/tp");
    await end(sub);
    await end(pub);
    const rt = await connect(b.wsUrl, creds);
    const lat = await latency(rt, "bench/rt");
    await end(rt);
    return {
      msgsPerSec: tp.rate,
      received: tp.received,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
      roundTrips: lat.length,
      stalls: lat.filter((x) => x >= 50).length,
    };
  } finally {
    await endAll();
    await b.dispose();
  }
}

async function main(): Promise<void> {
  // results.get(name)[round]: paired by round for the ratios.
  const results = new Map<string, (Result | undefined)[]>(VARIANTS.map((v) => [v.name, []]));
  for (let round = 0; round < ROUNDS && remaining() > 10_000; round++) {
    // Rotate the order each round so no variant always runs first (or last) on a busy machine.
    for (const v of [
      ...VARIANTS.slice(round % VARIANTS.length),
      ...VARIANTS.slice(0, round % VARIANTS.length),
    ]) {
      if (remaining() < 5_000) break;
      results.get(v.name)![round] = await runVariant(v);
    }
  }
  const summary = VARIANTS.map((v) => {
    const rs = results.get(v.name)!.filter((r): r is Result => r !== undefined);
    return {
      name: v.name,
      runs: rs.length,
      msgsPerSec: median(rs.map((r) => r.msgsPerSec)),
      range: `${Math.min(...rs.map((r) => r.msgsPerSec)).toFixed(0)}-${Math.max(...rs.map((r) => r.msgsPerSec)).toFixed(0)}`,
      received: Math.min(...rs.map((r) => r.received)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      roundTrips: Math.min(...rs.map((r) => r.roundTrips)),
      stalls: rs.map((r) => r.stalls).join("/"),
    };
  });
  const version = (await Broker.version()).trim();
  console.log(
    `${version}; MQTT.js over ws://127.0.0.1; ${MESSAGES} x 100 B QoS 0, ${ROUND_TRIPS} round trips; median of rounds`,
  );
  console.log(
    [
      "variant".padEnd(34),
      "runs",
      "msgs/s".padStart(9),
      "(min-max)".padStart(13),
      "p50 ms".padStart(8),
      "p99 ms".padStart(8),
      "stalls>=50ms".padStart(13),
      "  notes",
    ].join(" "),
  );
  for (const s of summary) {
    const notes: string[] = [];
    if (s.received < MESSAGES) notes.push(`only ${s.received}/${MESSAGES} received`);
    if (s.roundTrips < ROUND_TRIPS) notes.push(`${s.roundTrips} round trips (budget)`);
    console.log(
      [
        s.name.padEnd(34),
        String(s.runs).padStart(4),
        s.msgsPerSec.toFixed(0).padStart(9),
        s.range.padStart(13),
        s.p50.toFixed(3).padStart(8),
        s.p99.toFixed(3).padStart(8),
        s.stalls.padStart(13),
        "  " + notes.join("; "),
      ].join(" "),
    );
  }
  const by = (name: string) => summary.find((s) => s.name === name);
  const ratio = (a: string, b: string) => {
    const x = by(a);
    const y = by(b);
    if (!x || !y || !Number.isFinite(x.msgsPerSec) || !Number.isFinite(y.msgsPerSec)) return;
    const ra = results.get(a)!;
    const rb = results.get(b)!;
    const paired = ra.flatMap((r, i) => (r && rb[i] ? [r.msgsPerSec / rb[i].msgsPerSec] : []));
    const sorted = [...paired].sort((p, q) => p - q);
    const spread = paired.length
      ? ` (${paired.length} rounds, x${sorted[0].toFixed(2)}-x${sorted[sorted.length - 1].toFixed(2)})`
      : "";
    console.log(
      `${a} / ${b}: throughput x${paired.length ? median(paired).toFixed(2) : "?"} per round${spread}, ` +
        `x${(x.msgsPerSec / y.msgsPerSec).toFixed(2)} of medians; ` +
        `p50 x${(x.p50 / y.p50).toFixed(2)}, p99 x${(x.p99 / y.p99).toFixed(2)}`,
    );
  };
  for (const v of VARIANTS) if (v.name !== "stock") ratio(v.name, "stock");
  console.log(
    "note: stalls are ~100 ms round trips (per run): mosquitto 2.0's loop waits up to 100 ms in epoll_wait " +
      "before servicing libwebsockets; with ~20 or more of them in a run p99 jumps to ~100 ms, in any config.",
  );
  console.log(
    "note: set_tcp_nodelay only reaches sockets of the plain MQTT listener (net.c); libwebsockets sets " +
      "TCP_NODELAY on every websockets socket itself, so on this path the toggle is noise by construction.",
  );
  console.log(`total ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
