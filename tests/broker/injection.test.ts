/**
 * User names and topics end up as lines of the ACL and password files. parseConfig refuses any
 * that carry a newline, whitespace or control characters; these tests show it does, naming the
 * key, and, by rendering the same values with validation bypassed, that each refusal matters:
 * the real broker behaves differently with the injected files.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { ConfigError, type BrokerConfig } from "../../config";
import { Broker, parseBroker, type BrokerInput } from "../support/mosquittoBroker";
import { connect, delivered, endAll } from "../support/mqttClients";

const TIMEOUT = { timeout: 180_000 };

const BASE: BrokerInput = {
  allowAnonymous: false,
  persistence: false,
  users: [
    { name: "admin", acl: [{ access: "readwrite", topic: "#" }] },
    { name: "sensor", acl: [{ access: "write", topic: "sensors/#" }] },
    { name: "mute", acl: [] },
  ],
  patterns: [{ access: "readwrite", topic: "clients/%u/#" }],
};

const users = () =>
  structuredClone(BASE.users) as { name: string; acl: { access: string; topic: string }[] }[];

function problems(broker: BrokerInput): string[] {
  try {
    parseBroker(broker);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.message}`);
    throw e;
  }
  return [];
}

describe("parseConfig refuses values that would add lines to the broker's files", () => {
  const withUser = (name: string) => ({ ...BASE, users: [{ name, acl: [] }, ...users()] });
  const withTopic = (topic: string) => ({
    ...BASE,
    users: [{ name: "sensor2", acl: [{ access: "write", topic }] }, ...users()],
  });
  const cases: [string, BrokerInput, string, RegExp][] = [
    [
      "directive in a user name",
      withUser("a\nallow_anonymous true"),
      "mqtt-edge:broker.users[0].name",
      /no ':', whitespace or newlines.*"a\\nallow_anonymous true"/,
    ],
    [
      "ACL rule in a user name",
      withUser("intruder\npattern readwrite #"),
      "mqtt-edge:broker.users[0].name",
      /newlines/,
    ],
    ["space in a user name", withUser("a b"), "mqtt-edge:broker.users[0].name", /whitespace/],
    ["colon in a user name", withUser("admin:x"), "mqtt-edge:broker.users[0].name", /no ':'/],
    [
      "carriage return in a user name",
      withUser("a\rb"),
      "mqtt-edge:broker.users[0].name",
      /newlines/,
    ],
    [
      "ACL rule in a topic",
      withTopic("x\ntopic readwrite #"),
      "mqtt-edge:broker.users[0].acl[0].topic",
      /without whitespace or control characters.*"x\\ntopic readwrite #"/,
    ],
    [
      "directive in a topic",
      withTopic("a\nallow_anonymous true"),
      "mqtt-edge:broker.users[0].acl[0].topic",
      /without whitespace/,
    ],
    [
      "space in a topic",
      withTopic("a b"),
      "mqtt-edge:broker.users[0].acl[0].topic",
      /without whitespace/,
    ],
    [
      "tab in a topic",
      withTopic("a\tb"),
      "mqtt-edge:broker.users[0].acl[0].topic",
      /without whitespace/,
    ],
    [
      "ACL rule in an anonymous topic",
      { allowAnonymous: true, anonymousAcl: [{ access: "read", topic: "x\ntopic readwrite #" }] },
      "mqtt-edge:broker.anonymousAcl[0].topic",
      /without whitespace/,
    ],
    [
      "ACL rule in a pattern",
      { ...BASE, patterns: [{ access: "read", topic: "clients/%u\ntopic readwrite #" }] },
      "mqtt-edge:broker.patterns[0].topic",
      /without whitespace/,
    ],
  ];
  for (const [what, broker, path, message] of cases) {
    test(what, () => {
      const got = problems(broker);
      const hit = got.find((p) => p.startsWith(`${path}: `));
      assert.ok(hit, `no problem at ${path}; got ${JSON.stringify(got)}`);
      assert.match(hit, message);
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe(
  "the same values with validation bypassed change what the real broker does",
  TIMEOUT,
  () => {
    const brokers: Broker[] = [];
    after(async () => {
      await endAll();
      for (const b of brokers) await b.dispose();
    });
    async function start(config: BrokerConfig): Promise<Broker> {
      const b = await Broker.start({ config });
      brokers.push(b);
      return b;
    }
    const login = (b: Broker, user: string) =>
      connect(b.wsUrl, { username: user, password: b.passwords[user] });

    /** What `user` can write and read among a few topics, seen by admin. */
    async function reach(b: Broker, user: string) {
      const marker = `clients/${user}/marker`;
      const topics = ["ops/a", "sensors/t", "zzz/b"];
      const admin = await connect(b.tcpUrl, { username: "admin", password: b.passwords.admin });
      const client = await login(b, user);
      const writes = await delivered(client, admin, topics, marker);
      const reads = await delivered(admin, client, topics, marker);
      return { writes, reads };
    }

    test('a topic "x\\ntopic readwrite #" in sensor\'s ACL grants sensor everything', async () => {
      const cfg = (topic: string): BrokerConfig => {
        const c = parseBroker(BASE);
        c.users = c.users.map((u) =>
          u.name === "sensor" ? { ...u, acl: [...u.acl, { access: "write", topic }] } : u,
        );
        return c;
      };
      const honest = await start(cfg("x"));
      assert.deepEqual(await reach(honest, "sensor"), { writes: ["sensors/t"], reads: [] });
      const injected = await start(cfg("x\ntopic readwrite #"));
      assert.match(injected.files.acl, /^topic readwrite #$/m);
      assert.deepEqual(await reach(injected, "sensor"), {
        writes: ["ops/a", "sensors/t", "zzz/b"],
        reads: ["ops/a", "sensors/t", "zzz/b"],
      });
    });

    test('a user named "intruder\\npattern readwrite #" grants every client everything', async () => {
      const cfg = (name: string): BrokerConfig => {
        const c = parseBroker(BASE);
        c.users = [...c.users, { name, acl: [] }];
        return c;
      };
      // mute has no rules of its own: only its clients/mute/# pattern.
      const honest = await start(cfg("intruder"));
      const before = await reach(honest, "mute");
      assert.deepEqual(before, { writes: [], reads: [] });
      const injected = await start(cfg("intruder\npattern readwrite #"));
      assert.match(injected.files.acl, /^pattern readwrite #$/m);
      assert.deepEqual(await reach(injected, "mute"), {
        writes: ["ops/a", "sensors/t", "zzz/b"],
        reads: ["ops/a", "sensors/t", "zzz/b"],
      });
    });

    test('a user named "a\\nallow_anonymous true" stops the broker from starting at all', async () => {
      const honest = parseBroker(BASE);
      honest.users = [...honest.users, { name: "a", acl: [] }];
      await start(honest);
      const c = parseBroker(BASE);
      c.users = [...c.users, { name: "a\nallow_anonymous true", acl: [] }];
      await assert.rejects(Broker.start({ config: c }), (e: Error) => {
        assert.match(e.message, /exited \(code \d+\) before listening/);
        assert.match(e.message, /Invalid line in acl_file .*: allow_anonymous\./);
        return true;
      });
    });
  },
);
