/**
 * Small promise helpers over MQTT.js 5 for the broker tests: connect (or learn why not), publish
 * and subscribe with acknowledgements, and an inbox that waits for a message instead of sleeping.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import mqtt, {
  type IClientOptions,
  type IConnackPacket,
  type IPublishPacket,
  type MqttClient,
} from "mqtt";

export const WAIT_MS = 20_000;

export interface Credentials {
  username?: string;
  password?: string;
}

export interface ConnectOptions extends Credentials {
  protocolVersion?: 4 | 5;
  clientId?: string;
  clean?: boolean;
  /** Keep alive asked for in CONNECT, in seconds. Default 60. */
  keepalive?: number;
}

export type ConnectResult =
  | { ok: true; client: MqttClient; connack: IConnackPacket }
  | { ok: false; code?: number; reason: string };

const open = new Set<MqttClient>();

function options(o: ConnectOptions): IClientOptions {
  return {
    protocolVersion: o.protocolVersion ?? 4,
    clientId: o.clientId ?? `t-${randomBytes(6).toString("hex")}`,
    clean: o.clean ?? true,
    username: o.username,
    password: o.password,
    reconnectPeriod: 0,
    connectTimeout: WAIT_MS,
    keepalive: o.keepalive ?? 60,
  };
}

/** Connects once; resolves with the client, or with the CONNACK code / reason it failed. */
export function tryConnect(url: string, o: ConnectOptions = {}): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, options(o));
    let settled = false;
    const fail = (code: number | undefined, reason: string) => {
      if (settled) return;
      settled = true;
      client.end(true);
      resolve({ ok: false, code, reason });
    };
    client.once("connect", (connack: IConnackPacket) => {
      if (settled) return;
      settled = true;
      open.add(client);
      client.on("error", () => undefined); // later errors are seen through the operations
      resolve({ ok: true, client, connack });
    });
    client.once("error", (err: Error & { code?: number | string }) =>
      fail(typeof err.code === "number" ? err.code : undefined, err.message),
    );
    client.once("close", () => fail(undefined, "connection closed before CONNACK"));
  });
}

export async function connect(url: string, o: ConnectOptions = {}): Promise<MqttClient> {
  const r = await tryConnect(url, o);
  if (!r.ok)
    throw new Error(`connect to ${url} as ${o.username ?? "(anonymous)"} failed: ${r.reason}`);
  return r.client;
}

export async function end(client: MqttClient): Promise<void> {
  open.delete(client);
  await client.endAsync(true).catch(() => undefined);
}

export async function endAll(): Promise<void> {
  await Promise.all([...open].map(end));
}

/** Subscribes and returns the granted QoS per filter (SUBACK). */
export async function subscribe(
  client: MqttClient,
  filter: string | string[],
  qos: 0 | 1 = 0,
): Promise<number[]> {
  const granted = await client.subscribeAsync(filter, { qos });
  return granted.map((g) => g.qos);
}

/**
 * Publishes and waits for the broker: QoS 1 waits for PUBACK. Returns the PUBACK reason code:
 * with MQTT 3.1.1 always 0 (a denied publish is acknowledged and dropped), with MQTT 5 0 or the
 * failure MQTT.js reports (135 not authorised).
 */
export async function publish(
  client: MqttClient,
  topic: string,
  payload: string | Buffer,
  o: { qos?: 0 | 1; retain?: boolean } = {},
): Promise<number> {
  try {
    await client.publishAsync(topic, payload, { qos: o.qos ?? 1, retain: o.retain ?? false });
    return 0;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "number") return code;
    throw e;
  }
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  bytes: number;
}

/** Collects every message a client receives. */
export class Inbox {
  readonly messages: Received[] = [];
  private waiters: { pred: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];

  constructor(readonly client: MqttClient) {
    client.on("message", (topic: string, payload: Buffer, packet: IPublishPacket) => {
      const m = {
        topic,
        payload: payload.toString(),
        retain: packet.retain,
        bytes: payload.length,
      };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(m)) return true;
        w.resolve(m);
        return false;
      });
    });
  }

  /** Resolves with the first message (already received or future) matching pred. */
  waitFor(pred: (m: Received) => boolean, what: string, timeoutMs = WAIT_MS): Promise<Received> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.messages.map((x) => x.topic))}`,
          ),
        );
      }, timeoutMs);
      const done = (m: Received) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  has(payload: string): boolean {
    return this.messages.some((m) => m.payload === payload);
  }

  topicsOf(prefix: string): string[] {
    return this.messages.filter((m) => m.payload.startsWith(prefix)).map((m) => m.topic);
  }
}

/** A unique payload tag for one check. */
export function tag(label: string): string {
  return `${label}-${randomBytes(6).toString("hex")}`;
}

/**
 * Which of `topics`, published by `from` (QoS 1, one after the other), reach `to`, which
 * subscribes to "#". `marker` is published last and must get through.
 */
export async function delivered(
  from: MqttClient,
  to: MqttClient,
  topics: string[],
  marker: string,
): Promise<string[]> {
  const inbox = new Inbox(to);
  await subscribe(to, "#");
  const t = tag("m");
  for (const topic of topics) await publish(from, topic, `${t}|${topic}`);
  await publish(from, marker, `${t}|${marker}`);
  await inbox.waitFor((m) => m.payload === `${t}|${marker}`, `marker ${marker}`);
  const got = inbox.messages.filter((m) => m.payload.startsWith(`${t}|`) && m.topic !== marker);
  for (const m of got)
    assert.equal(m.payload, `${t}|${m.topic}`, "payload arrived on another topic");
  return got.map((m) => m.topic).sort();
}
