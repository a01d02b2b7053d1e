/**
 * Program evaluation under Pulumi mocks: wall time and peak memory for 1, 10 and 100 hosts, for
 * the program as it ships (compiled JavaScript with tuning.ts) and the variants it was measured
 * against. Each figure is the median of REPEATS fresh processes. `npm run bench:eval`.
 */
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
const REPEATS = Number(process.env.REPEATS ?? 3);
const HOSTS = (process.env.HOSTS ?? "1,10,100").split(",").map(Number);

interface Variant {
  name: string;
  args: string[];
  env: Record<string, string>;
}

const compiled = join(ROOT, "bin", "bench", "eval-one.js");
const source = join(ROOT, "bench", "eval-one.ts");
const VARIANTS: Variant[] = [
  {
    name: "TypeScript via tsx, SDK default stacks",
    args: ["--import", "tsx", source],
    env: { MQTT_EDGE_STACK_TRACE_LIMIT: "10" },
  },
  {
    name: "compiled JS, SDK default stacks",
    args: [compiled],
    env: { MQTT_EDGE_STACK_TRACE_LIMIT: "10" },
  },
  { name: "TypeScript via tsx, tuned (as shipped)", args: ["--import", "tsx", source], env: {} },
  { name: "compiled JS, tuned (as shipped)", args: [compiled], env: {} },
  {
    name: "SDK floor: same resources, nothing else",
    args: [join(ROOT, "bin", "bench", "eval-floor.js")],
    env: {},
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}; ${REPEATS} runs each, median`,
);
console.log(
  "variant".padEnd(42),
  "hosts".padStart(5),
  "resources".padStart(9),
  "ms".padStart(7),
  "peak RSS MB".padStart(12),
);
const results: Record<string, Record<number, { ms: number; rss: number }>> = {};
for (const v of VARIANTS) {
  results[v.name] = {};
  for (const n of HOSTS) {
    const runs = Array.from({ length: REPEATS }, () => {
      const out = execFileSync(process.execPath, [...v.args, String(n)], {
        cwd: ROOT,
        env: { ...process.env, ...v.env },
        encoding: "utf8",
      });
      return JSON.parse(out.trim().split("\n").pop()!) as {
        resources: number;
        ms: number;
        maxRssMb: number;
      };
    });
    const ms = median(runs.map((r) => r.ms));
    const rss = median(runs.map((r) => r.maxRssMb));
    results[v.name][n] = { ms, rss };
    console.log(
      v.name.padEnd(42),
      String(n).padStart(5),
      String(runs[0].resources).padStart(9),
      String(ms).padStart(7),
      String(rss).padStart(12),
    );
  }
}
const shipped = results["compiled JS, tuned (as shipped)"];
const baseline = results["TypeScript via tsx, SDK default stacks"];
const last = HOSTS[HOSTS.length - 1];
if (shipped?.[last] && baseline?.[last]) {
  console.log(
    `\n${last} hosts: ${baseline[last].ms} ms -> ${shipped[last].ms} ms (${(baseline[last].ms / shipped[last].ms).toFixed(1)}x faster), ` +
      `${baseline[last].rss} MB -> ${shipped[last].rss} MB; target <= 3000 ms and <= 500 MB`,
  );
  // Linear growth shows as a flat time per host from 10 hosts on (1 host is mostly start-up).
  console.log(
    `growth: ${HOSTS.map((n) => `${(shipped[n].ms / n).toFixed(0)} ms/host at ${n}`).join(", ")}`,
  );
}
