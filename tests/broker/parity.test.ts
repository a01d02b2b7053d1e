/**
 * The harness renders the broker's files itself (with temporary paths and free ports). This pins
 * that to what the program really uploads: run the program under mocks, take the broker's config writer
 * container's uploads, and compare them with the harness's rendering at the production paths
 * and ports. If broker.ts passes the renderers something new, this fails until the harness does.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { managedConfig, resolve, runProgram } from "../support/programRunner";
import { parseBroker, renderBrokerFiles, type BrokerInput } from "../support/mosquittoBroker";

const CONFIGS: [string, BrokerInput][] = [
  ["users and patterns (the unit tests' stack)", managedConfig().broker as BrokerInput],
  [
    "anonymous with anonymousAcl, no persistence, limits",
    {
      allowAnonymous: true,
      anonymousAcl: [{ access: "read", topic: "public/#" }],
      persistence: false,
      websocketPort: 8083,
      maxConnections: 3,
      messageSizeLimit: 1024,
      users: [
        {
          name: "ops",
          acl: [
            { access: "deny", topic: "ops/locked/#" },
            { access: "readwrite", topic: "ops/#" },
          ],
        },
      ],
    },
  ],
  ["anonymous, no users (no password file)", { allowAnonymous: true }],
  [
    "a monitor user and a keep alive cap",
    {
      maxKeepalive: 30,
      monitorUser: "monitor",
      users: [{ name: "sensor", acl: [{ access: "write", topic: "sensors/#" }] }],
      patterns: [{ access: "readwrite", topic: "clients/%u/#" }],
    },
  ],
  ["a monitor user alone, anonymous on", { allowAnonymous: true, monitorUser: "monitor" }],
];

describe("the harness renders what MqttBroker uploads", () => {
  for (const [what, broker] of CONFIGS) {
    test(what, async () => {
      const { rec, outputs } = await runProgram({ ...managedConfig(), broker });
      const container = rec.byName("local-broker-config-writer");
      const uploads = Object.fromEntries(
        (container.inputs.uploads as { file: string; content: string }[]).map((u) => [
          u.file,
          u.content,
        ]),
      );
      const passwords = (await resolve(outputs.mqttCredentials)).value as Record<string, string>;
      const physicalName = String(container.inputs.name).replace(/-mosquitto-config-writer$/, "");
      const files = renderBrokerFiles(parseBroker(broker), passwords, { seed: physicalName });
      assert.equal(uploads["/mosquitto/config/mosquitto.conf"], files.conf);
      assert.equal(uploads["/mosquitto/config/acl"], files.acl);
      assert.equal(uploads["/mosquitto/config/passwd"], files.passwd);
    });
  }
});
