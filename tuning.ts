/**
 * Process settings for evaluating the program; imported first by index.ts.
 *
 * The Pulumi SDK records `new Error().stack` for every internal promise, for leak reports that a
 * successful run never prints. At V8's default depth of 10 frames that capture was most of the
 * evaluation time of a 100-host stack (docs/BENCHMARKS.md). One frame keeps the throw site in
 * error messages; the SDK captures resources' source positions itself, at full depth, so
 * `pulumi preview` still points at the right line. MQTT_EDGE_STACK_TRACE_LIMIT=10 (or more)
 * restores full stacks when debugging.
 */
import * as nodeModule from "node:module";

const limit = Number(process.env.MQTT_EDGE_STACK_TRACE_LIMIT ?? "1");
Error.stackTraceLimit = Number.isFinite(limit) && limit >= 0 ? limit : 1;

// Node 22's on-disk compile cache: the providers' SDKs are large and are compiled on every run.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
