/**
 * One measurement, run by bench/eval.ts in a fresh process: evaluates the program under minimal
 * Pulumi mocks for N hosts (each: networks, a broker, two connectors, a tunnel with its config,
 * DNS record and token) and prints one JSON line {hosts, resources, ms, maxRssMb}.
 */
import "../tuning";
import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "../config";
import { deployStack } from "../program";

const TOKEN =
  "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken";

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? "1");
  let registered = 0;
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered++;
        return {
          id: `${args.name}-id`,
          state: { ...args.inputs, result: "p".repeat(32), base64: "AQ==" },
        };
      },
      call: (args) => {
        if (args.token === TOKEN) return { token: "dG9rZW4=" };
        if (args.token === "cloudflare:index/getZone:getZone") return { id: "zone-id" };
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    "mqtt-edge",
    "bench",
  );
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
  // Every host summary waits on its broker and tunnel; then let the last registrations drain.
  await Promise.all(outputs.hosts.map((h) => new Promise((r) => h.apply(r))));
  let last = -1;
  for (let stable = 0; stable < 10;) {
    await new Promise((r) => setImmediate(r));
    stable = registered === last ? stable + 1 : 0;
    last = registered;
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      hosts: n,
      resources: registered,
      ms: Math.round(ms),
      maxRssMb: Math.round(maxRssMb),
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
