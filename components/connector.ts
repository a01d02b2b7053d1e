import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { PortPublish, TunnelConfig } from "../config";
import { TYPES } from "../shared/resourceTypes";
import { contentHash } from "./contentHash";
import { CONTAINER_SPEC_DEFAULTS, SERVICE_TASK_DEFAULTS, hardenedContainer } from "./hardening";
import { labelList } from "./labels";
import { type SwarmPlacement, swarmSecretFile } from "./swarm";

/** uid/gid `nonroot` of the distroless cloudflared image. */
export const CLOUDFLARED_UID = 65532;
/** The container port of cloudflared's metrics and readiness server. */
export const METRICS_PORT = 2000;
/** Where the metrics server listens when it is not published: inside the container only. */
export const METRICS_ADDRESS = `127.0.0.1:${METRICS_PORT}`;
/**
 * Where it listens when published: every address of the container, so that Docker's port
 * forwarding (to the container's address on its network) reaches it. The broker and the other
 * connectors can reach it then too; the metrics server also serves /debug/pprof, /config and
 * /diag, which is why it stays on loopback unless `tunnel.metrics` asks for it.
 */
export const METRICS_PUBLISHED_ADDRESS = `0.0.0.0:${METRICS_PORT}`;

/** The host address connector `replica` (1-based) publishes its metrics on: port + replica - 1. */
export function metricsHostPort(publish: PortPublish, replica: number): PortPublish {
  return { ip: publish.ip, port: publish.port + replica - 1 };
}

export type ConnectorTunnel =
  /** A named tunnel run with its token (managed and token modes). */
  | { kind: "token"; token: pulumi.Input<string> }
  /** A TryCloudflare quick tunnel to `service`: no account, a random trycloudflare.com URL. */
  | { kind: "quick"; service: string; quickService?: string };

/**
 * The keys of `mqtt-edge:tunnel` the connectors read, as the config states them (defaults and
 * their reasons: config/defaults.ts): `image`, `edge` (`--edge` overrides), `memoryMb` (per
 * connector, no swap) and `metrics` (each connector's metrics server published on the host at
 * metricsHostPort; absent: not published).
 */
type ConnectorSlice = Pick<TunnelConfig, "image" | "edge" | "memoryMb" | "metrics">;

export interface TunnelConnectorArgs extends ConnectorSlice {
  /** Container name prefix; unique per stack and host. */
  readonly physicalName: string;
  /** The tunnel to run: a named tunnel's token, or a quick tunnel to the broker. */
  readonly tunnel: ConnectorTunnel;
  /** Number of cloudflared containers (`hosts[].replicas`); Cloudflare balances across them. */
  readonly replicas: number;
  /** The broker's internal network (to reach the origin). */
  readonly brokerNetwork: pulumi.Input<string>;
  /** A network with a route to Cloudflare's edge. */
  readonly egressNetwork: pulumi.Input<string>;
  /** Docker labels put on every container or service (stackLabels). */
  readonly labels: Record<string, string>;
  /** Run as one replicated swarm service, the token as a Docker secret file. Absent: containers. */
  readonly swarm?: SwarmPlacement;
  /** More networks to join (swarm: the proxy network, for HTTP hostnames). May be empty. */
  readonly extraNetworks: pulumi.Input<string>[];
  /**
   * Resources whose replacement changes the token (the tunnel, its secret): the containers are
   * replaced with them, which preview shows before the new token is known. Not for swarm: the
   * service rolls over to a new token secret instead. Absent: none.
   */
  readonly replaceWith?: pulumi.Resource[];
}

/**
 * Healthy means connected to Cloudflare's edge. `cloudflared tunnel --metrics <addr> ready` GETs
 * http://<addr>/ready and exits non-zero unless it answers 200. In cloudflared's source
 * (metrics/readiness.go, 2025.11.1) /ready answers 200 when the connection tracker counts at least
 * one active, registered connection to the edge, and 503 with `readyConnections: 0` otherwise;
 * /healthcheck, by contrast, answers "OK" whenever the process serves HTTP at all, and the
 * cloudflared_tunnel_ha_connections gauge counts connections being tried as well (supervisor/
 * tunnel.go). So /ready is the check that tells a connector that cannot carry traffic from one
 * that can. It always asks 127.0.0.1, which the server listens on whether it is bound to loopback
 * or to 0.0.0.0 (METRICS_PUBLISHED_ADDRESS).
 */
const HEALTHCHECK = {
  tests: ["CMD", "cloudflared", "tunnel", "--metrics", METRICS_ADDRESS, "ready"],
  interval: "15s",
  timeout: "5s",
  startPeriod: "20s",
  retries: 3,
};

/** The published metrics port of connector `replica`. */
function metricsPort(publish: PortPublish, replica: number): docker.types.input.ContainerPort {
  const host = metricsHostPort(publish, replica);
  return { internal: METRICS_PORT, external: host.port, ip: host.ip, protocol: "tcp" };
}

/** Where the swarm connector finds its token (a Docker secret; `--token-file`, cloudflared 2025.4+). */
export const TOKEN_FILE = "/run/secrets/tunnel_token";

/** Egress to reach Cloudflare, the broker network to reach the origin, then any extra ones. */
function connectorNetworks(args: TunnelConnectorArgs): { name: pulumi.Input<string> }[] {
  return [args.egressNetwork, args.brokerNetwork, ...args.extraNetworks].map((name) => ({
    name,
  }));
}

