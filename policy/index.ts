import { PolicyPack } from "@pulumi/policy";
import { mqttEdgePolicies } from "./policies";

// Run with `pulumi preview --policy-pack policy` from the repository root. The policies live in
// ./policies as factories so tests can call them without starting the pack's gRPC server.
new PolicyPack("mqtt-edge", {
  description:
    "mqtt-edge guardrails: pinned images, no privileged containers or raw Docker socket, tunnel " +
    "DNS proxied, tunnels remotely managed, no anonymous broker, 1883 never public, secrets secret.",
  enforcementLevel: "mandatory",
  policies: mqttEdgePolicies(),
});
