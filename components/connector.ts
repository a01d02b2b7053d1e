import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { LOG_OPTS, RESTART, SECURITY_OPTS, labelList } from "./hardening";

/** uid/gid `nonroot` of the distroless cloudflared image. */
export const CLOUDFLARED_UID = 65532;
/** cloudflared's metrics and readiness server, inside the container only. */
export const METRICS_ADDRESS = "127.0.0.1:2000";

export type ConnectorTunnel =
  /** A named tunnel run with its token (managed and token modes). */
  | { kind: "token"; token: pulumi.Input<string> }
  /** A TryCloudflare quick tunnel to `service`: no account, a random trycloudflare.com URL. */
  | { kind: "quick"; service: string; quickService?: string };

export interface TunnelConnectorArgs {
  readonly image: string;
  /** Container name prefix; unique per stack and host. */
  readonly physicalName: string;
  readonly tunnel: ConnectorTunnel;
  /** Number of cloudflared containers; Cloudflare balances across them. Default 1. */
  readonly replicas?: number;
  /** The broker's internal network (to reach the origin). */
  readonly brokerNetwork: pulumi.Input<string>;
  /** A network with a route to Cloudflare's edge. */
  readonly egressNetwork: pulumi.Input<string>;
  /** Override of the edge addresses (`--edge host:port`), for private or test networks. */
  readonly edge?: string[];
  /** Memory limit per connector in MiB. Default 128. */
  readonly memoryMb?: number;
  readonly labels?: Record<string, string>;
}

/** The cloudflared arguments after the image's `cloudflared --no-autoupdate` entrypoint. */
export function connectorCommand(tunnel: ConnectorTunnel, edge: string[] = []): string[] {
  const args = ["tunnel", "--no-autoupdate", "--metrics", METRICS_ADDRESS];
  for (const e of edge) args.push("--edge", e);
  if (tunnel.kind === "quick") {
    if (tunnel.quickService) args.push("--quick-service", tunnel.quickService);
    args.push("--url", tunnel.service);
    return args;
  }
  // No --token here: a command line is visible to `docker inspect` and `ps` on the host.
  args.push("run");
  return args;
}

/**
 * cloudflared containers running one tunnel. The token reaches them as the TUNNEL_TOKEN
 * environment variable, which `cloudflared tunnel run` reads in every release since 2022.3: it
 * stays off the command line and, being a secret input, is encrypted in Pulumi state. (A token
 * file would need a writable mount in a read-only container before start; the swarm connector
 * uses a Docker secret file instead.)
 */
export class TunnelConnector extends pulumi.ComponentResource {
  public readonly containerNames: pulumi.Output<string>[];

  constructor(name: string, args: TunnelConnectorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mqtt-edge:connector:TunnelConnector", name, {}, opts);
    const replicas = args.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1) {
      throw new pulumi.ResourceError(`replicas must be a positive integer, got ${replicas}`, this);
    }
    const envs =
      args.tunnel.kind === "token"
        ? [pulumi.secret(pulumi.interpolate`TUNNEL_TOKEN=${args.tunnel.token}`)]
        : undefined;
    const command = connectorCommand(args.tunnel, args.edge);

    this.containerNames = [];
    for (let i = 1; i <= replicas; i++) {
      const container = new docker.Container(
        `${name}-${i}`,
        {
          name: `${args.physicalName}-cloudflared-${i}`,
          image: args.image,
          command,
          envs,
          user: `${CLOUDFLARED_UID}:${CLOUDFLARED_UID}`,
          readOnly: true,
          capabilities: { drops: ["ALL"] },
          securityOpts: SECURITY_OPTS,
          memory: args.memoryMb ?? 128,
          restart: RESTART,
          logDriver: "json-file",
          logOpts: { ...LOG_OPTS },
          networksAdvanced: [{ name: args.egressNetwork }, { name: args.brokerNetwork }],
          healthcheck: {
            tests: ["CMD", "cloudflared", "tunnel", "--metrics", METRICS_ADDRESS, "ready"],
            interval: "15s",
            timeout: "5s",
            startPeriod: "20s",
            retries: 3,
          },
          // Healthy means connected to Cloudflare's edge: don't block a deploy on the internet.
          wait: false,
          labels: labelList({ ...args.labels, "dev.mqtt-edge.replica": String(i) }),
        },
        { parent: this, deleteBeforeReplace: true, additionalSecretOutputs: ["envs"] },
      );
      this.containerNames.push(container.name);
    }
    this.registerOutputs({ containerNames: this.containerNames });
  }
}
