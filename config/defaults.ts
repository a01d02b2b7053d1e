/**
 * Every default of the config contract, stated once. The schemas (config/schemas.ts) apply them,
 * components receive the resolved values and hold none of their own, Pulumi.yaml's declared
 * defaults and the README's config table echo them (tests/unit/defaults.test.ts checks
 * Pulumi.yaml against this file).
 */
import type { AclRule, MqttUser } from "./types";

/** Images the program runs unless the stack names others. Pinned; never "latest". */
export const DEFAULT_IMAGES = {
  mosquitto: "eclipse-mosquitto:2.0.22",
  cloudflared: "cloudflare/cloudflared:2025.11.1",
  swarmListener: "dockerflow/docker-flow-swarm-listener:19.03.2-18",
  proxy: "dockerflow/docker-flow-proxy:19.12.08-88",
  letsencrypt: "hamburml/docker-flow-letsencrypt:0.0.10",
  // 3.6.1 or later: earlier releases pin Docker API 1.24 for swarm, which Docker 29 refuses
  // (traefik/traefik#12253, fixed by negotiation in #12255); v3.7.9 is what the tests run.
  traefik: "traefik:v3.7.9",
  socketProxy: "tecnativa/docker-socket-proxy:v0.4.1",
} as const;

/** The placement constraint of the swarm services that must run on a manager. */
export const MANAGER_CONSTRAINT = "node.role == manager";

/** `mqtt-edge:tunnel` */
export const TUNNEL_DEFAULTS = {
  mode: "quick",
  /** cloudflared connectors per host. */
  replicas: 1,
  image: DEFAULT_IMAGES.cloudflared,
  access: false,
  manageZoneSettings: false,
  secretVersion: "1",
  /** Lifetime of each Access service token: Cloudflare's own default, one year. */
  accessTokenDuration: "8760h",
  /** Where connector 1's metrics server is published when `tunnel.metrics` names no address. */
  metricsPublish: "127.0.0.1:2000",
  /** Memory limit per connector, MiB. */
  memoryMb: 128,
} as const;

/** The one user a stack gets when it names none: it may use the topics under clients/client/. */
export function defaultUsers(): MqttUser[] {
  return [{ name: "client", acl: [{ access: "readwrite", topic: "clients/client/#" }] }];
}

/** What anonymous clients may do when `allowAnonymous` is true and no `anonymousAcl` is set. */
export function defaultAnonymousAcl(): AclRule[] {
  return [{ access: "readwrite", topic: "#" }];
}

/** `mqtt-edge:broker` */
export const BROKER_DEFAULTS = {
  image: DEFAULT_IMAGES.mosquitto,
  allowAnonymous: false,
  persistence: true,
  websocketPort: 9001,
  maxConnections: 1000,
  messageSizeLimit: 262144,
  /** Seconds: `max_keepalive`. */
  maxKeepalive: 60,
  /** Memory limit of the broker, MiB. */
  memoryMb: 256,
  /**
   * A healthcheck start interval needs Docker API 1.44 (the provider refuses it below; Debian's
   * Docker 20.10 has 1.41): "auto" asks each host's engine (engines.ts).
   */
  healthStartInterval: "auto",
} as const;

/** `mqtt-edge:broker.bridge` */
export const BRIDGE_DEFAULTS = {
  /** The MQTT user a site broker's bridge connects as. */
  user: "bridge",
  /** QoS of each bridged topic. */
  qos: 1,
} as const;

/** `mqtt-edge:swarm` */
export const SWARM_DEFAULTS = {
  enabled: true,
  proxy: "dockerflow",
  network: "main",
  proxyReplicas: 2,
  endpointMode: "vip",
  dockerSocket: "/var/run/docker.sock",
  ports: { http: 80, https: 443 },
} as const;

/** `mqtt-edge:swarm.letsencrypt.renewCron`: twice a day. */
export function defaultRenewCron(): string[] {
  return ["0 3 * * *", "0 15 * * *"];
}

/** `mqtt-edge:swarm.brokerConstraints`: the broker's data volume lives on a manager. */
export function defaultBrokerConstraints(): string[] {
  return [MANAGER_CONSTRAINT];
}

/** `mqtt-edge:protect` */
export const PROTECT_DEFAULT = false;
