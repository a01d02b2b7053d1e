/**
 * The minimal Pulumi mocks of the evaluation benchmarks (bench/eval-one.ts, bench/eval-floor.ts):
 * every resource gets an id and its inputs back with the outputs the program reads, and the two
 * invokes the program makes answer with constants.
 */
import * as pulumi from "@pulumi/pulumi";
import { INVOKES } from "../shared/resourceTypes";

/** Installs the mocks; `registered()` counts the resources registered so far. */
export async function benchMocks(): Promise<{ registered: () => number }> {
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
        if (args.token === INVOKES.tunnelToken) return { token: "dG9rZW4=" };
        if (args.token === INVOKES.zone) return { id: "zone-id" };
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    "mqtt-edge",
    "bench",
  );
  return { registered: () => registered };
}

/**
 * Waits until `outputs` resolve and registrations stop arriving, then prints the one JSON line
 * bench/eval.ts reads: hosts, resources, milliseconds since `started`, peak RSS.
 */
export async function report(
  hosts: number,
  started: bigint,
  outputs: pulumi.Output<unknown>[],
  registered: () => number,
): Promise<void> {
  await Promise.all(outputs.map((o) => new Promise((r) => o.apply(r))));
  let last = -1;
  for (let stable = 0; stable < 10;) {
    await new Promise((r) => setImmediate(r));
    stable = registered() === last ? stable + 1 : 0;
    last = registered();
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      hosts,
      resources: registered(),
      ms: Math.round(ms),
      maxRssMb: Math.round(maxRssMb),
    }),
  );
}
