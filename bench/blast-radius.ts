/**
 * Blast radius of each kind of change: which resources a change replaces, updates or leaves alone.
 *
 * `pulumi preview --json` against the real providers is the measurement this stands in for (the
 * managed-mode e2e suite asserts it where the provider plugins exist). Here the program runs under
 * mocks before and after the change; a resource whose inputs differ is touched, and it is replaced
 * when a differing input is one its provider cannot update in place (REPLACE_ON below, from the
 * providers' schemas: almost every docker_container argument forces a new container). A replaced
 * resource gets a new id, so resources that depend on it are touched too. `npm run bench:blast`.
 */
import { FAKE_ACCOUNT, T, runProgram, type Recorder } from "../tests/unit/harness";

/** Inputs each type can update in place; any other differing input replaces the resource. */
const UPDATABLE: Record<string, string[] | "all"> = {
  [T.container]: ["restart", "memory"],
  [T.network]: [],
  [T.volume]: [],
  [T.bytes]: [],
  [T.password]: [],
  [T.tunnel]: ["name"],
  [T.tunnelConfig]: ["config"],
  [T.dns]: ["content", "name", "proxied", "ttl", "comment", "type"],
  [T.service]: "all",
  [T.secret]: [],
  [T.accessApp]: "all",
  [T.accessPolicy]: "all",
  [T.accessToken]: ["name", "duration"],
};

type Op = "replace" | "update" | "create" | "delete";

function plan(before: Recorder, after: Recorder): Map<string, Op> {
  const ops = new Map<string, Op>();
  const old = new Map(before.registrations.filter((r) => r.custom).map((r) => [r.urn, r]));
  for (const r of after.registrations.filter((x) => x.custom)) {
    const prev = old.get(r.urn);
    if (!prev) {
      ops.set(r.urn, "create");
      continue;
    }
    const keys = new Set([...Object.keys(r.inputs), ...Object.keys(prev.inputs)]);
    const changed = [...keys].filter(
      (k) => JSON.stringify(r.inputs[k]) !== JSON.stringify(prev.inputs[k]),
    );
    if (!changed.length) continue;
    const updatable = UPDATABLE[r.type] ?? [];
    ops.set(
      r.urn,
      updatable === "all" || changed.every((k) => updatable.includes(k)) ? "update" : "replace",
    );
  }
  for (const urn of old.keys()) if (!after.byUrn(urn)) ops.set(urn, "delete");
  // A replaced resource has a new id: whatever reads its outputs changes as well.
  for (let changed = true; changed;) {
    changed = false;
    for (const r of after.registrations.filter((x) => x.custom)) {
      const current = ops.get(r.urn);
      if (current === "replace" || current === "create") continue;
      if (r.dependencies.some((d) => ops.get(d) === "replace")) {
        const updatable = UPDATABLE[r.type] ?? [];
        // The dependent input is an id, a secret or a token derived from the replaced resource:
        // in place only where the type updates everything, or for a DNS record's content.
        const next = updatable === "all" || r.type === T.dns ? "update" : "replace";
        if (next !== current) {
          ops.set(r.urn, next);
          changed = true;
        }
      }
    }
  }
  return ops;
}

const base = {
  tunnel: {
    mode: "managed",
    accountId: FAKE_ACCOUNT,
    zone: "example.com",
    hostname: "mqtt.example.com",
    replicas: 2,
  },
  broker: {
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
    { ...base, broker: { users: [...broker.users, { name: "new", acl: [] }] } },
    "the broker and its config writer (new password file), the new password",
  ],
  [
    "change an ACL",
    {
      ...base,
      broker: {
        users: [
          { ...broker.users[0], acl: [{ access: "readwrite", topic: "sensors/#" }] },
          broker.users[1],
        ],
      },
    },
    "the broker and its config writer (new ACL file)",
  ],
  [
    "rotate the tunnel secret",
    { ...base, tunnel: { ...tunnel, secretVersion: "2" } },
    "secret, tunnel, its config, connectors; DNS record updated",
  ],
  [
    "add a hostname",
    { ...base, tunnel: { ...tunnel, hostname: ["mqtt.example.com", "mqtt2.example.com"] } },
    "tunnel config updated, one DNS record created",
  ],
  [
    "bump the cloudflared image",
    { ...base, tunnel: { ...tunnel, image: "cloudflare/cloudflared:2026.7.1" } },
    "the connectors",
  ],
  [
    "change connector replicas 2 -> 3",
    { ...base, tunnel: { ...tunnel, replicas: 3 } },
    "one connector created",
  ],
];

async function main(): Promise<void> {
  const before = (await runProgram(base)).rec;
  const total = before.registrations.filter((r) => r.custom).length;
  console.log(`baseline: ${total} resources (managed mode, one host, two connectors)\n`);
  for (const [name, config, minimum] of CHANGES) {
    const after = (await runProgram(config)).rec;
    const ops = plan(before, after);
    const by = (op: Op) => [...ops].filter(([, o]) => o === op).map(([u]) => u.split("::").pop());
    const untouched = total - [...ops.values()].filter((o) => o !== "create").length;
    console.log(`${name}`);
    for (const op of ["replace", "update", "create", "delete"] as Op[]) {
      const list = by(op);
      if (list.length) console.log(`  ${op.padEnd(7)} ${list.length}: ${list.join(", ")}`);
    }
    console.log(`  untouched ${untouched} of ${total}; minimum: ${minimum}\n`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
