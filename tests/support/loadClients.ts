/**
 * A fleet of MQTT.js clients in one container of the client image, on a Docker network (the hop
 * cloudflared makes): each connects (by default once, without automatic reconnect, so a dropped
 * connection stays visible; with `reconnectMs`, again after a drop, each time away counted),
 * subscribes at QoS 1 to a topic of its own and publishes a sequence number there at QoS 1 every
 * `intervalMs`. The credentials go in on stdin, never on a command line.
 *
 * On "report" it prints one line `REPORT [...]` with, per client: whether it is connected, how
 * often its connection closed, and, of the messages older than the settle time, how many were
 * sent and never acknowledged (stuck), acknowledged and never received back (lost), or received
 * twice (duplicates).
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { IMAGES } from "./e2eStack";

const SCRIPT = `
const mqtt = require("mqtt");
const SETTLE_MS = 2000;
const clients = [];
let buf = "";
process.stdin.on("data", (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (line.startsWith("{")) start(JSON.parse(line));
    else if (line === "report") report();
    else if (line === "end") {
      for (const s of clients) { clearInterval(s.timer); s.client.end(true); }
      setTimeout(() => process.exit(0), 200);
    }
  }
});
function start(cfg) {
  for (const c of cfg.clients) {
    const s = { id: c.id, user: c.user, sentAt: new Map(), ackedAt: new Map(), received: new Set(),
      duplicates: 0, closes: 0, errors: [], seq: 0, outages: [] };
    s.client = mqtt.connect(cfg.url, { username: c.user, password: c.password, clientId: c.id,
      clean: true, reconnectPeriod: cfg.reconnectMs, keepalive: 30, protocolVersion: 4 });
    s.client.on("connect", () => {
      if (s.downSince !== undefined) { s.outages.push(Date.now() - s.downSince); s.downSince = undefined; }
      if (s.timer) return;
      s.client.subscribe(c.topic, { qos: 1 }, (err, granted) => {
        if (err || !granted || granted[0].qos !== 1) { s.errors.push("subscribe " + (err || JSON.stringify(granted))); return; }
        s.timer = setInterval(() => {
          const seq = ++s.seq;
          s.sentAt.set(seq, Date.now());
          s.client.publish(c.topic, String(seq), { qos: 1 }, (e) => {
            if (e) s.errors.push("publish " + e.message); else s.ackedAt.set(seq, Date.now());
          });
        }, cfg.intervalMs);
      });
    });
    s.client.on("message", (_t, p) => {
      const seq = Number(p.toString());
      if (s.received.has(seq)) s.duplicates++; else s.received.add(seq);
    });
    s.client.on("close", () => {
      s.closes++;
      s.downSince ??= Date.now();
      if (!cfg.reconnectMs) clearInterval(s.timer);
    });
    s.client.on("error", (e) => s.errors.push(e.message));
    clients.push(s);
  }
}
function report() {
  const old = Date.now() - SETTLE_MS;
  const out = clients.map((s) => {
    const sent = [...s.sentAt].filter(([, t]) => t < old).map(([q]) => q);
    return {
      id: s.id, user: s.user, connected: s.client.connected, closes: s.closes,
      sent: sent.length,
      stuck: sent.filter((q) => !s.ackedAt.has(q)).length,
      lost: sent.filter((q) => s.ackedAt.has(q) && !s.received.has(q)).length,
      duplicates: s.duplicates, outages: s.outages, errors: s.errors.slice(0, 3),
    };
  });
  process.stdout.write("REPORT " + JSON.stringify(out) + "\\n");
}
`;

export interface LoadClient {
  id: string;
  user: string;
  password: string;
  topic: string;
}

export interface ClientReport {
  id: string;
  user: string;
  connected: boolean;
  closes: number;
  sent: number;
  stuck: number;
  lost: number;
  duplicates: number;
  /** With reconnectMs: each time away, from the close to the next CONNACK, in ms. */
  outages: number[];
  errors: string[];
}

export class LoadFleet {
  private child: ChildProcessWithoutNullStreams;
  private out = "";
  private err = "";
  readonly name: string;

  /** `stack` labels the container like the stack's own, so test.sh sweeps up a leftover. */
  constructor(
    stack: string,
    network: string,
    url: string,
    clients: LoadClient[],
    opts: { intervalMs?: number; reconnectMs?: number } = {},
  ) {
    this.name = `mqtt-edge-${stack}-load-${Date.now().toString(36)}`;
    this.child = spawn("docker", [
      "run",
      "--rm",
      "-i",
      "--name",
      this.name,
      "--label",
      `dev.mqtt-edge.stack=${stack}`,
      "--network",
      network,
      IMAGES.client,
      "node",
      "-e",
      SCRIPT,
    ]);
    this.child.stdout.on("data", (d: Buffer) => (this.out += d.toString()));
    this.child.stderr.on("data", (d: Buffer) => (this.err += d.toString()));
    const { intervalMs = 100, reconnectMs = 0 } = opts;
    this.child.stdin.write(`${JSON.stringify({ url, intervalMs, reconnectMs, clients })}\n`);
  }

  /** Every client's counters now (messages younger than the settle time not yet judged). */
  async report(timeoutMs = 15_000): Promise<ClientReport[]> {
    const from = this.out.length;
    this.child.stdin.write("report\n");
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.out
        .slice(from)
        .split("\n")
        .find((l) => l.startsWith("REPORT ") && l.endsWith("]"));
      if (line) return JSON.parse(line.slice("REPORT ".length)) as ClientReport[];
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no report from the client fleet: ${this.out.slice(-2000)}${this.err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.stdin.write("end\n");
    const timer = setTimeout(() => {
      spawnSync("docker", ["rm", "-f", this.name], { stdio: "ignore" });
      this.child.kill("SIGKILL");
    }, 5_000);
    await exited;
    clearTimeout(timer);
  }
}
