/**
 * The rendered broker on a real mosquitto (Debian 2.0.11) with real clients: MQTT.js over
 * WebSockets (the hop cloudflared makes) and over TCP, plus mosquitto_pub/mosquitto_sub.
 *
 * MQTT 3.1.1 brokers drop a denied PUBLISH silently (the PUBACK still comes), so what a client may
 * write is checked at a subscriber that may read everything, and what it may read by what it
 * receives. Absence is never waited for: after the messages under test the same publisher sends a
 * marker, and a broker delivers one publisher's messages to one subscriber in order, so once the
 * marker is in, everything that was going to arrive has arrived.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { MqttClient } from "mqtt";
import { Broker, type BrokerInput } from "../support/mosquittoBroker";
import {
  Inbox,
  connect,
  delivered,
  end,
  endAll,
  publish,
  subscribe,
  tag,
  tryConnect,
  type Credentials,
} from "../support/mqttClients";

const TIMEOUT = { timeout: 180_000 };
const TRANSPORTS = ["ws", "tcp"] as const;

function creds(b: Broker, user: string): Credentials {
  const password = b.passwords[user];
  assert.ok(password, `no password for ${user}`);
  return { username: user, password };
}

function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------

/** Users, grants, denials (listed before and after the grant) and %u patterns. */
const AUTH: BrokerInput = {
  allowAnonymous: false,
  persistence: false,
  users: [
    { name: "admin", acl: [{ access: "readwrite", topic: "#" }] },
    { name: "sensor", acl: [{ access: "write", topic: "sensors/#" }] },
    {
      name: "dashboard",
      acl: [
        { access: "read", topic: "sensors/#" },
        { access: "read", topic: "dash/#" },
        { access: "deny", topic: "sensors/secret/#" },
      ],
    },
    {
      name: "ops",
      acl: [
        { access: "deny", topic: "ops/locked/#" },
        { access: "readwrite", topic: "ops/#" },
      ],
    },
    { name: "mute", acl: [] },
  ],
  patterns: [
    { access: "readwrite", topic: "clients/%u/#" },
    { access: "deny", topic: "clients/%u/locked/#" },
  ],
};

const TOPICS = [
  "sensors/t1",
  "sensors/secret/s",
  "dash/x",
  "ops/a",
  "ops/locked/a",
  "clients/sensor/x",
  "clients/dashboard/x",
  "clients/ops/x",
  "clients/mute/x",
  "clients/mute/locked/x",
  "clients/admin/locked/x",
  "other/y",
].sort();

/** What each user may write, from the ACL above (and what mosquitto 2.0 makes of it). */
const MAY_WRITE: Record<string, string[]> = {
  // A user's own grant is checked before the patterns: the pattern deny does not reach admin.
  admin: TOPICS,
  sensor: ["clients/sensor/x", "sensors/secret/s", "sensors/t1"],
  dashboard: ["clients/dashboard/x"],
  ops: ["clients/ops/x", "ops/a"],
  // No rules of its own: only the patterns, and their deny wins over their grant.
  mute: ["clients/mute/x"],
};

const MAY_READ: Record<string, string[]> = {
  admin: TOPICS,
  sensor: ["clients/sensor/x"],
  dashboard: ["clients/dashboard/x", "dash/x", "sensors/t1"],
  ops: ["clients/ops/x", "ops/a"],
  mute: ["clients/mute/x"],
};

