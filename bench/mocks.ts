/**
 * The Pulumi mocks of the evaluation benchmarks (bench/eval-one.ts, bench/eval-floor.ts): the unit
 * tests' provider mocks (tests/support/providerMocks.ts), so the benchmarks answer every invoke the
 * program makes and fail, naming it, on one they do not know.
 */
import * as pulumi from "@pulumi/pulumi";
import { ProviderMocks } from "../tests/support/providerMocks";

/** Installs the mocks; `created` counts the resources registered so far. */
export async function benchMocks(): Promise<ProviderMocks> {
  const mocks = new ProviderMocks();
  await pulumi.runtime.setMocks(mocks, "mqtt-edge", "bench");
  return mocks;
}

/**
 * Waits until `outputs` resolve and registrations stop arriving, then prints the one JSON line
 * bench/eval.ts reads: hosts, resources, milliseconds since `started`, peak RSS. Throws instead
 * if the program made an invoke the mocks do not answer.
 */
export async function report(
  hosts: number,
  started: bigint,
  outputs: pulumi.Output<unknown>[],
  mocks: ProviderMocks,
): Promise<void> {
  await Promise.all(outputs.map((o) => new Promise((r) => o.apply(r))));
  let last = -1;
  for (let stable = 0; stable < 10;) {
    await new Promise((r) => setImmediate(r));
    stable = mocks.created === last ? stable + 1 : 0;
    last = mocks.created;
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  mocks.assertNoUnexpectedCalls();
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      hosts,
      resources: mocks.created,
      ms: Math.round(ms),
      maxRssMb: Math.round(maxRssMb),
    }),
  );
}
