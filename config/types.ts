/** The typed, validated stack configuration that parseConfig returns and components receive. */
import type * as pulumi from "@pulumi/pulumi";

export type TunnelMode = "managed" | "token" | "quick" | "none";
export type Access = "read" | "write" | "readwrite" | "deny";

export interface AclRule {
  access: Access;
  topic: string;
}

export interface MqttUser {
  name: string;
  acl: AclRule[];
  /** Changing it generates a new password for this user alone (users[].passwordVersion). */
  passwordVersion?: string;
}

export interface PortPublish {
  ip: string;
  port: number;
}

export interface TunnelConfig {
  mode: TunnelMode;
  accountId?: string;
  /** Zone names hostnames are matched against (longest suffix wins). */
  zones: string[];
  /** Explicit zone id of the one zone (`zones[0]`); skips the zone lookup. */
  zoneId?: string;
  /**
   * managed mode: the zone name of every public hostname (MQTT, TCP and swarm HTTP), resolved
   * once by the config; the program declares one lookup, preflight and setting per zone name.
   */
  hostnameZones: Record<string, string>;
  replicas: number;
  image: string;
  access: boolean;
  /**
   * managed mode: declare each zone's `websockets` setting as "on" (a `cloudflare.ZoneSetting`)
   * instead of refusing to deploy to a zone where it is off.
   */
  manageZoneSettings: boolean;
  /** Change to rotate the tunnel secret (and so the token). */
  secretVersion: string;
  /** Lifetime of each Access service token (a Go duration, e.g. "8760h"). */
  accessTokenDuration: string;
  /** Rotation of the Access service tokens' client secret. Absent: never rotated. */
  accessSecret?: { version: number; previousValidUntil?: string };
  /** Override of cloudflared's edge addresses (`--edge`), for private or test networks. */
  edge: string[];
  /** Quick-tunnel service URL override (`--quick-service`), for tests. */
  quickService?: string;
  /**
   * Publish each connector's metrics server on the Docker host: connector i (1-based) at
   * `publish.port + i - 1` on `publish.ip`. Absent: not published.
   */
  metrics?: { publish: PortPublish };
  /** Memory limit per connector, MiB. */
  memoryMb: number;
}

export interface BrokerConfig {
  image: string;
  allowAnonymous: boolean;
  anonymousAcl: AclRule[];
  persistence: boolean;
  websocketPort: number;
  tcp?: { publish?: PortPublish };
  websocket?: { publish?: PortPublish };
  maxConnections: number;
  messageSizeLimit: number;
  /** Largest keep alive (seconds) the broker grants: `max_keepalive`. */
  maxKeepalive: number;
  memoryMb: number;
  /**
   * The engine has Docker API 1.44 or later: the healthcheck probes every 250 ms during its start
   * period (HEALTHCHECK --start-interval), so a fresh broker is healthy within about a second.
   */
  /** `"auto"`: on where the host's engine speaks API 1.44+ (engines.ts startInterval). */
  healthStartInterval: boolean | "auto";
  users: MqttUser[];
  patterns: AclRule[];
  /** A user that may read `$SYS/#` and nothing else; its password is generated like the others'. */
  monitorUser?: string;
  /**
   * The user `npm run probe` connects as: it may publish and subscribe under PROBE_TOPICS and
   * nothing else; in `users` after parsing, with that ACL.
   */
  probeUser?: string;
  /** managed mode with a tcpHostname: the site-broker bridge user and its topics. */
  bridge?: BridgeConfig;
}

/** Which way a bridged topic flows, seen from the site broker that runs the bridge. */
export type BridgeDirection = "out" | "in" | "both";

export interface BridgeTopic {
  topic: string;
  direction: BridgeDirection;
  qos: 0 | 1 | 2;
}

/**
 * A site broker's bridge to this one over native MQTT (through `tunnel.tcpHostname`): a user of
 * its own whose ACL allows exactly the bridged topics, and the `connection` block the client kit
 * renders for the site broker.
 */
export interface BridgeConfig {
  user: string;
  topics: BridgeTopic[];
}

export interface HostConfig {
  name: string;
  /** Docker endpoint: unix://, tcp:// or ssh://. Absent: the ambient DOCKER_HOST. */
  docker?: string;
  /** Directory holding ca.pem, cert.pem and key.pem for a tcp:// endpoint. */
  certPath?: string;
  hostnames: string[];
  /**
   * managed mode: the public hostname of native MQTT over TCP (clients reach it with
   * `cloudflared access tcp` and an Access service token). Absent: no TCP route.
   */
  tcpHostname?: string;
  /** Explicit zone for this host's hostnames (overrides the suffix match). */
  zone?: string;
  replicas: number;
}

export interface LetsEncryptConfig {
  email: string;
  domains: string[];
  node?: string;
  renewCron: string[];
  /** The ACME directory URL; unset: Let's Encrypt's production directory. */
  server?: string;
  /** PEM of the CA(s) the ACME client trusts for `server`'s HTTPS, in place of the image's. */
  caCertificate?: string;
  /** Traefik's certificatesDuration: the certificates' lifetime in hours, which plans renewals. */
  certificatesDuration?: number;
}

export type SwarmProxyKind = "dockerflow" | "traefik";
export type EndpointMode = "vip" | "dnsrr";

export interface SwarmImages {
  swarmListener: string;
  proxy: string;
  letsencrypt: string;
  traefik: string;
  socketProxy: string;
}

export interface SwarmConfig {
  enabled: boolean;
  proxy: SwarmProxyKind;
  network: string;
  proxyReplicas: number;
  letsencrypt?: LetsEncryptConfig;
  /** HTTP hostnames the tunnel routes to the proxy (besides the MQTT hostname). */
  httpHostnames: string[];
  /** `vip` (default) or `dnsrr`, for engines without IPVS; dnsrr publishes ports in host mode. */
  endpointMode: EndpointMode;
  /** The Docker socket on the managers, for the socket proxy. */
  dockerSocket: string;
  ports: { http: number; https: number };
  /** Placement constraints of the broker service (its data volume lives on that node). */
  brokerConstraints: string[];
  images: SwarmImages;
}

export interface DockerTls {
  caMaterial: string;
  certMaterial: string;
  keyMaterial: string;
}

export interface StackConfig {
  project: string;
  stack: string;
  tunnel: TunnelConfig;
  /** token mode: the connector token, always a secret. */
  tunnelToken?: pulumi.Output<string>;
  broker: BrokerConfig;
  hosts: HostConfig[];
  swarm?: SwarmConfig;
  protect: boolean;
  /** TLS material per host name for tcp:// endpoints, from secret config. */
  dockerTls: Record<string, pulumi.Output<DockerTls>>;
}
