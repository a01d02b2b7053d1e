/**
 * One measurement, run by bench/eval.ts in a fresh process: evaluates the program under minimal
 * Pulumi mocks for N hosts (each: networks, a broker, two connectors, a tunnel with its config,
 * DNS record and token) and prints one JSON line {hosts, resources, ms, maxRssMb}.
 */
import "../tuning";
import { benchMocks, report } from "./mocks";
import { parseConfig } from "../config";
import { deployStack } from "../program";
import * as pulumi from "@pulumi/pulumi";

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? "1");
  const mocks = await benchMocks();
  const config: Record<string, string> = {
    "mqtt-edge:tunnel": JSON.stringify({
      mode: "managed",
      accountId: "0123456789abcdef0123456789abcdef",
      zone: "example.com",
      replicas: 2,
    }),
    "mqtt-edge:hosts": JSON.stringify(
      Array.from({ length: n }, (_, i) => ({
        name: `edge-${i + 1}`,
        docker: `ssh://deploy@edge-${i + 1}.internal`,
        hostname: `mqtt-${i + 1}.example.com`,
      })),
    ),
    "mqtt-edge:broker": JSON.stringify({
      users: [{ name: "u", acl: [{ access: "readwrite", topic: "#" }] }],
    }),
  };
  const started = process.hrtime.bigint();
  const cfg = parseConfig(
    {
      project: "mqtt-edge",
      stack: "bench",
      get: (k) => config[`mqtt-edge:${k}`],
      isSecret: () => false,
    },
    Object.keys(config),
  );
  const outputs = deployStack(cfg);
  // Every host's outputs wait on its broker and tunnel; then let the last registrations drain.
  await report(
    n,
    started,
    outputs.edgeHosts.map((h) => pulumi.output(h.outputs)),
    mocks,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
