/**
 * One MQTT round trip to a broker URL, stage by stage, so a failure names where it happened:
 * DNS, TCP (and TLS for wss://), the HTTP upgrade to WebSockets, CONNACK, SUBACK, and the
 * message coming back. The client is the real MQTT.js; the earlier stages use Node's own DNS,
 * net, tls and a hand-written upgrade request, because MQTT.js reports all of them as one
 * "connection error".
 */
import { randomBytes } from "node:crypto";
import { lookup } from "node:dns/promises";
import { isIP, type Socket, connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

export const STAGES = ["dns", "tcp", "upgrade", "connack", "suback", "roundtrip"] as const;
export type Stage = (typeof STAGES)[number];

/** Exit status per failing stage (README, "Is it up?"); 0 when every path answered. */
export const EXIT_CODES: Record<Stage, number> = {
  dns: 10,
  tcp: 11,
  upgrade: 12,
  connack: 13,
  suback: 14,
  roundtrip: 15,
};

export interface ProbeTarget {
  url: string;
  user: string;
  password: string;
  /** The topic tree the user may use; the probe publishes under `<topics>/<nonce>`. */
  topics: string;
  /** Extra upgrade request headers (Cloudflare Access service token). */
  headers?: Record<string, string>;
  timeoutMs: number;
}

export type ProbeResult =
  | { ok: true; ms: number }
  | { ok: false; stage: Stage; detail: string; status?: number; code?: number };

/** CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3). */
const CONNACK_NAMES: Record<number, string> = {
  1: "unacceptable protocol version",
  2: "identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized",
};

class StageError extends Error {
  constructor(
    readonly stage: Stage,
    message: string,
    readonly extra: { status?: number; code?: number } = {},
  ) {
    super(message);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, stage: Stage, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new StageError(stage, `no ${what} within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}

function errorCode(e: unknown): string {
  const x = e as { code?: string; message?: string };
  return x.code ?? x.message ?? String(e);
}

/** Opens TCP (and TLS) to the URL's host and port; resolves with the open socket. */
function open(url: URL, address: string, ms: number): Promise<Socket> {
  const secure = url.protocol === "wss:" || url.protocol === "mqtts:";
  const port = Number(url.port || (secure ? 443 : url.protocol === "ws:" ? 80 : 1883));
  return withTimeout(
    new Promise<Socket>((resolve, reject) => {
      const s = secure
        ? tlsConnect({
            host: address,
            port,
            servername: isIP(url.hostname) ? undefined : url.hostname,
          })
        : tcpConnect({ host: address, port });
      s.once(secure ? "secureConnect" : "connect", () => resolve(s));
      s.once("error", (e) =>
        reject(new StageError("tcp", `${secure ? "TCP/TLS" : "TCP"} ${errorCode(e)}`)),
      );
    }),
    ms,
    "tcp",
    "TCP connection",
  );
}

/** What the far end answered instead of 101, with a hint where the answer is a known one. */
function upgradeHint(status: number, head: string, body: string): string {
  const text = `${head}\n${body}`.toLowerCase();
  if (/cf-mitigated: challenge|just a moment|cf-chl|challenge-platform/.test(text))
    return "a Cloudflare challenge page (Bot Fight Mode or a WAF rule answers the handshake)";
  if (status === 403 && /cf-access|cloudflare access|access\.cloudflare/.test(text))
    return "Cloudflare Access refused it: send the service token (accessTokens) or check its policy";
  if (status === 403) return "forbidden: Cloudflare Access, a WAF rule or the origin refused it";
  if (status === 404) return "no route for this hostname or path (the tunnel's ingress rules)";
  if (status === 502 || status === 530 || status === 1033)
    return "the tunnel has no healthy connector or cannot reach the broker";
  if (status === 503) return "service unavailable (a challenge, or no origin)";
  if (status === 200) return "an HTTP page, not a WebSocket: is WebSockets on for the zone?";
  return "not a WebSocket upgrade";
}

/** Sends the upgrade request MQTT.js would send and reads the status line. */
function upgrade(
  url: URL,
  socket: Socket,
  headers: Record<string, string>,
  ms: number,
): Promise<void> {
  const key = randomBytes(16).toString("base64");
  const lines = [
    `GET ${url.pathname || "/"}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Protocol: mqtt",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ];
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      let got = "";
      const done = () => {
        const end = got.indexOf("\r\n\r\n");
        const head = end >= 0 ? got.slice(0, end) : got;
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
        if (status === 101) return resolve();
        if (!status)
          return reject(
            new StageError("upgrade", `no HTTP answer (${JSON.stringify(got.slice(0, 80))})`),
          );
        const body = end >= 0 ? got.slice(end + 4, end + 4 + 2000) : "";
        reject(
          new StageError("upgrade", `HTTP ${status}: ${upgradeHint(status, head, body)}`, {
            status,
          }),
        );
      };
      socket.on("data", (d: Buffer) => {
        got += d.toString("latin1");
        // A 101 ends at its blank line; any other answer may carry a page worth reading.
        if (/^HTTP\/1\.[01] 101/.test(got) && got.includes("\r\n\r\n")) done();
        else if (got.length > 4096) done();
      });
      socket.once("end", done);
      socket.once("close", done);
      socket.once("error", (e) => reject(new StageError("upgrade", `connection ${errorCode(e)}`)));
      socket.write(lines.join("\r\n"));
      // Error pages come whole, usually in one read: judge them shortly after the first bytes.
      socket.once("data", () => setTimeout(done, 300));
    }),
    ms,
    "upgrade",
    "answer to the WebSocket upgrade",
  );
}

