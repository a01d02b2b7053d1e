/**
 * broker.monitorUser on the real broker (Debian 2.0.11): the README's metrics example, whose
 * monitor user may read `$SYS/#` and nothing else, although a `clients/%u/#` pattern would grant
 * every user more.
 *
 * Absence is never waited for: retained messages come, after SUBACK, in the order of the filters
 * of the SUBSCRIBE, so subscribing to the filters under test and then to a retained `$SYS` topic
 * means that when the `$SYS` message is in, whatever the filters before it could deliver has come.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MqttClient } from "mqtt";
import { Broker } from "../support/mosquittoBroker";
import { Inbox, connect, end, endAll, publish, tag } from "../support/mqttClients";
import { readmeExample } from "../support/readmeExamples";

const TIMEOUT = { timeout: 120_000 };
const TRANSPORTS = ["ws", "tcp"] as const;
const CONNECTED = "$SYS/broker/clients/connected";

/** The README's example: what these tests run. */
const EXAMPLE = readmeExample("## Metrics and monitoring")["mqtt-edge:broker"];

/** Subscribes to `filters` then to `marker` in one SUBSCRIBE; the messages before the marker. */
async function messagesBefore(
  client: MqttClient,
  filters: string[],
  marker: string,
): Promise<{ granted: number[]; got: string[]; markerPayload: string }> {
  const inbox = new Inbox(client);
  const granted = (await client.subscribeAsync([...filters, marker], { qos: 1 })).map((g) => g.qos);
  const m = await inbox.waitFor((x) => x.topic === marker, `retained ${marker}`);
  const got = inbox.messages.slice(0, inbox.messages.indexOf(m)).map((x) => x.topic);
  await client.unsubscribeAsync([...filters, marker]);
  return { granted, got, markerPayload: m.payload };
}

describe("broker.monitorUser: $SYS/# read-only", TIMEOUT, () => {
  let b: Broker;
  const as = (user: string) => ({ username: user, password: b.passwords[user] });

  before(async () => {
    b = await Broker.start({ broker: { persistence: false, ...EXAMPLE } });
  });
  after(async () => {
    await endAll();
    await b?.dispose();
  });

  test("the example renders the monitor user last, with deny # and read $SYS/#", () => {
    assert.equal(b.config.monitorUser, "monitor");
    const acl = b.files.acl.split("\n").filter((l) => l && !l.startsWith("#"));
    assert.deepEqual(acl, [
      "pattern readwrite clients/%u/#",
      "user sensor",
      "topic readwrite sensors/#",
      "user monitor",
      "topic deny #",
      "topic read $SYS/#",
    ]);
    assert.match(b.files.passwd ?? "", /^monitor:\$7\$/m, "the monitor user has a password line");
  });

  for (const transport of TRANSPORTS) {
    test(`${transport}: the monitor user reads $SYS/broker/clients/connected`, async () => {
      const monitor = await connect(b.url(transport), as("monitor"));
      const r = await messagesBefore(monitor, [], CONNECTED);
      assert.match(r.markerPayload, /^\d+$/, `clients/connected: ${r.markerPayload}`);
      await end(monitor);
    });

    test(`${transport}: the monitor user receives nothing outside $SYS, though SUBACK grants every filter (2.0 checks no SUBSCRIBE)`, async () => {
      const sensor = await connect(b.tcpUrl, as("sensor"));
      const t = tag("r");
      const retained = [`sensors/${t}`, `clients/sensor/${t}`];
      for (const topic of retained) await publish(sensor, topic, t, { retain: true });
      // They are there for a user that may read them: the check below can fail.
      const inbox = new Inbox(sensor);
      await sensor.subscribeAsync("#", { qos: 1 });
      for (const topic of retained) await inbox.waitFor((m) => m.topic === topic, topic);
      await sensor.unsubscribeAsync("#");

      const monitor = await connect(b.url(transport), as("monitor"));
      const filters = ["#", "sensors/#", "clients/#", "clients/monitor/#", "$SYS/#"];
      const r = await messagesBefore(monitor, filters, CONNECTED);
      assert.deepEqual(r.granted, [1, 1, 1, 1, 1, 1], "mosquitto 2.0.11 grants every SUBSCRIBE");
      assert.ok(
        r.got.every((topic) => topic.startsWith("$SYS/")),
        `the monitor user got ${JSON.stringify(r.got.filter((x) => !x.startsWith("$SYS/")))}`,
      );
      assert.ok(r.got.length > 0, "the $SYS/# filter delivered the broker's retained statistics");
      for (const topic of retained) await publish(sensor, topic, "", { retain: true });
      await end(monitor);
      await end(sensor);
    });
  }

  test("MQTT 5: every publish of the monitor user is refused with PUBACK 135, $SYS included", async () => {
    const monitor = await connect(b.wsUrl, { ...as("monitor"), protocolVersion: 5 });
    // clients/monitor/x: the pattern would grant it; the monitor's own `deny #` comes first.
    for (const topic of ["sensors/x", "clients/monitor/x", "other/x", "$SYS/broker/x"]) {
      assert.equal(await publish(monitor, topic, "m", { retain: true }), 135, topic);
    }
    await end(monitor);
  });

  test("MQTT 3.1.1: the monitor user's publish is acknowledged and dropped, nothing retained", async () => {
    const monitor = await connect(b.wsUrl, as("monitor"));
    const t = tag("w");
    assert.equal(await publish(monitor, `sensors/${t}`, "from monitor", { retain: true }), 0);
    const sensor = await connect(b.tcpUrl, as("sensor"));
    await publish(sensor, `sensors/${t}/marker`, t, { retain: true });
    const r = await messagesBefore(sensor, [`sensors/${t}`], `sensors/${t}/marker`);
    assert.deepEqual(r.got, [], "the monitor user's retained publish was stored");
    await publish(sensor, `sensors/${t}/marker`, "", { retain: true });
    await end(sensor);
    await end(monitor);
  });
});
