import assert from "node:assert/strict";
import { pbkdf2Sync } from "node:crypto";
import { describe, test } from "node:test";
import {
  HASH_ITERATIONS,
  SYS_INTERVAL,
  buildIngress,
  deriveSalt,
  hashPasswordLine,
  monitorAcl,
  renderAclFile,
  renderMosquittoConf,
  renderPasswordFile,
  verifyPasswordLine,
} from "../../components/render";
import {
  METRICS_ADDRESS,
  METRICS_PORT,
  METRICS_PUBLISHED_ADDRESS,
  connectorCommand,
  metricsHostPort,
} from "../../components/connector";
import { listeningCheck } from "../../components/healthchecks";
import { BROKER_DEFAULTS } from "../../config";

const conf = (over: Partial<Parameters<typeof renderMosquittoConf>[0]> = {}) =>
  renderMosquittoConf({
    allowAnonymous: BROKER_DEFAULTS.allowAnonymous,
    persistence: BROKER_DEFAULTS.persistence,
    websocketPort: BROKER_DEFAULTS.websocketPort,
    maxConnections: BROKER_DEFAULTS.maxConnections,
    messageSizeLimit: BROKER_DEFAULTS.messageSizeLimit,
    maxKeepalive: BROKER_DEFAULTS.maxKeepalive,
    passwordFile: true,
    ...over,
  });

function directives(text: string): string[] {
  return text.split("\n").filter((l) => l && !l.startsWith("#"));
}

describe("mosquitto.conf", () => {
  test("two listeners, auth on, persistence in the data volume", () => {
    const lines = directives(conf());
    for (const l of [
      "allow_anonymous false",
      "password_file /mosquitto/config/passwd",
      "acl_file /mosquitto/config/acl",
      "persistence true",
      "persistence_location /mosquitto/data/",
      "message_size_limit 262144",
      "log_dest stderr",
      "set_tcp_nodelay true",
    ]) {
      assert.ok(lines.includes(l), `missing "${l}"`);
    }
    const l1883 = lines.indexOf("listener 1883");
    const l9001 = lines.indexOf("listener 9001");
    assert.ok(l1883 >= 0 && l9001 > l1883);
    assert.equal(lines[l9001 + 1], "protocol websockets");
    assert.equal(lines[l1883 + 1], "protocol mqtt");
    assert.equal(lines.filter((l) => l === "max_connections 1000").length, 2);
  });

  test("options follow the config", () => {
    const lines = directives(
      conf({ allowAnonymous: true, persistence: false, websocketPort: 8080, passwordFile: false }),
    );
    assert.ok(lines.includes("allow_anonymous true"));
    assert.ok(lines.includes("persistence false"));
    assert.ok(!lines.some((l) => l.startsWith("persistence_location")));
    assert.ok(!lines.some((l) => l.startsWith("password_file")));
    assert.ok(lines.includes("listener 8080"));
  });

  test("max_keepalive follows broker.maxKeepalive; sys_interval 10 publishes $SYS", () => {
    const lines = directives(conf());
    assert.deepEqual(
      lines.filter((l) => l.startsWith("max_keepalive")),
      ["max_keepalive 60"],
      "one max_keepalive, the given one (no longer a fixed 300)",
    );
    assert.deepEqual(
      lines.filter((l) => l.startsWith("sys_interval")),
      [`sys_interval ${SYS_INTERVAL}`],
    );
    assert.equal(SYS_INTERVAL, 10);
    assert.ok(directives(conf({ maxKeepalive: 10 })).includes("max_keepalive 10"));
    assert.ok(directives(conf({ maxKeepalive: 65535 })).includes("max_keepalive 65535"));
    // Global options, before the first listener (per_listener_settings false).
    const first = lines.findIndex((l) => l.startsWith("listener "));
    assert.ok(
      lines.indexOf("max_keepalive 60") < first && lines.indexOf("sys_interval 10") < first,
    );
  });
});

describe("ACL file", () => {
  test("anonymous rules first, patterns for everyone, then one block per user", () => {
    const text = renderAclFile({
      anonymous: [{ access: "read", topic: "public/#" }],
      patterns: [{ access: "readwrite", topic: "clients/%u/#" }],
      users: [
        { name: "sensor", acl: [{ access: "write", topic: "sensors/#" }] },
        {
          name: "dashboard",
          acl: [
            { access: "read", topic: "#" },
            { access: "deny", topic: "secret/#" },
          ],
        },
        { name: "idle", acl: [] },
      ],
    });
    assert.deepEqual(directives(text), [
      "topic read public/#",
      "pattern readwrite clients/%u/#",
      "user sensor",
      "topic write sensors/#",
      "user dashboard",
      "topic read #",
      "topic deny secret/#",
      "user idle",
    ]);
  });

  test("the monitor user comes last: deny # (every topic but the $-topics), read $SYS/#", () => {
    const input = {
      anonymous: [],
      patterns: [{ access: "readwrite" as const, topic: "clients/%u/#" }],
      users: [{ name: "sensor", acl: [{ access: "write" as const, topic: "sensors/#" }] }],
    };
    assert.deepEqual(directives(renderAclFile({ ...input, monitorUser: "monitor" })), [
      "pattern readwrite clients/%u/#",
      "user sensor",
      "topic write sensors/#",
      "user monitor",
      "topic deny #",
      "topic read $SYS/#",
    ]);
    assert.deepEqual(monitorAcl(), [
      { access: "deny", topic: "#" },
      { access: "read", topic: "$SYS/#" },
    ]);
    const without = directives(renderAclFile(input));
    assert.ok(!without.some((l) => l.includes("$SYS")), "no $SYS rule without a monitor user");
  });
});

