/**
 * broker.probeUser and probe/stages.ts on the real broker (Debian's 2.0.11) and against local
 * stand-ins of what answers instead of a broker: the probe user's ACL is its own $-topic tree
 * only (a `clients/%u/#` pattern and `#` subscribers included), a round trip over WebSockets and
 * TCP, and each failing stage named as it happens: DNS, TCP, the HTTP upgrade (a Cloudflare
 * challenge page, Access, no route), CONNACK (a wrong password; a proxy that accepts the upgrade
 * and never answers CONNECT), SUBACK.
 */
import assert from "node:assert/strict";
import { createServer as createHttpServer, type Server } from "node:http";
import { after, before, describe, test } from "node:test";
import { PROBE_TOPICS } from "../../config";
import { probe, type ProbeResult } from "../../probe/stages";
import { Broker, freePort } from "../support/mosquittoBroker";
import { Inbox, connect, endAll, publish, subscribe, tag } from "../support/mqttClients";
import { silentWebSocketProxy } from "../support/silentProxy";

const TIMEOUT = { timeout: 120_000 };

function failed(r: ProbeResult): Extract<ProbeResult, { ok: false }> {
  assert.equal(r.ok, false, JSON.stringify(r));
  return r as Extract<ProbeResult, { ok: false }>;
}

/** An HTTP server on loopback that answers every request with `status`, `headers` and `body`. */
async function answering(
  status: number,
  headers: Record<string, string>,
  body: string,
): Promise<{ url: string; server: Server }> {
  const server = createHttpServer((_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return { url: `ws://127.0.0.1:${port}/`, server };
}

describe("broker.probeUser and the probe's stages", TIMEOUT, () => {
  let b: Broker;
  const servers: { close: () => void }[] = [];
  const target = (url: string, o: { password?: string; timeoutMs?: number } = {}) => ({
    url,
    user: "probe",
    password: o.password ?? b.passwords.probe,
    topics: PROBE_TOPICS,
    timeoutMs: o.timeoutMs ?? 5_000,
  });

  before(async () => {
    b = await Broker.start({
      broker: {
        persistence: false,
        users: [{ name: "alice", acl: [{ access: "readwrite", topic: "#" }] }],
        patterns: [{ access: "readwrite", topic: "clients/%u/#" }],
        probeUser: "probe",
      },
    });
  });
  after(async () => {
    await endAll();
    for (const s of servers) s.close();
    await b?.dispose();
  });

  test("the probe user's ACL is its own $-topic tree, and nothing else", async () => {
    const acl = b.files.acl.split("\n").filter((l) => l && !l.startsWith("#"));
    assert.deepEqual(acl.slice(-3), [
      "user probe",
      "topic deny #",
      `topic readwrite ${PROBE_TOPICS}/#`,
    ]);
    const probeClient = await connect(b.tcpUrl, {
      username: "probe",
      password: b.passwords.probe,
      protocolVersion: 5,
    });
    assert.equal(await publish(probeClient, "clients/probe/x", "p"), 135, "pattern denied");
    assert.equal(await publish(probeClient, "other", "p"), 135, "any other topic denied");
    assert.equal(await publish(probeClient, `${PROBE_TOPICS}/x`, "p"), 0, "its own tree");
    // A user that may read `#` does not see the probe's messages: `#` matches no $-topic.
    const alice = await connect(b.tcpUrl, { username: "alice", password: b.passwords.alice });
    const inbox = new Inbox(alice);
    await subscribe(alice, "#", 1);
    const marker = tag("marker");
    await publish(probeClient, `${PROBE_TOPICS}/y`, "hidden");
    await publish(alice, "marker", marker);
    await inbox.waitFor((m) => m.payload === marker, "alice's own marker");
    assert.ok(!inbox.messages.some((m) => m.payload === "hidden"));
  });

  test("a round trip over WebSockets and over TCP", async () => {
    for (const url of [b.wsUrl, b.tcpUrl]) {
      const r = await probe(target(url));
      assert.equal(r.ok, true, `${url}: ${JSON.stringify(r)}`);
      assert.ok(r.ok && r.ms >= 0);
    }
  });

  test("a wrong password fails at CONNACK, not authorised; the password is not in the detail", async () => {
    const r = failed(await probe(target(b.wsUrl, { password: "wrong-password-123" })));
    assert.equal(r.stage, "connack");
    assert.equal(r.code, 5);
    assert.match(r.detail, /CONNACK 5 \(not authorized\)/);
    assert.ok(!JSON.stringify(r).includes("wrong-password-123"));
  });

  test("nobody listening fails at TCP", async () => {
    const r = failed(await probe(target(`ws://127.0.0.1:${await freePort()}`)));
    assert.equal(r.stage, "tcp");
    assert.match(r.detail, /ECONNREFUSED/);
  });

  test("a name that does not resolve fails at DNS", async () => {
    const r = failed(await probe(target("wss://mqtt-edge-probe.invalid")));
    assert.equal(r.stage, "dns");
    assert.match(r.detail, /mqtt-edge-probe\.invalid: (ENOTFOUND|EAI_AGAIN)/);
  });

  test("a Cloudflare challenge page in place of the upgrade fails at the upgrade, named", async () => {
    const s = await answering(
      403,
      { "cf-mitigated": "challenge", "content-type": "text/html" },
      "<html><title>Just a moment...</title></html>",
    );
    servers.push(s.server);
    const r = failed(await probe(target(s.url)));
    assert.equal(r.stage, "upgrade");
    assert.equal(r.status, 403);
    assert.match(r.detail, /HTTP 403: a Cloudflare challenge page/);
  });

  test("Access refusing the upgrade, and a hostname without a route, are told apart", async () => {
    const access = await answering(
      403,
      { "content-type": "text/html" },
      "<html>Forbidden. You don't have permission to view this. cloudflare access</html>",
    );
    const missing = await answering(404, {}, "Not Found");
    servers.push(access.server, missing.server);
    const a = failed(await probe(target(access.url)));
    assert.equal(a.stage, "upgrade");
    assert.match(a.detail, /HTTP 403: Cloudflare Access refused it/);
    const m = failed(await probe(target(missing.url)));
    assert.equal(m.status, 404);
    assert.match(m.detail, /no route for this hostname/);
  });

  test("a proxy that accepts the upgrade and never answers CONNECT times out at CONNACK", async () => {
    const proxy = await silentWebSocketProxy();
    servers.push(proxy);
    const t0 = Date.now();
    const r = failed(await probe(target(proxy.url, { timeoutMs: 1_500 })));
    assert.equal(r.stage, "connack");
    assert.match(r.detail, /^no CONNACK within 1500 ms$/);
    assert.ok(Date.now() - t0 < 10_000, "bounded by the timeout");
  });
});
