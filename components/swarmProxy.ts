import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import {
  type EndpointMode,
  type LetsEncryptConfig,
  MANAGER_CONSTRAINT,
  type SwarmImages,
  type SwarmProxyKind,
} from "../config";
import { TYPES } from "../shared/resourceTypes";
import { CONTAINER_SPEC_DEFAULTS, SERVICE_TASK_DEFAULTS } from "./hardening";
import { labelList } from "./labels";

/** The images of the frontend stack (`swarm.images`). */
export type SwarmProxyImages = SwarmImages;

export interface SwarmProxyArgs {
  /** Service, network and volume name prefix; unique per stack and host. */
  readonly physicalName: string;
  /** `dockerflow` (seed 002's stack) or `traefik` (its maintained successor). Config default dockerflow. */
  readonly proxy: SwarmProxyKind;
  /** Suffix of the overlay network the proxy and the services it routes to share. Config default "main". */
  readonly network: string;
  /** Proxy replicas. With Traefik and ACME, 1: one writer of acme.json. Config default 2. */
  readonly proxyReplicas: number;
  /** Let's Encrypt certificates (the companion, or Traefik's ACME). Absent: none. */
  readonly letsencrypt?: LetsEncryptConfig;
  /** Images of the stack's services. Config defaults: DEFAULT_IMAGES (pinned). */
  readonly images: SwarmProxyImages;
  /** Published HTTP port. Config default 80. The control port 8080 never is published. */
  readonly httpPort: number;
  /** Published HTTPS port. Config default 443. */
  readonly httpsPort: number;
  /** `vip`, or `dnsrr` (with host-mode ports) for engines without IPVS. Config default vip. */
  readonly endpointMode: EndpointMode;
  /** The Docker socket on the managers, mounted into the socket proxy only. Config default /var/run/docker.sock. */
  readonly dockerSocket: string;
  /** Docker labels put on every object of the stack (stackLabels). */
  readonly labels: Record<string, string>;
}

/** Marks the one service allowed to mount the Docker socket (checked by the policy pack). */
export const SOCKET_PROXY_ROLE = { "dev.mqtt-edge.role": "socket-proxy" };
const MANAGER = MANAGER_CONSTRAINT;

/**
 * Labels a service needs to be routed by the proxy: `com.df.*` for Docker Flow Proxy (read by the
 * Swarm Listener), `traefik.*` for Traefik's swarm provider.
 */
export function routeLabels(
  proxy: SwarmProxyKind,
  route: { service: string; port: number; host?: string; path?: string; tls?: boolean },
): Record<string, string> {
  if (proxy === "dockerflow") {
    const labels: Record<string, string> = {
      "com.df.notify": "true",
      "com.df.port": String(route.port),
      "com.df.servicePath": route.path ?? "/",
    };
    if (route.host) labels["com.df.serviceDomain"] = route.host;
    return labels;
  }
  const r = route.service.replace(/[^A-Za-z0-9-]/g, "-");
  const rules = [
    route.host ? `Host(\`${route.host}\`)` : undefined,
    route.path ? `PathPrefix(\`${route.path}\`)` : undefined,
  ]
    .filter(Boolean)
    .join(" && ");
  const labels: Record<string, string> = {
    "traefik.enable": "true",
    [`traefik.http.routers.${r}.rule`]: rules || "PathPrefix(`/`)",
    [`traefik.http.routers.${r}.entrypoints`]: route.tls ? "websecure" : "web",
    [`traefik.http.services.${r}.loadbalancer.server.port`]: String(route.port),
  };
  if (route.tls) labels[`traefik.http.routers.${r}.tls.certresolver`] = "le";
  return labels;
}

/** Bash-array text as the Let's Encrypt companion reads it: ('a' 'b'). */
export function bashArray(values: string[]): string {
  return `(${values.map((v) => `'${v}'`).join(" ")})`;
}

/**
 * Seed 002's frontend stack on a swarm: Swarm Listener, Proxy (replicated, 80/443) and the Let's
 * Encrypt companion on the overlay network, or Traefik in their place. Hardened: the Docker API
 * is reached through a read-only socket proxy on its own internal network, never a raw socket
 * mount in an internet-facing service, and the proxy's control port stays unpublished.
 */
