import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { MANAGER_CONSTRAINT, type SwarmConfig, type SwarmProxyKind } from "../config";
import { TYPES } from "../shared/resourceTypes";
import { contentHash } from "./contentHash";
import { CONTAINER_SPEC_DEFAULTS, SERVICE_TASK_DEFAULTS } from "./hardening";
import { labelList } from "./labels";

/**
 * The keys of `mqtt-edge:swarm` the frontend reads, as the config states them (defaults and their
 * reasons: config/defaults.ts): `proxy` (`dockerflow`, seed 002's stack, or `traefik`), the
 * overlay `network` suffix, `proxyReplicas` (1 with Traefik's ACME: one writer of acme.json),
 * `letsencrypt`, `images`, the published `ports` (the control port 8080 never is), `endpointMode`
 * and the managers' `dockerSocket` (mounted into the socket proxy only).
 */
type SwarmSlice = Pick<
  SwarmConfig,
  | "proxy"
  | "network"
  | "proxyReplicas"
  | "letsencrypt"
  | "images"
  | "ports"
  | "endpointMode"
  | "dockerSocket"
>;

export interface SwarmProxyArgs extends SwarmSlice {
  /** Service, network and volume name prefix; unique per stack and host. */
  readonly physicalName: string;
  /** Docker labels put on every object of the stack (stackLabels). */
  readonly labels: Record<string, string>;
}

/** One service of the frontend stack. */
interface FrontendService {
  image: string;
  env?: Record<string, string>;
  args?: pulumi.Input<string>[];
  networks: { name: pulumi.Input<string>; aliases: string[] }[];
  constraints: string[];
  replicas: number;
  /** [published, target] pairs. */
  ports?: number[][];
  mounts?: docker.types.input.ServiceTaskSpecContainerSpecMount[];
  /** Swarm configs mounted as files (configFile). */
  configs?: docker.types.input.ServiceTaskSpecContainerSpecConfig[];
  labels?: Record<string, string>;
  readOnly?: boolean;
}

/** Marks the one service allowed to mount the Docker socket (checked by the policy pack). */
export const SOCKET_PROXY_ROLE = { "dev.mqtt-edge.role": "socket-proxy" };
const MANAGER = MANAGER_CONSTRAINT;
/** Where the listener and Traefik reach the Docker API: the socket proxy. */
const DOCKER_API = "tcp://socket-proxy:2375";

/**
 * Where `letsencrypt.caCertificate` is mounted. Traefik's ACME client (lego) reads the file
 * LEGO_CA_CERTIFICATES names. The companion's certbot trusts what python3-requests trusts: on
 * Debian and Ubuntu, certifi's where() is patched to the system bundle, so the file takes the
 * bundle's place (certbot then trusts that CA only; it talks HTTPS to nothing but the ACME
 * server). A file, not an environment variable, because the companion renews from cron, whose
 * jobs do not inherit the container's environment.
 */
