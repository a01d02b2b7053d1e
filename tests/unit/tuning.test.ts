import assert from "node:assert/strict";
import { test } from "node:test";
import { STACK_TRACE_HINT, stackTraceLimit, withStackTraceHint } from "../../tuning";

test("stack traces: off by default, back with MQTT_EDGE_STACK_TRACES=1 or a limit", () => {
  assert.equal(stackTraceLimit({}), 0);
  assert.equal(stackTraceLimit({ MQTT_EDGE_STACK_TRACES: "1" }), 50);
  assert.equal(stackTraceLimit({ MQTT_EDGE_STACK_TRACE_LIMIT: "10" }), 10);
  assert.equal(stackTraceLimit({ MQTT_EDGE_STACK_TRACE_LIMIT: "x" }), 0);
});

test("an error thrown while they are off says how to get them back", () => {
  assert.equal(Error.stackTraceLimit, 0, "importing tuning.ts turned them off");
  const e = withStackTraceHint(new Error("boom")) as Error;
  assert.match(e.stack!, /^Error: boom\n/);
  assert.ok(e.stack!.includes(STACK_TRACE_HINT));
  assert.match(STACK_TRACE_HINT, /MQTT_EDGE_STACK_TRACES=1/);
});
