/**
 * broker.maxKeepalive (`max_keepalive` in mosquitto.conf) on the real broker (Debian 2.0.11).
 *
 * Cloudflare's edge closes WebSockets that carry nothing for a while (no fixed idle timeout is
 * documented; about 100 s is what users report, cloudflared issue #1282), so a client must send
 * something, if only PINGREQ, well within that. The keep alive is when it does: the broker caps
 * what it grants at maxKeepalive (default 60). What a client gets depends on its protocol:
 *
 * - MQTT 5: the broker answers an ask above the cap, or for 0 (never), with the cap in CONNACK's
 *   Server Keep Alive, and the client must use it (MQTT.js does). A client that ignores it and
 *   stays silent is disconnected after 1.5 x the granted keep alive.
 * - MQTT 3.1.1 has no way to tell the client. 2.0.11 applies max_keepalive to MQTT 5 clients only
 *   and accepts a 3.1.1 client's ask as it is (asserted below). From 2.0.12 on (upstream commit
 *   93b2232b, "Apply max_keepalive to MQTT v3.1.1 and v3.1 clients"; the images' default is
 *   eclipse-mosquitto:2.0.22) such a client, and one asking for 0, is refused with CONNACK 2
 *   (identifier rejected): that branch is from the source and upstream's own test
 *   (test/broker/01-connect-max-keepalive.py), not observed here.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect as tcpConnect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { Broker, LOOPBACK } from "../support/mosquittoBroker";
import { endAll, tryConnect } from "../support/mqttClients";
import { readmeExample } from "../support/readmeExamples";

const TIMEOUT = { timeout: 120_000 };
const TRANSPORTS = ["ws", "tcp"] as const;

/** The README's example (maxKeepalive at its default, spelled out): what these tests run. */
const KEEPALIVE_BROKER = readmeExample("## Keep alive behind Cloudflare")["mqtt-edge:broker"];

/** [major, minor, patch] of `mosquitto -h`'s "mosquitto version X.Y.Z". */
async function brokerVersion(): Promise<number[]> {
  const m = /version (\d+)\.(\d+)\.(\d+)/.exec(await Broker.version());
  assert.ok(m, "no version in mosquitto -h");
  return m.slice(1).map(Number);
}

/** Whether this mosquitto applies max_keepalive to MQTT 3.1.1 clients (2.0.12 and later). */
function capsMqtt311([major, minor, patch]: number[]): boolean {
  return major > 2 || (major === 2 && (minor > 0 || patch >= 12));
}