export const ACME_CA_FILE = {
  traefik: "/etc/mqtt-edge/acme-ca.pem",
  dockerflow: "/etc/ssl/certs/ca-certificates.crt",
};
/** certbot's own configuration file, read on every run (start-up and cron): `server = URL`. */
export const CERTBOT_INI = "/etc/letsencrypt/cli.ini";

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
  /** Origin the tunnel routes HTTP hostnames to: the proxy, in either kind. */
  public readonly httpService = "http://proxy:80";
  public readonly serviceNames: pulumi.Output<string>[] = [];
  private readonly networks: docker.Network[];

  constructor(
    private readonly resourceName: string,
    private readonly args: SwarmProxyArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(TYPES.swarmProxy, resourceName, {}, opts);
    if (args.letsencrypt && args.letsencrypt.domains.length === 0) {
      throw new pulumi.ResourceError("letsencrypt needs at least one domain", this);
    }
    const p = args.physicalName;
    const labels = labelList(args.labels);
    const child = { parent: this, deleteBeforeReplace: true };
    const main = new docker.Network(
      `${resourceName}-main`,
      { name: `${p}-${args.network}`, driver: "overlay", attachable: true, labels },
      child,
    );
    // Only the socket proxy and its clients sit here; it has no route out.
    const socketNet = new docker.Network(
      `${resourceName}-socket`,
      { name: `${p}-docker-api`, driver: "overlay", attachable: true, internal: true, labels },
      child,
    );
    this.networks = [main, socketNet];
    this.network = main.name;
    this.socketProxy(socketNet);
    if (args.proxy === "dockerflow") this.dockerFlow(main, socketNet);
    else this.traefik(main, socketNet);
    this.registerOutputs({ network: this.network, serviceNames: this.serviceNames });
  }

  /** The Docker API, read-only and only the sections the listener or Traefik need (seed 001). */
  private socketProxy(socketNet: docker.Network): void {
    this.service("socket-proxy", {
      image: this.args.images.socketProxy,
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
          source: this.args.dockerSocket,
          target: "/var/run/docker.sock",
          readOnly: true,
        },
      ],
      labels: SOCKET_PROXY_ROLE,
    });
  }

  /** Seed 002's stack: Swarm Listener, Docker Flow Proxy and the Let's Encrypt companion. */
  private dockerFlow(main: docker.Network, socketNet: docker.Network): void {
    const { args } = this;
    this.service("swarm-listener", {
      image: args.images.swarmListener,
      env: {
        // The listener reads DF_DOCKER_HOST, not DOCKER_HOST (its Dockerfile and
        // NewDockerClientFromEnv in docker-flow-swarm-listener).
        DF_DOCKER_HOST: DOCKER_API,
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
    this.service("proxy", {
      image: args.images.proxy,
      env: { LISTENER_ADDRESS: "swarm-listener", MODE: "swarm" },
      networks: [{ name: main.name, aliases: ["proxy"] }],
      constraints: [MANAGER],
      replicas: args.proxyReplicas,
      // 8080 (reconfigure API) stays on the overlay network: publishing it would let anyone
      // rewrite the routing table.
      ports: this.publishedPorts(),
    });
    const le = args.letsencrypt;
    if (!le) return;
    this.service("letsencrypt-companion", {
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
      mounts: [{ type: "volume", source: this.volume("letsencrypt"), target: "/etc/letsencrypt" }],
      // The companion's scripts take no ACME directory; certbot reads one from its cli.ini.
      configs: [
        ...(le.server
          ? [this.configFile("certbot-ini", `server = ${le.server}\n`, CERTBOT_INI)]
          : []),
        ...(le.caCertificate
          ? [this.configFile("acme-ca", le.caCertificate, ACME_CA_FILE.dockerflow)]
          : []),
      ],
    });
  }

  /** Traefik in place of the three: its swarm provider and, with `letsencrypt`, its ACME. */
  private traefik(main: docker.Network, socketNet: docker.Network): void {
    const { args } = this;
    const acme = args.letsencrypt;
    const traefikArgs: pulumi.Input<string>[] = [
      "--providers.swarm=true",
      `--providers.swarm.endpoint=${DOCKER_API}`,
      "--providers.swarm.exposedByDefault=false",
      pulumi.interpolate`--providers.swarm.network=${main.name}`,
      "--entrypoints.web.address=:80",
      "--entrypoints.websecure.address=:443",
      "--ping=true",
      // No call home: a frontend on a private network has no business dialling out.
      "--global.checkNewVersion=false",
      "--global.sendAnonymousUsage=false",
    ];
    if (acme) {
      traefikArgs.push(
        `--certificatesresolvers.le.acme.email=${acme.email}`,
        "--certificatesresolvers.le.acme.storage=/letsencrypt/acme.json",
        "--certificatesresolvers.le.acme.httpchallenge.entrypoint=web",
      );
      if (acme.server) traefikArgs.push(`--certificatesresolvers.le.acme.caServer=${acme.server}`);
      if (acme.certificatesDuration) {
        traefikArgs.push(
          `--certificatesresolvers.le.acme.certificatesDuration=${acme.certificatesDuration}`,
        );
      }
    }
    const ca = acme?.caCertificate;
    this.service("proxy", {
      image: args.images.traefik,
      args: traefikArgs,
      networks: [
        { name: main.name, aliases: ["proxy"] },
        { name: socketNet.name, aliases: ["traefik"] },
      ],
      constraints: acme?.node ? [`node.hostname == ${acme.node}`] : [MANAGER],
      replicas: acme ? 1 : args.proxyReplicas,
      ports: this.publishedPorts(),
      mounts: acme
        ? [{ type: "volume", source: this.volume("letsencrypt"), target: "/letsencrypt" }]
        : undefined,
      env: ca ? { LEGO_CA_CERTIFICATES: ACME_CA_FILE.traefik } : undefined,
      configs: ca ? [this.configFile("acme-ca", ca, ACME_CA_FILE.traefik)] : undefined,
    });
  }

  /** The proxy's published ports: `swarm.ports` to 80 and 443 inside. */
  private publishedPorts(): number[][] {
    return [
      [this.args.ports.http, 80],
      [this.args.ports.https, 443],
    ];
  }

  /** A named volume of the stack; returns its name. */
  private volume(suffix: string): pulumi.Output<string> {
    const p = this.args.physicalName;
    return new docker.Volume(
      `${this.resourceName}-${suffix}`,
      { name: `${p}-${suffix}`, labels: labelList(this.args.labels) },
      { parent: this },
    ).name;
  }

  /**
   * A file from a swarm config, world-readable (the images run as root or their own user). Its
   * names carry the content hash: configs are immutable, so new text is a new config the service
   * rolls over to, and the old one goes once no service names it (as the broker's, broker.ts).
   */
  private configFile(
    role: string,
    text: string,
    fileName: string,
  ): docker.types.input.ServiceTaskSpecContainerSpecConfig {
    const h = contentHash(text);
    const config = new docker.ServiceConfig(
      `${this.resourceName}-${role}-${h}`,
      {
        name: `${this.args.physicalName}-${role}-${h}`,
        data: Buffer.from(text).toString("base64"),
        labels: labelList(this.args.labels),
      },
      { parent: this },
    );
    return { configId: config.id, configName: config.name, fileName, fileMode: 0o444 };
  }

  /** One hardened service of the stack, on the stack's networks. */
  private service(role: string, spec: FrontendService): docker.Service {
    const { args } = this;
    const s = new docker.Service(
      `${this.resourceName}-${role}`,
      {
        name: `${args.physicalName}-${role}`,
        labels: labelList({ ...args.labels, ...spec.labels }),
        taskSpec: {
          containerSpec: {
            ...CONTAINER_SPEC_DEFAULTS,
            image: spec.image,
            env: spec.env,
            args: spec.args,
            mounts: spec.mounts,
            configs: spec.configs?.length ? spec.configs : undefined,
            readOnly: spec.readOnly,
            capDrops: ["ALL"],
            // The proxies bind 80/443 inside their containers.
            capAdds: spec.ports?.length ? ["NET_BIND_SERVICE"] : undefined,
            labels: labelList(args.labels),
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
            publishMode: args.endpointMode === "dnsrr" ? "host" : "ingress",
          })),
        },
        convergeConfig: { delay: "2s", timeout: "3m" },
      },
      { parent: this, dependsOn: this.networks },
    );
    this.serviceNames.push(s.name);
    return s;
  }
}