describe("password file", () => {
  test("$7$ lines with a 12-byte salt and a 64-byte PBKDF2-SHA512 hash", () => {
    const salt = Buffer.from("0123456789ab");
    const line = hashPasswordLine("alice", "s3cret", salt);
    const [name, rest] = line.split(":");
    assert.equal(name, "alice");
    const [, seven, iterations, b64salt, b64hash] = rest.split("$");
    assert.equal(seven, "7");
    assert.equal(Number(iterations), HASH_ITERATIONS);
    assert.deepEqual(Buffer.from(b64salt, "base64"), salt);
    assert.deepEqual(
      Buffer.from(b64hash, "base64"),
      pbkdf2Sync("s3cret", salt, HASH_ITERATIONS, 64, "sha512"),
    );
    assert.ok(verifyPasswordLine(line, "s3cret"));
    assert.ok(!verifyPasswordLine(line, "s3cret!"));
  });

  test("stable for the same inputs (no perpetual diff), different per user, password and seed", () => {
    const a = renderPasswordFile(
      [
        { name: "a", password: "p" },
        { name: "b", password: "p" },
      ],
      "seed",
    );
    assert.equal(
      a,
      renderPasswordFile(
        [
          { name: "a", password: "p" },
          { name: "b", password: "p" },
        ],
        "seed",
      ),
    );
    const [la, lb] = a.trim().split("\n");
    assert.notEqual(la.split("$")[3], lb.split("$")[3], "salts differ per user");
    assert.notEqual(
      a,
      renderPasswordFile(
        [
          { name: "a", password: "q" },
          { name: "b", password: "p" },
        ],
        "seed",
      ),
    );
    assert.notEqual(
      a,
      renderPasswordFile(
        [
          { name: "a", password: "p" },
          { name: "b", password: "p" },
        ],
        "other",
      ),
    );
    assert.equal(deriveSalt("s", "u").length, 12);
  });

  test("verifies a line written by mosquitto_passwd 2.0", () => {
    // Written by Debian's mosquitto_passwd 2.0.11 (`mosquitto_passwd -b f alice s3cret`).
    const salt = Buffer.from("c2FsdHNhbHRzYWx0", "base64");
    const hash = pbkdf2Sync("s3cret", salt, 101, 64, "sha512").toString("base64");
    assert.ok(verifyPasswordLine(`alice:$7$101$${salt.toString("base64")}$${hash}`, "s3cret"));
  });
});

describe("ingress rules", () => {
  test("hostnames to the broker, HTTP hostnames to the proxy, then the 404 catch-all", () => {
    assert.deepEqual(
      buildIngress({
        mqttHostnames: ["mqtt.example.com"],
        brokerService: "http://mosquitto:9001",
        httpHostnames: ["www.example.com"],
        httpService: "http://proxy:80",
      }),
      [
        { hostname: "mqtt.example.com", service: "http://mosquitto:9001" },
        { hostname: "www.example.com", service: "http://proxy:80" },
        { service: "http_status:404" },
      ],
    );
    assert.deepEqual(buildIngress({ mqttHostnames: [], brokerService: "x" }), [
      { service: "http_status:404" },
    ]);
  });
});

describe("container commands", () => {
  test("the token never appears on the cloudflared command line", () => {
    const cmd = connectorCommand({ kind: "token", token: "TOKEN-VALUE" }, []);
    assert.ok(!cmd.join(" ").includes("TOKEN-VALUE"));
    assert.equal(cmd.at(-1), "run");
    assert.deepEqual(
      connectorCommand({ kind: "token", token: "t" }, ["127.0.0.1:7844"]).slice(4, 6),
      ["--edge", "127.0.0.1:7844"],
    );
    assert.deepEqual(
      connectorCommand(
        { kind: "quick", service: "http://m:9001", quickService: "http://q" },
        [],
      ).slice(-4),
      ["--quick-service", "http://q", "--url", "http://m:9001"],
    );
  });

  test("the metrics server: loopback unless published, then every address of the container", () => {
    const t = { kind: "token" as const, token: "t" };
    assert.deepEqual(connectorCommand(t, []).slice(2, 4), ["--metrics", "127.0.0.1:2000"]);
    assert.equal(METRICS_ADDRESS, "127.0.0.1:2000");
    assert.deepEqual(connectorCommand(t, [], undefined, METRICS_PUBLISHED_ADDRESS).slice(2, 4), [
      "--metrics",
      "0.0.0.0:2000",
    ]);
    assert.equal(METRICS_PORT, 2000);
    // Connector i is published at port + i - 1.
    const publish = { ip: "127.0.0.1", port: 2000 };
    assert.deepEqual(
      [1, 2, 3].map((i) => metricsHostPort(publish, i)),
      [
        { ip: "127.0.0.1", port: 2000 },
        { ip: "127.0.0.1", port: 2001 },
        { ip: "127.0.0.1", port: 2002 },
      ],
    );
  });

  test("the listening check matches /proc/net/tcp's hex port", () => {
    assert.match(listeningCheck(9001)[1], /:2329 /);
    assert.match(listeningCheck(1883)[1], /:075B /);
  });
});