export class SwarmProxy extends pulumi.ComponentResource {
  /** The overlay network services join to be routed. */
  public readonly network: pulumi.Output<string>;
  /** Origin the tunnel routes HTTP hostnames to. */
  public readonly httpService: string;
  public readonly serviceNames: pulumi.Output<string>[] = [];

  constructor(name: string, args: SwarmProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.swarmProxy, name, {}, opts);
    if (args.letsencrypt && args.letsencrypt.domains.length === 0) {
      throw new pulumi.ResourceError("letsencrypt needs at least one domain", this);
    }
    const p = args.physicalName;
    const labels = labelList(args.labels);
    const child = { parent: this };
    const publishMode = args.endpointMode === "dnsrr" ? "host" : "ingress";

    const main = new docker.Network(
      `${name}-main`,
      { name: `${p}-${args.network}`, driver: "overlay", attachable: true, labels },
      { ...child, deleteBeforeReplace: true },
    );
    // Only the socket proxy and its clients sit here; it has no route out.
    const socketNet = new docker.Network(
      `${name}-socket`,
      { name: `${p}-docker-api`, driver: "overlay", attachable: true, internal: true, labels },
      { ...child, deleteBeforeReplace: true },
    );
    this.network = main.name;

    const service = (
      role: string,
      spec: {
        image: string;
        env?: Record<string, string>;
        args?: pulumi.Input<string>[];
        networks: { name: pulumi.Input<string>; aliases: string[] }[];
        constraints: string[];
        replicas: number;
        ports?: number[][];
        mounts?: docker.types.input.ServiceTaskSpecContainerSpecMount[];
        labels?: Record<string, string>;
        readOnly?: boolean;
      },
    ) => {
      const s = new docker.Service(
        `${name}-${role}`,
        {
          name: `${p}-${role}`,
          labels: labelList({ ...args.labels, ...spec.labels }),
          taskSpec: {
            containerSpec: {
              ...CONTAINER_SPEC_DEFAULTS,
              image: spec.image,
              env: spec.env,
              args: spec.args,
              mounts: spec.mounts,
              readOnly: spec.readOnly,
              capDrops: ["ALL"],
              // The proxies bind 80/443 inside their containers.
              capAdds: spec.ports?.length ? ["NET_BIND_SERVICE"] : undefined,
              labels,
            },
            networksAdvanceds: spec.networks,
            placement: { constraints: spec.constraints },
            ...SERVICE_TASK_DEFAULTS,
          },
          mode: { replicated: { replicas: spec.replicas } },
          endpointSpec: {
            mode: args.endpointMode,
            ports: spec.ports?.map(([publishedPort, targetPort]) => ({
              publishedPort,
              targetPort,
              protocol: "tcp",
              publishMode,
            })),
          },
          convergeConfig: { delay: "2s", timeout: "3m" },
        },
        { ...child, dependsOn: [main, socketNet] },
      );
      this.serviceNames.push(s.name);
      return s;
    };

    const volumeOf = (suffix: string) =>
      new docker.Volume(`${name}-${suffix}`, { name: `${p}-${suffix}`, labels }, child);

    // The Docker API, read-only and only the sections the listener or Traefik need (seed 001).
    service("socket-proxy", {
      image: args.images.socketProxy,
      env: {
        SERVICES: "1",
        TASKS: "1",
        NETWORKS: "1",
        NODES: "1",
        EVENTS: "1",
        INFO: "1",
        VERSION: "1",
        CONTAINERS: "0",
        POST: "0",
      },
      networks: [{ name: socketNet.name, aliases: ["socket-proxy"] }],
      constraints: [MANAGER],
      replicas: 1,
      mounts: [
        {
          type: "bind",
          source: args.dockerSocket,
          target: "/var/run/docker.sock",
          readOnly: true,
        },
      ],
      labels: SOCKET_PROXY_ROLE,
    });
    const dockerApi = "tcp://socket-proxy:2375";
    const httpPort = args.httpPort;
    const httpsPort = args.httpsPort;

