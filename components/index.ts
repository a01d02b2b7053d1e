export * from "./broker";
export * from "./connector";
export * from "./edgeHost";
export * from "./hardening";
export * from "./network";
export * from "./render";
export * from "./tunnel";
export * from "./swarmProxy";
