import type * as docker from "@pulumi/docker";

/** Defaults every container and swarm task of the product gets; one place, so they cannot drift. */
export const LOG_OPTS = { "max-size": "10m", "max-file": "3" } as const;
export const SECURITY_OPTS = ["no-new-privileges:true"];
export const RESTART = "unless-stopped";
/** The same for swarm tasks: restart on any exit, rotated json-file logs. */
export const SERVICE_TASK_DEFAULTS = {
  // window: what the daemon reports when none is set; left out, every preview shows a diff.
  restartPolicy: { condition: "any", delay: "5s", window: "0s" },
  logDriver: { name: "json-file", options: { ...LOG_OPTS } },
};

/**
 * What every swarm ContainerSpec states although it is empty: the provider plans an unset
 * `sysctl` as unknown on every preview (a perpetual diff), an empty one as what it is.
 */
export const CONTAINER_SPEC_DEFAULTS = { sysctl: {} };

/**
 * The hardening of every long-running container of the product (the broker, the connectors):
 * an unprivileged user, a read-only root filesystem, no capabilities, no privilege gain, a memory
 * limit without swap, restart unless stopped, rotated json-file logs.
 */
export function hardenedContainer(spec: { uid: number; memoryMb: number }) {
  return {
    user: `${spec.uid}:${spec.uid}`,
    readOnly: true,
    capabilities: { drops: ["ALL"] },
    securityOpts: SECURITY_OPTS,
    memory: spec.memoryMb,
    // The daemon sets memory+swap to twice the limit when none is given, and the provider then
    // reports a diff on every preview: equal to `memory` means no swap, and no diff.
    memorySwap: spec.memoryMb,
    restart: RESTART,
    logDriver: "json-file",
    logOpts: { ...LOG_OPTS },
  } satisfies Partial<docker.ContainerArgs>;
}