    if (args.proxy === "dockerflow") {
      this.httpService = "http://proxy:80";
      service("swarm-listener", {
        image: args.images.swarmListener,
        env: {
          DOCKER_HOST: dockerApi,
          // The seed writes DF_NOTIF_*; the listener image reads DF_NOTIFY_*.
          DF_NOTIFY_CREATE_SERVICE_URL: "http://proxy:8080/v1/docker-flow-proxy/reconfigure",
          DF_NOTIFY_REMOVE_SERVICE_URL: "http://proxy:8080/v1/docker-flow-proxy/remove",
        },
        networks: [
          { name: main.name, aliases: ["swarm-listener"] },
          { name: socketNet.name, aliases: ["swarm-listener"] },
        ],
        constraints: [MANAGER],
        replicas: 1,
        readOnly: true,
      });
      service("proxy", {
        image: args.images.proxy,
        env: { LISTENER_ADDRESS: "swarm-listener", MODE: "swarm" },
        networks: [{ name: main.name, aliases: ["proxy"] }],
        constraints: [MANAGER],
        replicas: args.proxyReplicas,
        // 8080 (reconfigure API) stays on the overlay network: publishing it would let anyone
        // rewrite the routing table.
        ports: [
          [httpPort, 80],
          [httpsPort, 443],
        ],
      });
      if (args.letsencrypt) {
        const le = args.letsencrypt;
        const volume = volumeOf("letsencrypt");
        service("letsencrypt-companion", {
          image: args.images.letsencrypt,
          env: {
            DOMAIN_1: bashArray(le.domains),
            DOMAIN_COUNT: "1",
            CERTBOT_EMAIL: le.email,
            PROXY_ADDRESS: "proxy",
            CERTBOT_CRON_RENEW: bashArray(le.renewCron),
          },
          // The proxy forwards ACME challenges to the companion, on every proxy replica.
          labels: {
            ...routeLabels("dockerflow", {
              service: "letsencrypt",
              port: 80,
              path: "/.well-known/acme-challenge",
            }),
            "com.df.distribute": "true",
          },
          networks: [{ name: main.name, aliases: ["letsencrypt-companion"] }],
          // One instance, always on the node that keeps its certificates.
          constraints: [le.node ? `node.hostname == ${le.node}` : MANAGER],
          replicas: 1,
          mounts: [{ type: "volume", source: volume.name, target: "/etc/letsencrypt" }],
        });
      }
    } else {
      this.httpService = "http://proxy:80";
      const acme = args.letsencrypt;
      const traefikArgs: pulumi.Input<string>[] = [
        "--providers.swarm=true",
        `--providers.swarm.endpoint=${dockerApi}`,
        "--providers.swarm.exposedByDefault=false",
        pulumi.interpolate`--providers.swarm.network=${main.name}`,
        "--entrypoints.web.address=:80",
        "--entrypoints.websecure.address=:443",
        "--ping=true",
        // No call home: a frontend on a private network has no business dialling out.
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
      ];
      let mounts: docker.types.input.ServiceTaskSpecContainerSpecMount[] | undefined;
      if (acme) {
        const volume = volumeOf("letsencrypt");
        mounts = [{ type: "volume", source: volume.name, target: "/letsencrypt" }];
        traefikArgs.push(
          `--certificatesresolvers.le.acme.email=${acme.email}`,
          "--certificatesresolvers.le.acme.storage=/letsencrypt/acme.json",
          "--certificatesresolvers.le.acme.httpchallenge.entrypoint=web",
        );
      }
      service("proxy", {
        image: args.images.traefik,
        args: traefikArgs,
        networks: [
          { name: main.name, aliases: ["proxy"] },
          { name: socketNet.name, aliases: ["traefik"] },
        ],
        constraints: acme?.node ? [`node.hostname == ${acme.node}`] : [MANAGER],
        replicas: acme ? 1 : args.proxyReplicas,
        ports: [
          [httpPort, 80],
          [httpsPort, 443],
        ],
        mounts,
      });
    }
    this.registerOutputs({ network: this.network, serviceNames: this.serviceNames });
  }
}