/** The cloudflared arguments after the image's `cloudflared --no-autoupdate` entrypoint. */
export function connectorCommand(
  tunnel: ConnectorTunnel,
  edge: string[],
  tokenFile?: string,
  metricsAddress: string = METRICS_ADDRESS,
): string[] {
  const args = ["tunnel", "--no-autoupdate", "--metrics", metricsAddress];
  for (const e of edge) args.push("--edge", e);
  if (tunnel.kind === "quick") {
    if (tunnel.quickService) args.push("--quick-service", tunnel.quickService);
    args.push("--url", tunnel.service);
    return args;
  }
  // No --token here: a command line is visible to `docker inspect` and `ps` on the host.
  args.push("run");
  if (tokenFile) args.push("--token-file", tokenFile);
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
  /** Container names, or the one service name in swarm mode. */
  public readonly containerNames: pulumi.Output<string>[];

  constructor(name: string, args: TunnelConnectorArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.connector, name, {}, opts);
    const replicas = args.replicas;
    if (!Number.isInteger(replicas) || replicas < 1) {
      throw new pulumi.ResourceError(`replicas must be a positive integer, got ${replicas}`, this);
    }
    if (args.swarm && args.metrics) {
      throw new pulumi.ResourceError("swarm connectors cannot publish their metrics", this);
    }
    this.containerNames = args.swarm
      ? [this.declareService(name, args, args.swarm, replicas)]
      : this.declareContainers(name, args, replicas);
    this.registerOutputs({ containerNames: this.containerNames });
  }

  private declareContainers(name: string, args: TunnelConnectorArgs, replicas: number) {
    const envs =
      args.tunnel.kind === "token"
        ? [pulumi.secret(pulumi.interpolate`TUNNEL_TOKEN=${args.tunnel.token}`)]
        : undefined;
    const publish = args.metrics?.publish;
    const command = connectorCommand(
      args.tunnel,
      args.edge,
      undefined,
      publish ? METRICS_PUBLISHED_ADDRESS : METRICS_ADDRESS,
    );

    // Each connector after the first depends on the one before: a secret rotation or an image
    // bump replaces them one at a time (the engine registers connector i+1 only once connector
    // i's replacement is created and running), so at least replicas - 1 serve the tunnel
    // throughout. Independent, they were replaced all at once. A resource dependency, not a
    // property one: replacing connector i does not by itself replace connector i+1.
    const names: pulumi.Output<string>[] = [];
    let previous: docker.Container | undefined;
    for (let i = 1; i <= replicas; i++) {
      const container = new docker.Container(
        `${name}-${i}`,
        {
          ...hardenedContainer({ uid: CLOUDFLARED_UID, memoryMb: args.memoryMb }),
          name: `${args.physicalName}-cloudflared-${i}`,
          image: args.image,
          command,
          envs,
          networksAdvanced: connectorNetworks(args),
          ports: publish ? [metricsPort(publish, i)] : undefined,
          healthcheck: HEALTHCHECK,
          // Healthy means connected to Cloudflare's edge: don't block a deploy on the internet.
          wait: false,
          labels: labelList({ ...args.labels, "dev.mqtt-edge.replica": String(i) }),
        },
        {
          parent: this,
          deleteBeforeReplace: true,
          additionalSecretOutputs: ["envs"],
          replaceWith: args.replaceWith,
          dependsOn: previous ? [previous] : undefined,
        },
      );
      previous = container;
      names.push(container.name);
    }
    return names;
  }

  private declareService(
    name: string,
    args: TunnelConnectorArgs,
    swarm: SwarmPlacement,
    replicas: number,
  ): pulumi.Output<string> {
    const labels = labelList(args.labels);
    const secrets: docker.types.input.ServiceTaskSpecContainerSpecSecret[] = [];
    if (args.tunnel.kind === "token") {
      // A new token makes a new secret, and the service rolls over.
      const token = pulumi.secret(pulumi.output(args.tunnel.token));
      secrets.push(
        swarmSecretFile(this, `${name}-token`, {
          namePrefix: `${args.physicalName}-tunnel-token`,
          content: token,
          // Secret: a hash of the token is not provably harmless the way the broker's is.
          hash: token.apply(contentHash),
          labels,
          fileName: TOKEN_FILE,
          uid: CLOUDFLARED_UID,
        }),
      );
    }
    const service = new docker.Service(
      `${name}-service`,
      {
        name: `${args.physicalName}-cloudflared`,
        labels,
        taskSpec: {
          containerSpec: {
            ...CONTAINER_SPEC_DEFAULTS,
            image: args.image,
            args: connectorCommand(args.tunnel, args.edge, secrets.length ? TOKEN_FILE : undefined),
            user: `${CLOUDFLARED_UID}:${CLOUDFLARED_UID}`,
            readOnly: true,
            capDrops: ["ALL"],
            secrets,
            healthcheck: HEALTHCHECK,
            labels,
          },
          networksAdvanceds: connectorNetworks(args),
          placement: { constraints: swarm.constraints },
          resources: { limits: { memoryBytes: args.memoryMb * 1024 * 1024 } },
          ...SERVICE_TASK_DEFAULTS,
        },
        mode: { replicated: { replicas } },
        endpointSpec: { mode: swarm.endpointMode },
        // Start the new connector before stopping an old one: the tunnel never drops to zero.
        updateConfig: { order: "start-first", parallelism: 1 },
        // No convergeConfig: a task is healthy once connected to Cloudflare's edge, and a deploy
        // must not fail (and the provider delete the service) because the edge is unreachable.
      },
      { parent: this },
    );
    return service.name;
  }
}
