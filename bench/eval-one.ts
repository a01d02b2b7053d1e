/**
 * One measurement: evaluates the program under Pulumi mocks for N hosts in this process and
 * prints a JSON line {hosts, resources, ms, maxRssMb}. Run by bench/eval.ts in a fresh process per
 * N so memory figures do not mix.
 */
import { FAKE_ACCOUNT, runProgram } from "../tests/unit/harness";

async function main() {
  const n = Number(process.argv[2] ?? "1");
  const hosts = Array.from({ length: n }, (_, i) => ({
    name: `edge-${i + 1}`,
    docker: `ssh://deploy@edge-${i + 1}.internal`,
    hostname: `mqtt-${i + 1}.example.com`,
  }));
  const config = {
    tunnel: { mode: "managed", accountId: FAKE_ACCOUNT, zone: "example.com", replicas: 2 },
    hosts,
    broker: { users: [{ name: "u", acl: [{ access: "readwrite", topic: "#" }] }] },
  };
  const started = process.hrtime.bigint();
  const { rec } = await runProgram(config);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ hosts: n, resources: rec.registrations.length, ms: Math.round(ms), maxRssMb: Math.round(maxRssMb) }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
