#!/usr/bin/env node
// End-to-end MQTT probe. The password comes from the environment (MQTT_PASSWORD), never argv.
//
//   node /app/client.js pubsub  --url ws://host:9001 --user U --topic T --message M
//                               [--retain] [--qos 0|1|2] [--timeout SECONDS] [--client-id ID]
//                               [--no-publish]  (only wait for M, e.g. a retained message)
//   node /app/client.js connect --url mqtt://host:1883 --user U [--timeout SECONDS]
//   node /app/client.js watch   --url ws://host:9001 --user U --topic F [--topic F2 ...]
//                               [--until TOPIC] [--qos 0|1|2] [--timeout SECONDS]
//   node /app/client.js publish --url ws://host:9001 --user U --topic T --message M
//                               [--retain] [--qos 0|1|2] [--timeout SECONDS]
//   Every command also takes --protocol 4|5 (MQTT 3.1.1, the default, or MQTT 5).
//
// pubsub: connect, subscribe to T, publish M to T, wait until M comes back.
// watch: subscribe to every filter F in one SUBSCRIBE, print `SUBACK <granted codes>` and then
// one JSON line per message ({"topic", "payload", "retain"}) until one arrives on TOPIC (by
// default: the first message). Retained messages come in the order of the filters, so a retained
// message on TOPIC, last, is a marker: whatever the filters before it could get has come by then.
// publish: publish M to T and wait for the broker's acknowledgement (QoS 0: until it is written).
// Exit codes: 0 ok, 2 usage, 3 cannot connect (refused/unreachable/closed), 4 not authorised
// (bad credentials, subscription refused, or an MQTT 5 publish answered "not authorized"),
// 5 timeout, 1 anything else.
"use strict";
const mqtt = require("mqtt");

const EXIT = { ok: 0, other: 1, usage: 2, connect: 3, auth: 4, timeout: 5 };
// Set once the probe has its answer: what the socket does while closing (EPIPE, ECONNRESET
// from a broker that drops the connection first) no longer changes the verdict.
let finished = false;
function fail(kind, msg) {
  if (finished) return;
  process.stderr.write(`FAIL ${kind}: ${msg}\n`);
  process.exit(EXIT[kind] ?? 1);
}
function succeed(line, client) {
  finished = true;
  process.stdout.write(line);
  client.end(true, () => process.exit(0));
  // end() waits for nothing when forced, but never hang on a dead socket.
  setTimeout(() => process.exit(0), 1000).unref();
}

function parse(argv) {
  const [cmd, ...rest] = argv;
  const o = { cmd, qos: 1, timeout: 15, retain: false, protocol: 4, topics: [] };
  for (let i = 0; i < rest.length; i++) {
    const k = rest[i];
    const v = () => {
      if (i + 1 >= rest.length) fail("usage", `${k} needs a value`);
      return rest[++i];
    };
    switch (k) {
      case "--url":
        o.url = v();
        break;
      case "--user":
        o.user = v();
        break;
      case "--topic":
        o.topic = v();
        o.topics.push(o.topic);
        break;
      case "--until":
        o.until = v();
        break;
      case "--protocol":
        o.protocol = Number(v());
        break;
      case "--message":
        o.message = v();
        break;
      case "--qos":
        o.qos = Number(v());
        break;
      case "--timeout":
        o.timeout = Number(v());
        break;
      case "--client-id":
        o.clientId = v();
        break;
      case "--retain":
        o.retain = true;
        break;
      case "--no-publish":
        o.noPublish = true;
        break;
      case "--pass":
      case "--password":
        fail("usage", "passwords are read from the MQTT_PASSWORD environment variable, not argv");
        break;
      default:
        fail("usage", `unknown argument ${k}`);
    }
  }
  if (!["pubsub", "connect", "watch", "publish"].includes(o.cmd)) {
    fail("usage", "command must be pubsub, connect, watch or publish");
  }
  if (!o.url) fail("usage", "--url is required");
  if (["pubsub", "publish"].includes(o.cmd) && (!o.topic || o.message === undefined)) {
    fail("usage", `${o.cmd} needs --topic and --message`);
  }
  if (o.cmd === "watch" && o.topics.length === 0) fail("usage", "watch needs --topic");
  if (![4, 5].includes(o.protocol)) fail("usage", "--protocol must be 4 (MQTT 3.1.1) or 5");
  if (![0, 1, 2].includes(o.qos)) fail("usage", "--qos must be 0, 1 or 2");
  if (!(o.timeout > 0)) fail("usage", "--timeout must be a positive number of seconds");
  return o;
}

