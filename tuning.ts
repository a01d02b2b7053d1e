/**
 * Process settings for evaluating the program; imported first by index.ts.
 *
 * The Pulumi SDK records `new Error().stack` for every internal promise, for leak reports that a
 * successful run never prints. At V8's default depth of 10 frames that capture was most of the
 * evaluation time of a 100-host stack, and even one frame costs a third more than none
 * (docs/BENCHMARKS.md). Error messages are unaffected (config errors are reported by key path,
 * resource errors name the resource), and the SDK captures resources' source positions itself,
 * at full depth, so `pulumi preview` still points at the right line.
 *
 * To get stack traces back when debugging: MQTT_EDGE_STACK_TRACES=1 (a depth of 50 frames), or
 * MQTT_EDGE_STACK_TRACE_LIMIT=<frames>. An error the program throws while stack traces are off
 * says so (withStackTraceHint).
 */
import * as nodeModule from "node:module";

/** How to bring stack traces back; appended to errors thrown while they are off. */
export const STACK_TRACE_HINT =
  "stack traces are off to keep evaluation fast; run with MQTT_EDGE_STACK_TRACES=1 to see them";

export function stackTraceLimit(env: NodeJS.ProcessEnv): number {
  if (env.MQTT_EDGE_STACK_TRACES === "1") return 50;
  const limit = Number(env.MQTT_EDGE_STACK_TRACE_LIMIT ?? "0");
  return Number.isFinite(limit) && limit >= 0 ? limit : 0;
}

Error.stackTraceLimit = stackTraceLimit(process.env);

/**
 * `e`, with STACK_TRACE_HINT after its (frameless) stack when stack traces are off: the engine
 * prints an unhandled error's stack, which would otherwise end at the message.
 */
export function withStackTraceHint(e: unknown): unknown {
  if (e instanceof Error && Error.stackTraceLimit === 0) {
    e.stack = `${e.stack ?? `${e.name}: ${e.message}`}\n    (${STACK_TRACE_HINT})`;
  }
  return e;
}

// Node 22's on-disk compile cache: the providers' SDKs are large and are compiled on every run.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
