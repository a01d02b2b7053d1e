/**
 * A one-host smoke run of the evaluation benchmarks (`npm run bench:eval`): the program and the
 * SDK's floor, each in a fresh process as bench/eval.ts starts them (from source, so no build is
 * needed), must exit 0 and print the JSON line eval.ts reads, with numbers in it. A program change
 * the benchmark's mocks do not answer (a new invoke) breaks this test, not the next benchmark.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

const ROOT = path.join(__dirname, "..", "..");

interface Figures {
  hosts: number;
  resources: number;
  ms: number;
  maxRssMb: number;
}

/** Runs a benchmark script for one host; its last stdout line, parsed. */
async function runOne(script: string): Promise<Figures> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "bench", script), "1"],
    { cwd: ROOT, encoding: "utf8", timeout: 60_000 },
  ).catch((e: { message: string; stderr?: string }) => {
    throw new Error(`bench/${script} 1 failed: ${e.message}\n${e.stderr ?? ""}`);
  });
  const last = stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(last) as Figures;
}

function assertFigures(script: string, f: Figures): void {
  assert.equal(f.hosts, 1, script);
  for (const key of ["resources", "ms", "maxRssMb"] as const) {
    assert.ok(Number.isInteger(f[key]) && f[key] > 0, `${script}: ${key} = ${f[key]}`);
  }
}

test("bench:eval smoke: the program and the SDK floor evaluate one host", async () => {
  const [program, floor] = await Promise.all([runOne("eval-one.ts"), runOne("eval-floor.ts")]);
  assertFigures("eval-one.ts", program);
  assertFigures("eval-floor.ts", floor);
  // The floor is the program's resources and nothing else: it follows the program's changes.
  assert.equal(
    floor.resources,
    program.resources,
    "bench/eval-floor.ts registers as many resources per host as the program",
  );
});
