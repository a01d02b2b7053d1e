/**
 * The SDK's floor for bench/eval.ts: a minimal program that registers, per host, the same custom
 * resources of the same types as the real program (a Docker provider, two networks, two volumes,
 * four containers, a tunnel secret, a tunnel, its config, its connection cleanup (a dynamic
 * resource), a DNS record, one password for the
 * stack, the token invoke) and as many empty components, under the same minimal mocks, with
 * constant inputs: no config parsing, no rendering, no outputs combined. Prints the same JSON line as bench/eval-one.ts.
 */
import "../tuning";
import * as cloudflare from "@pulumi/cloudflare";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { benchMocks, report } from "./mocks";
import * as random from "@pulumi/random";

class FloorCleanup extends pulumi.dynamic.Resource {}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? "1");
  const mocks = await benchMocks();
  const started = process.hrtime.bigint();
  const accountId = "0123456789abcdef0123456789abcdef";
  const zoneId = cloudflare.getZonesOutput({ name: "example.com" }).results[0].id;
  // A provider that does nothing, serialized once per resource as the program's cleanup is.
  const cleanup: pulumi.dynamic.ResourceProvider = {
    async create() {
      return { id: "cleanup" };
    },
  };
  const password = new random.RandomPassword("password", { length: 32, special: false });
  const done: pulumi.Output<unknown>[] = [password.result];
  for (let i = 1; i <= n; i++) {
    const h = `edge-${i}`;
    // As many components as the program has per host (EdgeHost, PrivateNetwork, MqttBroker,
    // CloudflareTunnel, TunnelConnector), empty.
    for (const k of ["host", "net", "broker", "tunnel", "connector"]) {
      new pulumi.ComponentResource(`floor:index:${k}`, `${h}-${k}`);
    }
    const provider = new docker.Provider(`${h}-docker`, { host: `ssh://deploy@${h}.internal` });
    const o = { provider };
    const nets = ["broker", "egress"].map((k) => new docker.Network(`${h}-${k}`, { name: k }, o));
    const vols = ["config", "data"].map((k) => new docker.Volume(`${h}-${k}`, { name: k }, o));
    const secret = new random.RandomPassword(`${h}-secret`, { length: 48, special: false });
    const tunnel = new cloudflare.ZeroTrustTunnelCloudflared(`${h}-tunnel`, {
      accountId,
      name: h,
      configSrc: "cloudflare",
      tunnelSecret: secret.result,
    });
    new FloorCleanup(cleanup, `${h}-connections`, { tunnelId: tunnel.id });
    new cloudflare.ZeroTrustTunnelCloudflaredConfig(`${h}-config`, {
      accountId,
      tunnelId: tunnel.id,
      config: { ingresses: [{ hostname: `${h}.example.com`, service: "http://mosquitto:9001" }] },
    });
    new cloudflare.DnsRecord(`${h}-dns`, {
      zoneId,
      name: `${h}.example.com`,
      type: "CNAME",
      content: tunnel.id,
      ttl: 1,
    });
    const token = cloudflare.getZeroTrustTunnelCloudflaredTokenOutput({
      accountId,
      tunnelId: tunnel.id,
    }).token;
    for (const c of ["writer", "broker", "connector-1", "connector-2"]) {
      const container = new docker.Container(
        `${h}-${c}`,
        {
          image: "image:1",
          networksAdvanced: nets.map((net) => ({ name: net.name })),
          mounts: [{ target: "/data", type: "volume", source: vols[0].name }],
          envs: c.startsWith("connector") ? [token] : undefined,
        },
        o,
      );
      done.push(container.id);
    }
  }
  await report(n, started, done, mocks);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