function classify(err) {
  const code = err && err.code;
  // CONNACK: MQTT 3.1.1 codes 4 (bad user name or password) and 5 (not authorized);
  // MQTT 5 reason codes 0x86/0x87.
  if ([4, 5, 134, 135].includes(code))
    return ["auth", `broker refused the connection: ${err.message}`];
  if (typeof code === "number") return ["connect", `broker refused the connection: ${err.message}`];
  return ["connect", `${code ? code + " " : ""}${err && err.message ? err.message : String(err)}`];
}

function main() {
  const o = parse(process.argv.slice(2));
  const started = Date.now();
  const client = mqtt.connect(o.url, {
    username: o.user,
    password: process.env.MQTT_PASSWORD,
    clientId: o.clientId || `e2e-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    protocolVersion: o.protocol,
    reconnectPeriod: 0, // one attempt: report, do not retry
    connectTimeout: o.timeout * 1000,
    clean: true,
  });
  let connected = false;
  const timer = setTimeout(() => {
    fail(
      "timeout",
      `${connected ? "no message back on " + o.topic : "no CONNACK from " + o.url} after ${o.timeout} s` +
        (connected ? " (publish denied by ACL?)" : ""),
    );
  }, o.timeout * 1000);

  client.on("error", (err) => {
    const [k, m] = classify(err);
    fail(k, m);
  });
  client.on("close", () => {
    if (!connected) fail("connect", `connection to ${o.url} closed before CONNACK`);
  });
  client.on("offline", () => {
    if (connected) fail("connect", "connection lost");
  });

  client.on("connect", () => {
    connected = true;
    if (o.cmd === "connect") {
      clearTimeout(timer);
      succeed(`OK connected to ${o.url} in ${Date.now() - started} ms\n`, client);
      return;
    }
    if (o.cmd === "watch") return watch(o, client, timer);
    if (o.cmd === "publish") return publishOnce(o, client, timer);
    client.on("message", (topic, payload) => {
      if (topic !== o.topic || payload.toString() !== o.message) return;
      clearTimeout(timer);
      succeed(
        `OK ${topic} ${payload.length} bytes round trip in ${Date.now() - started} ms\n`,
        client,
      );
    });
    client.subscribe(o.topic, { qos: o.qos }, (err, granted) => {
      if (err) return fail("other", `subscribe failed: ${err.message}`);
      if (granted && granted.some((g) => g.qos === 128)) {
        return fail("auth", `subscription to ${o.topic} refused (ACL)`);
      }
      if (o.noPublish) return;
      client.publish(o.topic, o.message, { qos: o.qos, retain: o.retain }, (perr) => {
        if (perr) fail("other", `publish failed: ${perr.message}`);
      });
    });
  });
}

function watch(o, client, timer) {
  client.on("message", (topic, payload, packet) => {
    const line = { topic, payload: payload.toString(), retain: packet.retain };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    if (o.until === undefined || topic === o.until) {
      clearTimeout(timer);
      succeed("", client);
    }
  });
  client.subscribe(o.topics, { qos: o.qos }, (err, granted) => {
    if (err) return fail("other", `subscribe failed: ${err.message}`);
    const codes = (granted || []).map((g) => g.qos);
    process.stdout.write(`SUBACK ${JSON.stringify(codes)}\n`);
    if (codes.some((c) => c >= 128)) fail("auth", `subscription refused (ACL): ${codes}`);
  });
}

function publishOnce(o, client, timer) {
  client.publish(o.topic, o.message, { qos: o.qos, retain: o.retain }, (err) => {
    clearTimeout(timer);
    // MQTT 5: a PUBACK/PUBREC reason code of 135 is "not authorized".
    if (err && err.code === 135) return fail("auth", `publish refused: ${err.message}`);
    if (err) return fail("other", `publish failed: ${err.message}`);
    succeed(`OK published ${o.topic}\n`, client);
  });
}

main();