describe("users and ACLs (allowAnonymous false)", TIMEOUT, () => {
  let b: Broker;
  before(async () => {
    b = await Broker.start({ broker: AUTH });
  });
  after(async () => {
    await endAll();
    await b?.dispose();
  });

  for (const transport of TRANSPORTS) {
    test(`${transport}: every user logs in with its generated password ($7$ line rendered by the program)`, async () => {
      for (const user of Object.keys(MAY_WRITE)) {
        await end(await connect(b.url(transport), creds(b, user)));
      }
    });

    test(`${transport}: anonymous, wrong password, someone else's password and unknown user are refused`, async () => {
      const url = b.url(transport);
      const attempts: [string, Credentials][] = [
        ["anonymous", {}],
        ["wrong password", { username: "sensor", password: `${b.passwords.sensor}x` }],
        ["someone else's password", { username: "sensor", password: b.passwords.admin }],
        ["unknown user", { username: "nobody", password: b.passwords.admin }],
        ["user without password", { username: "sensor" }],
      ];
      for (const [what, c] of attempts) {
        const r = await tryConnect(url, c);
        assert.equal(r.ok, false, `${what} was let in`);
        assert.equal(
          r.ok ? 0 : r.code,
          5,
          `${what}: expected CONNACK 5 (not authorised), got ${JSON.stringify(r)}`,
        );
      }
      const v5 = await tryConnect(url, {
        username: "sensor",
        password: "wrong",
        protocolVersion: 5,
      });
      assert.equal(v5.ok ? 0 : v5.code, 135, "MQTT 5: expected CONNACK 135 (not authorised)");
    });

    test(`${transport}: each user's publishes are delivered exactly where its ACL lets it write`, async () => {
      const observer = await connect(b.tcpUrl, creds(b, "admin"));
      for (const [user, expected] of Object.entries(MAY_WRITE)) {
        const client = await connect(b.url(transport), creds(b, user));
        const got = await delivered(client, observer, TOPICS, `clients/${user}/marker`);
        assert.deepEqual(got, expected, `${user} wrote to`);
        await end(client);
      }
      await end(observer);
    });

    test(`${transport}: each user receives exactly the topics its ACL lets it read`, async () => {
      const admin = await connect(b.tcpUrl, creds(b, "admin"));
      for (const [user, expected] of Object.entries(MAY_READ)) {
        const client = await connect(b.url(transport), creds(b, user));
        const got = await delivered(admin, client, TOPICS, `clients/${user}/marker`);
        assert.deepEqual(got, expected, `${user} read`);
        await end(client);
      }
      await end(admin);
    });
  }

  test("MQTT 5: a denied publish is answered with PUBACK 135, an allowed one with 0", async () => {
    const client = await connect(b.wsUrl, { ...creds(b, "sensor"), protocolVersion: 5 });
    assert.equal(await publish(client, "sensors/t1", "ok"), 0);
    assert.equal(await publish(client, "ops/a", "no"), 135);
    assert.equal(await publish(client, "clients/sensor/locked/x", "no"), 135);
    await end(client);
  });

  test("mosquitto_pub and mosquitto_sub: sensor writes, dashboard reads, a wrong password is refused", async () => {
    const base = ["-h", "127.0.0.1", "-p", String(b.tcpPort), "-V", "mqttv311"];
    const topic = `sensors/cli/${tag("t")}`;
    const pub = await run("mosquitto_pub", [
      ...base,
      "-u",
      "sensor",
      "-P",
      b.passwords.sensor,
      "-t",
      topic,
      "-m",
      "from-cli",
      "-r",
      "-q",
      "1",
    ]);
    assert.equal(pub.code, 0, pub.stderr);
    // The retained message is there for a subscriber that comes later, if it may read it.
    const sub = await run("mosquitto_sub", [
      ...base,
      "-u",
      "dashboard",
      "-P",
      b.passwords.dashboard,
      "-t",
      topic,
      "-C",
      "1",
      "-W",
      "30",
    ]);
    assert.equal(sub.code, 0, sub.stderr);
    assert.equal(sub.stdout.trim(), "from-cli");
    const bad = await run("mosquitto_pub", [
      ...base,
      "-u",
      "sensor",
      "-P",
      "wrong",
      "-t",
      topic,
      "-m",
      "x",
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not authori[sz]ed/i);
    const clear = await run("mosquitto_pub", [
      ...base,
      "-u",
      "admin",
      "-P",
      b.passwords.admin,
      "-t",
      topic,
      "-n",
      "-r",
      "-q",
      "1",
    ]);
    assert.equal(clear.code, 0, clear.stderr);
  });
});

// ---------------------------------------------------------------------------------------------

describe("anonymous clients (allowAnonymous true with anonymousAcl)", TIMEOUT, () => {
  let b: Broker;
  before(async () => {
    b = await Broker.start({
      broker: {
        allowAnonymous: true,
        persistence: false,
        anonymousAcl: [
          { access: "read", topic: "public/#" },
          { access: "write", topic: "inbox/#" },
        ],
        users: [{ name: "admin", acl: [{ access: "readwrite", topic: "#" }] }],
      },
    });
  });
  after(async () => {
    await endAll();
    await b?.dispose();
  });
  const topics = ["public/a", "inbox/a", "other/a"];

  for (const transport of TRANSPORTS) {
    test(`${transport}: anonymous clients connect and read exactly anonymousAcl's read topics`, async () => {
      const admin = await connect(b.tcpUrl, creds(b, "admin"));
      const anon = await connect(b.url(transport));
      assert.deepEqual(await delivered(admin, anon, topics, "public/marker"), ["public/a"]);
      await end(anon);
      await end(admin);
    });

    test(`${transport}: anonymous clients write exactly anonymousAcl's write topics`, async () => {
      const admin = await connect(b.tcpUrl, creds(b, "admin"));
      const anon = await connect(b.url(transport));
      assert.deepEqual(await delivered(anon, admin, topics, "inbox/marker"), ["inbox/a"]);
      await end(anon);
      await end(admin);
    });

    test(`${transport}: a user name still needs its password; unknown users are refused`, async () => {
      await end(await connect(b.url(transport), creds(b, "admin")));
      for (const c of [
        { username: "admin", password: "wrong" },
        { username: "nobody", password: "x" },
      ]) {
        const r = await tryConnect(b.url(transport), c);
        assert.equal(
          r.ok ? 0 : r.code,
          5,
          `${c.username} with a wrong password: ${JSON.stringify(r)}`,
        );
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe("messageSizeLimit (1024 bytes; anonymous with the default anonymousAcl)", TIMEOUT, () => {
  let b: Broker;
  before(async () => {
    b = await Broker.start({
      broker: { allowAnonymous: true, persistence: false, messageSizeLimit: 1024 },
    });
  });
  after(async () => {
    await endAll();
    await b?.dispose();
  });

  for (const transport of TRANSPORTS) {
    test(`${transport}: a payload of exactly the limit is delivered, one byte more is not`, async () => {
      const sub = await connect(b.tcpUrl);
      const inbox = new Inbox(sub);
      await subscribe(sub, "size/#");
      const pub = await connect(b.url(transport));
      const t = tag("size");
      const body = (n: number) => `${t}|`.padEnd(n, "x");
      await publish(pub, "size/over", body(1025));
      await publish(pub, "size/at", body(1024));
      const at = await inbox.waitFor(
        (m) => m.topic === "size/at" && m.payload.startsWith(t),
        "size/at",
      );
      assert.equal(at.bytes, 1024);
      assert.deepEqual(inbox.topicsOf(`${t}|`), ["size/at"], "the oversized message was delivered");
      await end(pub);
      await end(sub);
    });
  }

  test("MQTT 5 (mosquitto_pub): the oversized QoS 1 publish is answered with PUBACK 149", async () => {
    // 149 (packet too large) is not a PUBACK reason code in MQTT 5.0 (3.4.2.1); MQTT.js rejects
    // that PUBACK as a protocol error ("Invalid puback reason code"), so the CLI checks this.
    const base = [
      "-h",
      "127.0.0.1",
      "-p",
      String(b.tcpPort),
      "-V",
      "mqttv5",
      "-q",
      "1",
      "-t",
      "size/v5",
      "-d",
    ];
    const over = await run("mosquitto_pub", [...base, "-m", "x".repeat(1025)]);
    assert.match(over.stdout, /received PUBACK \(Mid: \d+, RC:149\)/, over.stdout + over.stderr);
    const at = await run("mosquitto_pub", [...base, "-m", "x".repeat(1024)]);
    assert.match(at.stdout, /received PUBACK \(Mid: \d+, RC:(0|16)\)/, at.stdout + at.stderr);
  });
});

// ---------------------------------------------------------------------------------------------

describe("maxConnections 3", TIMEOUT, () => {
  let b: Broker;
  before(async () => {
    // A fresh broker: Debian's 2.0.11 counts every closed connection twice (upstream fix in
    // 2.0.12), so the limit only holds until the first disconnect. Nothing connects before this.
    b = await Broker.start({
      broker: { allowAnonymous: true, persistence: false, maxConnections: 3 },
    });
  });
  after(async () => {
    await endAll();
    await b?.dispose();
  });

  test("tcp: three connections are accepted, the fourth is refused", async () => {
    const held: MqttClient[] = [];
    for (let i = 0; i < 3; i++) held.push(await connect(b.tcpUrl));
    const fourth = await tryConnect(b.tcpUrl);
    assert.equal(fourth.ok, false, "a fourth TCP connection was accepted");
    assert.match(
      await b.logMatching(/denied: max_connections exceeded/),
      /denied: max_connections/,
    );
    for (const c of held) await end(c);
  });

  test("ws: the websockets listener does not enforce max_connections (mosquitto 2.0, libwebsockets)", async () => {
    // websockets.c compares the listener's client_count with max_connections but only the TCP
    // accept path ever increments it, so this limit never bites on the listener cloudflared uses.
    const held: MqttClient[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await tryConnect(b.wsUrl);
      assert.ok(r.ok, `websockets connection ${i + 1} refused: ${r.ok ? "" : r.reason}`);
      held.push(r.client);
    }
    for (const c of held) await end(c);
  });
});

// ---------------------------------------------------------------------------------------------

describe("persistence: retained messages across a restart", TIMEOUT, () => {
  const brokers: Broker[] = [];
  after(async () => {
    await endAll();
    for (const b of brokers) await b.dispose();
  });

  async function retainAndRestart(persistence: boolean) {
    const b = await Broker.start({
      broker: {
        persistence,
        users: [{ name: "admin", acl: [{ access: "readwrite", topic: "#" }] }],
      },
    });
    brokers.push(b);
    const t = tag("kept");
    const pub = await connect(b.wsUrl, creds(b, "admin"));
    await publish(pub, "persist/a", t, { retain: true });
    await end(pub);
    // Retained before the restart, so a loss afterwards is the restart's doing.
    const check = await connect(b.tcpUrl, creds(b, "admin"));
    const before = new Inbox(check);
    await subscribe(check, "persist/#");
    assert.equal((await before.waitFor((m) => m.payload === t, "retained message")).retain, true);
    await end(check);
    await b.restart();
    const sub = await connect(b.wsUrl, creds(b, "admin"));
    const inbox = new Inbox(sub);
    await subscribe(sub, "persist/#");
    // Retained messages come right after SUBACK, before anything published after it.
    const marker = tag("marker");
    await publish(sub, "persist/marker", marker);
    await inbox.waitFor((m) => m.payload === marker, "marker");
    await end(sub);
    return { b, t, inbox };
  }

  test("persistence true: the retained message survives a restart on the same data directory", async () => {
    const { b, t, inbox } = await retainAndRestart(true);
    assert.equal(
      inbox.messages[0]?.payload,
      t,
      `first message after restart: ${JSON.stringify(inbox.messages)}`,
    );
    assert.equal(inbox.messages[0]?.retain, true);
    assert.ok(
      existsSync(join(b.paths.data, "mosquitto.db")),
      "no mosquitto.db in the data directory",
    );
  });

  test("persistence false: the retained message is gone after a restart", async () => {
    const { b, t, inbox } = await retainAndRestart(false);
    assert.equal(inbox.has(t), false, "the retained message survived without persistence");
    assert.equal(inbox.messages[0]?.retain, false);
    assert.ok(
      !existsSync(join(b.paths.data, "mosquitto.db")),
      "mosquitto.db written without persistence",
    );
  });
});