function connectMqtt(t: ProbeTarget): Promise<MqttClient> {
  const opts: IClientOptions = {
    username: t.user,
    password: t.password,
    clientId: `mqtt-edge-probe-${randomBytes(4).toString("hex")}`,
    clean: true,
    reconnectPeriod: 0,
    // The probe's own timer below names the stage; MQTT.js's only backs it up.
    connectTimeout: t.timeoutMs * 2,
    protocolVersion: 4,
    wsOptions: t.headers ? { headers: t.headers } : undefined,
  };
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(t.url, opts);
    const fail = (e: StageError) => {
      client.end(true);
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new StageError("connack", `no CONNACK within ${t.timeoutMs} ms`)),
      t.timeoutMs,
    );
    client.once("connect", () => {
      clearTimeout(timer);
      resolve(client);
    });
    client.once("error", (e: Error & { code?: number | string }) => {
      clearTimeout(timer);
      if (typeof e.code === "number") {
        const name = CONNACK_NAMES[e.code] ?? "refused";
        fail(new StageError("connack", `CONNACK ${e.code} (${name})`, { code: e.code }));
      } else if (/connack timeout/i.test(e.message)) {
        fail(new StageError("connack", `no CONNACK within ${t.timeoutMs} ms`));
      } else fail(new StageError("connack", `connection ${errorCode(e)} before CONNACK`));
    });
    client.once("close", () => {
      clearTimeout(timer);
      fail(new StageError("connack", "connection closed before CONNACK"));
    });
  });
}

/** Subscribes to a fresh topic of the probe's tree, publishes a nonce there and waits for it. */
async function roundTrip(client: MqttClient, t: ProbeTarget): Promise<void> {
  const nonce = randomBytes(8).toString("hex");
  const topic = `${t.topics}/${nonce}`;
  const granted = await withTimeout(
    client.subscribeAsync(topic, { qos: 1 }),
    t.timeoutMs,
    "suback",
    "SUBACK",
  ).catch((e: unknown) => {
    throw e instanceof StageError ? e : new StageError("suback", errorCode(e));
  });
  const qos = granted[0]?.qos;
  if (qos !== 1 && qos !== 0)
    throw new StageError("suback", `SUBACK ${qos} (subscription refused)`, { code: qos });
  const back = new Promise<void>((resolve) =>
    client.on("message", (tp, payload) => {
      if (tp === topic && payload.toString() === nonce) resolve();
    }),
  );
  await client.publishAsync(topic, nonce, { qos: 1 });
  await withTimeout(back, t.timeoutMs, "roundtrip", "message back (the publish may be denied)");
}

/** Runs every stage in order against `t.url` (ws://, wss://, mqtt:// or mqtts://). */
export async function probe(t: ProbeTarget): Promise<ProbeResult> {
  const t0 = performance.now();
  let client: MqttClient | undefined;
  try {
    const url = new URL(t.url);
    let address = url.hostname.replace(/^\[|\]$/g, "");
    if (!isIP(address)) {
      address = await withTimeout(
        lookup(address).then(
          (a) => a.address,
          (e: unknown) => {
            throw new StageError("dns", `${url.hostname}: ${errorCode(e)}`);
          },
        ),
        t.timeoutMs,
        "dns",
        "DNS answer",
      );
    }
    const socket = await open(url, address, t.timeoutMs);
    try {
      if (url.protocol === "ws:" || url.protocol === "wss:") {
        await upgrade(url, socket, t.headers ?? {}, t.timeoutMs);
      }
    } finally {
      socket.destroy();
    }
    client = await connectMqtt(t);
    await roundTrip(client, t);
    return { ok: true, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    if (e instanceof StageError)
      return { ok: false, stage: e.stage, detail: e.message, ...e.extra };
    return { ok: false, stage: "tcp", detail: errorCode(e) };
  } finally {
    await client?.endAsync(true).catch(() => undefined);
  }
}