function mqttString(s: string): Buffer {
  const b = Buffer.from(s, "utf8");
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** A CONNECT with clean start, user name and password, built by hand: nothing answers pings. */
function connectPacket(version: 4 | 5, keepalive: number, user: string, password: string): Buffer {
  const ka = Buffer.alloc(2);
  ka.writeUInt16BE(keepalive);
  const header = Buffer.concat([
    mqttString("MQTT"),
    Buffer.from([version, 0xc2]), // user name, password, clean start
    ka,
    version === 5 ? Buffer.from([0]) : Buffer.alloc(0), // no properties
  ]);
  const payload = Buffer.concat([
    mqttString(`silent-${randomBytes(4).toString("hex")}`),
    mqttString(user),
    mqttString(password),
  ]);
  const body = Buffer.concat([header, payload]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** Waits (bounded) until the broker's log, which arrives through a pipe, has a matching line. */
async function logged(b: Broker, re: RegExp, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!re.test(b.log)) {
    if (Date.now() > deadline) assert.fail(`no log line matching ${re} in:\n${b.log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface SilentClient {
  /** CONNACK's return code (3.1.1) or reason code (5). */
  code: number;
  /** Resolves with the milliseconds from CONNACK until the broker closed the connection. */
  closed: Promise<number>;
  socket: Socket;
}

/** Connects over TCP, reads CONNACK, then sends nothing at all: no PINGREQ, ever. */
function silentClient(
  port: number,
  version: 4 | 5,
  keepalive: number,
  user: string,
  password: string,
): Promise<SilentClient> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, LOOPBACK);
    let acked: number | undefined;
    const closed = new Promise<number>((done) =>
      socket.once("close", () => done(Date.now() - (acked ?? Date.now()))),
    );
    socket.once("error", reject);
    socket.once("connect", () => socket.write(connectPacket(version, keepalive, user, password)));
    socket.once("data", (data: Buffer) => {
      if (data[0] !== 0x20)
        return reject(new Error(`expected CONNACK, got ${data.toString("hex")}`));
      acked = Date.now();
      resolve({ code: data[3], closed, socket });
    });
  });
}

describe("broker.maxKeepalive: max_keepalive on the real broker", TIMEOUT, () => {
  let b: Broker;
  let version: number[];
  const sensor = () => ({ username: "sensor", password: b.passwords.sensor });

  before(async () => {
    version = await brokerVersion();
    b = await Broker.start({ broker: { persistence: false, ...KEEPALIVE_BROKER } });
  });
  after(async () => {
    await endAll();
    await b?.dispose();
  });

  test("the rendered mosquitto.conf caps keep alive at 60 s and publishes $SYS every 10 s", () => {
    const lines = b.files.conf.split("\n");
    assert.ok(lines.includes("max_keepalive 60"), b.files.conf);
    assert.ok(lines.includes("sys_interval 10"), b.files.conf);
  });

  for (const transport of TRANSPORTS) {
    test(`MQTT 5 over ${transport}: asking for 300 s gets Server Keep Alive 60 in CONNACK, and MQTT.js uses it`, async () => {
      const r = await tryConnect(b.url(transport), {
        ...sensor(),
        protocolVersion: 5,
        keepalive: 300,
      });
      assert.ok(r.ok, r.ok ? "" : r.reason);
      assert.equal(r.connack.returnCode ?? r.connack.reasonCode ?? 0, 0);
      assert.equal(r.connack.properties?.serverKeepAlive, 60);
      assert.equal(r.client.keepalive, 60, "MQTT.js pings at the server's keep alive");
    });

    test(`MQTT 5 over ${transport}: asking for 0 (never) also gets 60; asking for 30 gets no Server Keep Alive`, async () => {
      const never = await tryConnect(b.url(transport), {
        ...sensor(),
        protocolVersion: 5,
        keepalive: 0,
      });
      assert.ok(never.ok, never.ok ? "" : never.reason);
      assert.equal(never.connack.properties?.serverKeepAlive, 60);
      const within = await tryConnect(b.url(transport), {
        ...sensor(),
        protocolVersion: 5,
        keepalive: 30,
      });
      assert.ok(within.ok, within.ok ? "" : within.reason);
      assert.equal(within.connack.properties?.serverKeepAlive, undefined);
      assert.equal(within.client.keepalive, 30);
    });

    test(`MQTT 3.1.1 over ${transport}: asking for 300 s is accepted as asked on 2.0.11 (refused, CONNACK 2, from 2.0.12)`, async () => {
      const r = await tryConnect(b.url(transport), {
        ...sensor(),
        protocolVersion: 4,
        keepalive: 300,
      });
      if (capsMqtt311(version)) {
        assert.ok(!r.ok, "a 3.1.1 client above max_keepalive connected");
        assert.equal(r.code, 2, r.reason);
        return;
      }
      assert.ok(r.ok, r.ok ? "" : `refused: ${r.reason} (code ${r.code})`);
      assert.equal(r.connack.returnCode, 0);
      assert.equal(r.client.keepalive, 300, "nothing in a 3.1.1 CONNACK can lower it");
      // The broker logs the connection with the keep alive it runs it with, k300 (p2 is
      // mosquitto's number for MQTT 3.1.1).
      const id = r.client.options.clientId;
      await logged(
        b,
        new RegExp(`New client connected from .* as ${id} \\(p2, c1, k300, u'sensor'\\)`),
      );
    });
  }

  test("MQTT 3.1.1: asking for 0 (never) is accepted on 2.0.11 (refused, CONNACK 2, from 2.0.12)", async () => {
    const r = await tryConnect(b.tcpUrl, { ...sensor(), protocolVersion: 4, keepalive: 0 });
    if (capsMqtt311(version)) {
      assert.ok(!r.ok);
      assert.equal(r.code, 2);
      return;
    }
    assert.ok(r.ok, r.ok ? "" : r.reason);
    await logged(b, new RegExp(`as ${r.client.options.clientId} \\(p2, c1, k0, u'sensor'\\)`));
  });
});

describe(
  "the granted keep alive is enforced: a silent MQTT 5 client is dropped after 1.5 x",
  TIMEOUT,
  () => {
    let b: Broker;
    before(async () => {
      // The smallest cap allowed, so that the drop comes after 15 s rather than 90 s.
      b = await Broker.start({
        broker: { persistence: false, ...KEEPALIVE_BROKER, maxKeepalive: 10 },
      });
    });
    after(async () => {
      await b?.dispose();
    });

    test("MQTT 5 asking 300 s, then silent: closed 15 s after CONNACK; a silent 3.1.1 one asking 300 s outlives it on 2.0.11", async () => {
      const version = await brokerVersion();
      const password = b.passwords.sensor;
      const v5 = await silentClient(b.tcpPort, 5, 300, "sensor", password);
      assert.equal(v5.code, 0, "CONNACK success");
      const v311 = await silentClient(b.tcpPort, 4, 300, "sensor", password);
      try {
        if (capsMqtt311(version)) {
          assert.equal(v311.code, 2, "3.1.1 above max_keepalive: identifier rejected");
        } else {
          assert.equal(v311.code, 0, "3.1.1 above max_keepalive: accepted on 2.0.11");
        }
        const afterMs = await v5.closed;
        // Mosquitto drops a client 1.5 x its keep alive after the last packet it sent (15 s here),
        // checking about once a second.
        assert.ok(afterMs >= 14_000 && afterMs < 20_000, `dropped after ${afterMs} ms`);
        await logged(b, /Client silent-\w+ has exceeded timeout, disconnecting\./);
        if (!capsMqtt311(version)) {
          assert.ok(!v311.socket.destroyed, "the 3.1.1 client runs with the 300 s it asked for");
        }
      } finally {
        v5.socket.destroy();
        v311.socket.destroy();
      }
    });
  },
);
