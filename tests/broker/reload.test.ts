/**
 * In-place security changes on the real broker (Debian's 2.0.11), run under the broker
 * container's reloader (components/broker.ts, reloaderScript, in busybox sh as in the image):
 * the files change the way the config writer changes them, the generation marker last, and the
 * reloader sends mosquitto SIGHUP. What mosquitto does then, checked here rather than assumed:
 * - clients of users that stay keep their connection (no close, no reconnect);
 * - a removed user, or one whose password changed, is disconnected at once and refused after;
 * - an ACL change applies to connections that stay;
 * - without a new marker nothing is reloaded (a half-handed-over file set is never read).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MqttClient } from "mqtt";
import type { BrokerConfig } from "../../config";
import { Broker, generatePassword, parseBroker } from "../support/mosquittoBroker";
import {
  Inbox,
  connect,
  endAll,
  publish,
  subscribe,
  tag,
  tryConnect,
} from "../support/mqttClients";

const TIMEOUT = { timeout: 120_000 };
/** The reloader polls once a second; a reload shows in the log within this. */
const RELOAD_MS = 5_000;

function users(...entries: [string, string][]): BrokerConfig {
  return parseBroker({
    persistence: false,
    users: entries.map(([name, topic]) => ({ name, acl: [{ access: "readwrite", topic }] })),
  });
}

/** Resolves with how long it took `client` to close, or rejects after `ms`. */
function closed(client: MqttClient, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`still connected after ${ms} ms`)), ms);
    client.once("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

describe("users, passwords and ACLs reloaded in place (SIGHUP from the reloader)", TIMEOUT, () => {
  let b: Broker;
  let reloads = 0;
  const pw: Record<string, string> = {};
  const clients: Record<string, MqttClient> = {};
  const closes: Record<string, number> = {};

  /** Waits until mosquitto has logged its `reloads`-th reload, each announced by the reloader. */
  async function reloaded(): Promise<void> {
    const deadline = Date.now() + RELOAD_MS;
    const count = (re: RegExp) => b.log.match(re)?.length ?? 0;
    while (count(/Reloading config/g) < reloads) {
      if (Date.now() > deadline) throw new Error(`reload ${reloads} not seen:\n${b.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(count(/mqtt-edge: reloading passwords and ACL/g), reloads);
  }

  async function handOver(config: BrokerConfig): Promise<void> {
    b.handOver(config, pw);
    reloads++;
    await reloaded();
  }

  before(async () => {
    for (const u of ["alice", "bob", "dave"]) pw[u] = generatePassword();
    b = await Broker.start({
      config: users(["alice", "a/#"], ["bob", "b/#"], ["dave", "d/#"]),
      passwords: pw,
      reloader: true,
    });
    for (const [u, transport] of [
      ["alice", "ws"],
      ["bob", "tcp"],
      ["dave", "ws"],
    ] as const) {
      clients[u] = await connect(b.url(transport), { username: u, password: pw[u] });
      clients[u].on("close", () => (closes[u] = (closes[u] ?? 0) + 1));
    }
  });
  after(async () => {
    await endAll();
    await b?.dispose();
  });

  test("a new user can connect after the reload; the others keep their connections", async () => {
    pw.carol = generatePassword();
    const before = await tryConnect(b.tcpUrl, { username: "carol", password: pw.carol });
    assert.equal(before.ok, false, "carol does not exist yet");
    await handOver(users(["alice", "a/#"], ["bob", "b/#"], ["dave", "d/#"], ["carol", "c/#"]));
    await connect(b.wsUrl, { username: "carol", password: pw.carol });
    assert.deepEqual(closes, {}, "no connection of an unaffected user closed");
    const inbox = new Inbox(clients.alice);
    await subscribe(clients.alice, "a/#", 1);
    const t = tag("after-add");
    await publish(clients.alice, "a/x", t);
    await inbox.waitFor((m) => m.payload === t, "alice's own message on the old connection");
  });

  test("an ACL change applies to a connection that stays", async () => {
    await handOver(users(["alice", "a2/#"], ["bob", "b/#"], ["dave", "d/#"], ["carol", "c/#"]));
    assert.equal(clients.alice.connected, true);
    const inbox = new Inbox(clients.alice);
    await subscribe(clients.alice, ["a/#", "a2/#"], 1);
    const old = tag("old-topic");
    const now = tag("new-topic");
    await publish(clients.alice, "a/x", old);
    await publish(clients.alice, "a2/x", now);
    await inbox.waitFor((m) => m.payload === now, "the newly allowed topic");
    assert.ok(!inbox.messages.some((m) => m.payload === old), "the old topic is denied now");
    assert.deepEqual(closes, {});
  });

  test("a removed user's live connection is closed and the user refused", async () => {
    const closing = closed(clients.bob, RELOAD_MS);
    await handOver(users(["alice", "a2/#"], ["dave", "d/#"], ["carol", "c/#"]));
    await closing;
    const again = await tryConnect(b.tcpUrl, { username: "bob", password: pw.bob });
    assert.equal(again.ok, false, "bob is refused");
    assert.equal(clients.alice.connected, true);
    assert.equal(closes.alice, undefined);
  });

  test("a changed password closes that user's connection; old refused, new accepted", async () => {
    const closing = closed(clients.dave, RELOAD_MS);
    const old = pw.dave;
    pw.dave = generatePassword();
    await handOver(users(["alice", "a2/#"], ["dave", "d/#"], ["carol", "c/#"]));
    await closing;
    assert.equal((await tryConnect(b.wsUrl, { username: "dave", password: old })).ok, false);
    await connect(b.wsUrl, { username: "dave", password: pw.dave });
    assert.equal(clients.alice.connected, true);
    assert.equal(closes.alice, undefined);
  });

  test("files changed without a new marker are not reloaded", async () => {
    pw.erin = generatePassword();
    b.handOver(users(["alice", "a2/#"], ["dave", "d/#"], ["carol", "c/#"], ["erin", "e/#"]), pw, {
      marker: false,
    });
    await new Promise((r) => setTimeout(r, 2_500)); // two and a half polls of the reloader
    const r = await tryConnect(b.tcpUrl, { username: "erin", password: pw.erin });
    assert.equal(r.ok, false, "erin is not known before the marker moves");
    b.writeMarker();
    reloads++;
    await reloaded();
    await connect(b.tcpUrl, { username: "erin", password: pw.erin });
  });

  test("SIGTERM to the reloader stops mosquitto cleanly", async () => {
    const t0 = Date.now();
    await b.stop();
    assert.match(b.log, /mosquitto version [\d.]+ terminating/);
    assert.ok(Date.now() - t0 < 5_000, `stopped in ${Date.now() - t0} ms`);
  });
});
