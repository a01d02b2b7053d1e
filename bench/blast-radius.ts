/**
 * Blast radius of each kind of change: which resources a change replaces, updates or leaves alone,
 * as the real engine and providers plan it. A managed-mode stack (fake Cloudflare API, local
 * engine) is deployed once with `pulumi up`; each change is then written to the stack config and
 * planned with `pulumi preview --json`, and the config is put back. Nothing but the baseline is
 * ever deployed. `npm run bench:blast` (needs what the e2e suites need: scripts/toolchain.sh,
 * scripts/engine.sh, scripts/images.sh).
 */
import {
  API_TOKEN,
  E2EStack,
  IMAGES,
  exitWithoutPlugins,
  requireTools,
  startFakeCloudflare,
  managedTunnel,
} from "../tests/support/e2eStack";

type Op = "replace" | "update" | "create" | "delete";

exitWithoutPlugins("bench:blast");
const tools = requireTools();
const base = {
  tunnel: managedTunnel(tools.cloudflaredImage, { hostname: "mqtt.example.com", replicas: 2 }),
  broker: {
    image: IMAGES.mosquitto,
    users: [
      { name: "sensor", acl: [{ access: "write", topic: "sensors/#" }] },
      { name: "dashboard", acl: [{ access: "read", topic: "#" }] },
    ],
  },
};
const tunnel = base.tunnel;
const broker = base.broker;

const CHANGES: [string, Record<string, unknown>, string][] = [
  [
    "add an MQTT user",
    { ...base, broker: { ...broker, users: [...broker.users, { name: "new", acl: [] }] } },
    "the config writer (new password file) and the new password; the broker reloads in place",
  ],
  [
    "rotate one user's password",
    {
      ...base,
      broker: { ...broker, users: [{ ...broker.users[0], passwordVersion: 2 }, broker.users[1]] },
    },
    "that password and the config writer; the broker reloads in place",
  ],
  [
    "remove an MQTT user",
    { ...base, broker: { ...broker, users: [broker.users[0]] } },
    "the config writer and the removed password; the broker reloads in place",
  ],
  [
    "change an ACL",
    {
      ...base,
      broker: {
        ...broker,
        users: [
          { ...broker.users[0], acl: [{ access: "readwrite", topic: "sensors/#" }] },
          broker.users[1],
        ],
      },
    },
    "the config writer (new ACL file); the broker reloads in place",
  ],
  [
    "rotate the tunnel secret",
    { ...base, tunnel: { ...tunnel, secretVersion: "2" } },
    "the secret and the connectors replaced (one at a time), the tunnel updated in place",
  ],
  [
    "add a hostname",
    { ...base, tunnel: { ...tunnel, hostname: ["mqtt.example.com", "mqtt2.example.com"] } },
    "tunnel config updated, one DNS record created",
  ],
  [
    "bump the cloudflared image",
    { ...base, tunnel: { ...tunnel, image: "cloudflare/cloudflared:2026.7.1" } },
    "the connectors, one at a time",
  ],
  [
    "change connector replicas 2 -> 3",
    { ...base, tunnel: { ...tunnel, replicas: 3 } },
    "one connector created",
  ],
];

async function main(): Promise<void> {
  const { fake, baseUrl } = await startFakeCloudflare();
  const stack = new E2EStack(`benchblast${Date.now().toString(36).slice(-5)}`);
  const withApi = (c: Record<string, unknown>) => ({ ...c, "cloudflare:baseUrl": baseUrl });
  try {
    await stack.configure(withApi(base), { "cloudflare:apiToken": API_TOKEN });
    await stack.up();
    const deployed = JSON.parse((await stack.exportState()).exported).deployment.resources as {
      custom?: boolean;
      type: string;
    }[];
    // Provider resources only: not the stack, the providers or the components.
    const total = deployed.filter((r) => r.custom && !r.type.startsWith("pulumi:")).length;
    const noop = (await stack.previewSteps()).filter((s) => s.op !== "same");
    console.log(
      `baseline: ${total} resources (managed mode, one host, two connectors); a no-op preview plans ${noop.length} changes\n`,
    );
    for (const [name, config, minimum] of CHANGES) {
      await stack.configure(withApi(config));
      const steps = (await stack.previewSteps()).filter((s) => s.op !== "same");
      const by = (op: Op) =>
        steps
          .filter((s) => s.op === op)
          .map((s) => s.urn.split("::").pop()!)
          .sort();
      console.log(name);
      for (const op of ["replace", "update", "create", "delete"] as Op[]) {
        const list = by(op);
        if (list.length) console.log(`  ${op.padEnd(7)} ${list.length}: ${list.join(", ")}`);
      }
      const touched = steps.filter((s) => s.op !== "create").length;
      console.log(`  untouched ${total - touched} of ${total}; minimum: ${minimum}\n`);
    }
  } finally {
    await stack.cleanup();
    await fake.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
