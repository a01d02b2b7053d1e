/**
 * Process settings for evaluating the program; imported first by index.ts.
 *
 * The Pulumi SDK records `new Error().stack` for every internal promise, for leak reports that a
 * successful run never prints. At V8's default depth of 10 frames that capture was most of the
 * evaluation time of a 100-host stack, and even one frame costs a third more than none
 * (docs/BENCHMARKS.md). Error messages are unaffected (config errors are reported by key path,
 * resource errors name the resource), and the SDK captures resources' source positions itself,
 * at full depth, so `pulumi preview` still points at the right line. Set
 * MQTT_EDGE_STACK_TRACE_LIMIT=10 (or more) to get stack traces back when debugging.
 */
import * as nodeModule from "node:module";

const limit = Number(process.env.MQTT_EDGE_STACK_TRACE_LIMIT ?? "0");
Error.stackTraceLimit = Number.isFinite(limit) && limit >= 0 ? limit : 0;

// Node 22's on-disk compile cache: the providers' SDKs are large and are compiled on every run.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
