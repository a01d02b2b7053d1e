import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type {
  BrokerConfig,
  DockerTls,
  HostConfig,
  PortPublish,
  SwarmConfig,
  TunnelConfig,
  TunnelMode,
} from "../config";
import { TYPES } from "../shared/resourceTypes";
import { BROKER_ALIAS, MqttBroker, type MqttBrokerArgs } from "./broker";
import {
  type ConnectorTunnel,
  TunnelConnector,
  type TunnelConnectorArgs,
  metricsHostPort,
} from "./connector";
import { stackLabels } from "./labels";
import { PrivateNetwork } from "./network";
import { type ClientKit, MQTT_TCP_PORT, renderClientKit } from "./render";
import { SwarmProxy, type SwarmProxyArgs } from "./swarmProxy";
import { CloudflareTunnel, type CloudflareTunnelArgs, type TunnelHostname } from "./tunnel";

export interface EdgeHostArgs {
  /** Pulumi project name: the first part of every physical name. */
  readonly project: string;
  /** Pulumi stack name: the second part of every physical name. */
  readonly stack: string;
  /** This host's entry of `mqtt-edge:hosts` (or the one local host), resolved. */
  readonly host: HostConfig;
  /** `mqtt-edge:tunnel`, with its defaults applied. */
  readonly tunnel: TunnelConfig;
  /** `mqtt-edge:broker`, with its defaults applied. */
  readonly broker: BrokerConfig;
  /** Generated password per MQTT user (secret), shared by every host of the stack. */
  readonly passwords: Record<string, pulumi.Input<string>>;
  /** token mode: the token of a tunnel made elsewhere (secret). Required in token mode. */
  readonly tunnelToken?: pulumi.Input<string>;
  /** managed mode: zone id per public hostname. */
  readonly zoneIds?: Record<string, pulumi.Input<string>>;
  /** managed mode with `manageZoneSettings`: the zone setting each hostname's records wait for. */
  readonly zoneSettings?: Record<string, pulumi.Resource>;
  /**
   * managed mode: resolves when every zone passed its preflight, fails when one did not. The
   * Docker provider and the tunnel's first resources wait for it, so a failed preflight creates
   * nothing (a component's own dependsOn does not hold back its children).
   */
  readonly preflight?: pulumi.Input<pulumi.Resource[]>;
  /** TLS material for a tcp:// Docker endpoint (secret). Absent: none. */
  readonly dockerTls?: pulumi.Input<DockerTls>;
  /** Protect tunnels, DNS records and data volumes from deletion (`mqtt-edge:protect`, default false). */
  readonly protect?: boolean;
  /** Swarm mode: broker and connectors as services, plus the frontend proxy stack. Absent: containers. */
  readonly swarm?: SwarmConfig;
}

/** What the stack reports per host (the `hosts` output); readable, no secrets. */
export interface EdgeHostSummary {
  name: string;
  docker: string;
  mode: string;
  websocketUrls: string[];
  tunnelId?: string;
  connectors: number;
  broker: string;
  /** Each connector's published metrics endpoint (with `tunnel.metrics` only). */
  metricsUrls?: string[];
  /** The native-MQTT hostname (with `tcpHostname` only); its client kit is in `clientKits`. */
  tcpHostname?: string;
}

/**
 * What the stack reports for one host, as `hosts.<host name>`: readable fields and the connector
 * token as the one secret (Pulumi keeps a nested Output's secrecy, so the rest stays readable).
 * A new per-host output is a field here, filled in by EdgeHost.hostOutputs.
 */
export interface HostOutputs {
  name: string;
  /** The Docker endpoint, or a note that the ambient one is used. */
  docker: string;
  mode: TunnelMode;
  /** The URL a client connects to: the first public wss:// URL, else the published ws:// one. */
  websocketUrl?: string;
  websocketUrls: string[];
  /** managed mode: this host's tunnel. */
  tunnelId?: pulumi.Output<string>;
  /** The connector token (managed and token modes); secret. */
  tunnelToken?: pulumi.Output<string>;
  /** Running cloudflared connectors. */
  connectors: number;
  /** The broker's container (or swarm service) name. */
  broker: pulumi.Output<string>;
  /** Each connector's published metrics endpoint (with `tunnel.metrics` only). */
  metricsUrls?: string[];
  /** managed mode with `tcpHostname`: the native-MQTT hostname; the kit is in `clientKits`. */
  tcpHostname?: string;
}

/** The names every object of a host derives from. */
interface HostNaming {
  /** `<project>-<stack>-<host>`. */
  physicalName: string;
  labels: Record<string, string>;
}

/** The Docker provider of one host: its endpoint and, for tcp://, TLS material. */
export function providerArgs(
  host: HostConfig,
  dockerTls: pulumi.Input<DockerTls> | undefined,
): docker.ProviderArgs {
  const tls = dockerTls ? pulumi.output(dockerTls) : undefined;
  return {
    host: host.docker,
    certPath: host.certPath,
    caMaterial: tls?.caMaterial,
    certMaterial: tls?.certMaterial,
    keyMaterial: tls?.keyMaterial,
  };
}

/** The frontend stack of `mqtt-edge:swarm`. */
export function swarmProxyArgs(swarm: SwarmConfig, naming: HostNaming): SwarmProxyArgs {
  return {
    physicalName: naming.physicalName,
    proxy: swarm.proxy,
    network: swarm.network,
    proxyReplicas: swarm.proxyReplicas,
    letsencrypt: swarm.letsencrypt,
    images: swarm.images,
    httpPort: swarm.ports.http,
    httpsPort: swarm.ports.https,
    endpointMode: swarm.endpointMode,
    dockerSocket: swarm.dockerSocket,
    labels: naming.labels,
  };
}

/** The broker of `mqtt-edge:broker` on this host's private network. */
export function brokerArgs(
  b: BrokerConfig,
  naming: HostNaming,
  ctx: {
    network: pulumi.Input<string>;
    passwords: Record<string, pulumi.Input<string>>;
    protect?: boolean;
    swarm?: SwarmConfig;
  },
): MqttBrokerArgs {
  return {
    image: b.image,
    physicalName: naming.physicalName,
    network: ctx.network,
    alias: BROKER_ALIAS,
    websocketPort: b.websocketPort,
    allowAnonymous: b.allowAnonymous,
    anonymousAcl: b.anonymousAcl,
    users: b.users,
    passwords: ctx.passwords,
    patterns: b.patterns,
    persistence: b.persistence,
    maxConnections: b.maxConnections,
    messageSizeLimit: b.messageSizeLimit,
    maxKeepalive: b.maxKeepalive,
    monitorUser: b.monitorUser,
    memoryMb: b.memoryMb,
    tcpPublish: b.tcp?.publish,
    websocketPublish: b.websocket?.publish,
    protect: ctx.protect,
    labels: naming.labels,
    swarm: ctx.swarm
      ? { constraints: ctx.swarm.brokerConstraints, endpointMode: ctx.swarm.endpointMode }
      : undefined,
  };
}

/** The origin the tunnel routes MQTT hostnames to: the broker's WebSocket listener. */
export function brokerService(b: BrokerConfig): string {
  return `http://${BROKER_ALIAS}:${b.websocketPort}`;
}

/** The origin the tunnel routes the TCP hostname to: the broker's plain MQTT listener. */
export function brokerTcpService(): string {
  return `tcp://${BROKER_ALIAS}:${MQTT_TCP_PORT}`;
}

/** managed mode: this host's tunnel, its MQTT (and TCP) hostnames and (swarm) the proxy's. */
export function tunnelArgs(
  args: EdgeHostArgs,
  naming: HostNaming,
  hostnames: {
    mqtt: TunnelHostname[];
    tcp?: TunnelHostname;
    http: TunnelHostname[];
    httpService?: string;
  },
): CloudflareTunnelArgs {
  const t = args.tunnel;
  return {
    accountId: t.accountId!,
    physicalName: naming.physicalName,
    mqttHostnames: hostnames.mqtt,
    brokerService: brokerService(args.broker),
    tcpHostname: hostnames.tcp,
    tcpService: hostnames.tcp ? brokerTcpService() : undefined,
    httpHostnames: hostnames.http,
    httpService: hostnames.httpService,
    secretVersion: t.secretVersion,
    access: t.access,
    protect: args.protect,
    preflight: args.preflight,
    comment: `mqtt-edge stack ${args.stack}, host ${args.host.name}`,
  };
}

/** The connectors of `mqtt-edge:tunnel` on this host. */
export function connectorArgs(
  args: EdgeHostArgs,
  naming: HostNaming,
  ctx: {
    tunnel: ConnectorTunnel;
    network: PrivateNetwork;
    extraNetworks: pulumi.Input<string>[];
    replaceWith?: pulumi.Resource[];
  },
): TunnelConnectorArgs {
  const t = args.tunnel;
  return {
    image: t.image,
    physicalName: naming.physicalName,
    tunnel: ctx.tunnel,
    replicas: args.host.replicas,
    brokerNetwork: ctx.network.brokerNetwork,
    egressNetwork: ctx.network.egressNetwork,
    edge: t.edge,
    memoryMb: t.memoryMb,
    metricsPublish: t.metrics?.publish,
    labels: naming.labels,
    swarm: args.swarm ? { constraints: [], endpointMode: args.swarm.endpointMode } : undefined,
    extraNetworks: ctx.extraNetworks,
    replaceWith: ctx.replaceWith,
  };
}

/** The readable part of a host's outputs: all but the client URL and the (secret) token. */
function summaryOf(o: HostOutputs): pulumi.Output<EdgeHostSummary> {
  return pulumi.output({
    name: o.name,
    docker: o.docker,
    mode: o.mode,
    websocketUrls: o.websocketUrls,
    tunnelId: o.tunnelId,
    connectors: o.connectors,
    broker: o.broker,
    ...(o.metricsUrls && { metricsUrls: o.metricsUrls }),
    ...(o.tcpHostname && { tcpHostname: o.tcpHostname }),
  });
}

/**
 * managed mode with a TCP hostname: the client kit of the host (secret), from its tunnel's
 * Access service token and, with `broker.bridge`, the bridge user's password.
 */
export function clientKitOf(
  args: EdgeHostArgs,
  tunnel: CloudflareTunnel,
  hostname: string,
  naming: HostNaming,
): pulumi.Output<ClientKit> {
  const bridge = args.broker.bridge;
  return pulumi.secret(
    pulumi
      .all([
        tunnel.tcpAccessClientId!,
        tunnel.tcpAccessClientSecret!,
        bridge ? args.passwords[bridge.user] : "",
      ])
      .apply(([clientId, clientSecret, password]) =>
        renderClientKit({
          hostname,
          image: args.tunnel.image,
          serviceToken: { clientId, clientSecret },
          bridge: bridge && {
            connectionName: naming.physicalName,
            hostname,
            user: bridge.user,
            password,
            topics: bridge.topics,
            maxKeepalive: args.broker.maxKeepalive,
          },
        }),
      ),
  );
}

/** Each connector's metrics URL on the Docker host (connector i at port + i - 1). */
export function metricsUrls(publish: PortPublish, replicas: number): string[] {
  return Array.from({ length: replicas }, (_, i) => {
    const p = metricsHostPort(publish, i + 1);
    return `http://${p.ip}:${p.port}/metrics`;
  });
}

/**
 * One Docker host's share of the product: its own Docker provider, networks, broker, connectors
 * and (managed mode) its own tunnel, so a compromised host holds only its own credentials.
 */
export class EdgeHost extends pulumi.ComponentResource {
  public readonly provider: docker.Provider;
  public readonly broker: MqttBroker;
  public readonly tunnel?: CloudflareTunnel;
  public readonly connector?: TunnelConnector;
  public readonly swarmProxy?: SwarmProxy;
  /** wss:// URLs of the public hostnames (managed and token modes with hostnames). */
  public readonly websocketUrls: string[];
  public readonly tunnelId?: pulumi.Output<string>;
  /** The connector token (managed and token modes); secret. */
  public readonly token?: pulumi.Output<string>;
  public readonly summary: pulumi.Output<EdgeHostSummary>;
  /** The host's entry of the `hosts` stack output. */
  public readonly outputs: HostOutputs;
  /**
   * With a TCP hostname: what a client needs for native MQTT through the tunnel (the
   * `cloudflared access tcp` command, its token, a compose file and the bridge block); secret.
   */
  public readonly clientKit?: pulumi.Output<ClientKit>;
  /** The host's name in the stack config. */
  public readonly hostName: string;

  constructor(name: string, args: EdgeHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.edgeHost, name, {}, opts);
    const { host, tunnel: t } = args;
    this.hostName = host.name;
    const naming: HostNaming = {
      physicalName: `${args.project}-${args.stack}-${host.name}`,
      labels: stackLabels(args.project, args.stack, host.name),
    };
    if (t.mode === "token" && args.tunnelToken === undefined) {
      throw new pulumi.ResourceError("token mode needs a tunnel token", this);
    }
    if (t.mode === "managed" && !t.accountId) {
      throw new pulumi.ResourceError("managed mode needs an account id", this);
    }

    this.provider = new docker.Provider(`${name}-docker`, providerArgs(host, args.dockerTls), {
      parent: this,
      dependsOn: args.preflight,
    });
    const child = { parent: this, provider: this.provider };
    const network = new PrivateNetwork(
      `${name}-net`,
      { physicalName: naming.physicalName, labels: naming.labels, swarm: !!args.swarm },
      child,
    );
    if (args.swarm) {
      this.swarmProxy = new SwarmProxy(
        `${name}-frontend`,
        swarmProxyArgs(args.swarm, naming),
        child,
      );
    }
    this.broker = new MqttBroker(
      `${name}-broker`,
      brokerArgs(args.broker, naming, { ...args, network: network.brokerNetwork }),
      child,
    );

    const declared = this.declareTunnel(name, args, naming);
    this.tunnel = declared.tunnel;
    this.tunnelId = declared.tunnel?.tunnelId;
    this.token = declared.token;
    if (this.tunnel && host.tcpHostname) {
      this.clientKit = clientKitOf(args, this.tunnel, host.tcpHostname, naming);
    }
    const connectorTunnel = declared.run;
    if (connectorTunnel) {
      // Connectors do not wait for the broker: cloudflared dials the edge on its own and reaches
      // the origin per request, so both start at once (bench:up); in managed mode they wait for
      // the tunnel's routes.
      this.connector = new TunnelConnector(
        `${name}-connector`,
        connectorArgs(args, naming, {
          tunnel: connectorTunnel,
          network,
          extraNetworks: this.swarmProxy ? [this.swarmProxy.network] : [],
          replaceWith:
            this.tunnel && !args.swarm ? [this.tunnel.secret, this.tunnel.tunnel] : undefined,
        }),
        { ...child, dependsOn: this.tunnel ? [this.tunnel.config] : [] },
      );
    }

    this.websocketUrls =
      t.mode === "quick" || t.mode === "none" ? [] : host.hostnames.map((h) => `wss://${h}`);
    this.outputs = this.hostOutputs(args, !!connectorTunnel);
    this.summary = summaryOf(this.outputs);
    this.registerOutputs({ summary: this.summary, token: this.token, clientKit: this.clientKit });
  }

  /**
   * managed mode: declares this host's tunnel. Returns it, the connector token (managed and token
   * modes) and what the connectors run (nothing in none mode).
   */
  private declareTunnel(
    name: string,
    args: EdgeHostArgs,
    naming: HostNaming,
  ): { tunnel?: CloudflareTunnel; token?: pulumi.Output<string>; run?: ConnectorTunnel } {
    const t = args.tunnel;
    if (t.mode === "managed") {
      const withZone = (hostname: string): TunnelHostname => {
        const zoneId = args.zoneIds?.[hostname];
        if (zoneId === undefined) {
          throw new pulumi.ResourceError(`no zone id for hostname "${hostname}"`, this);
        }
        return { hostname, zoneId, zoneReady: args.zoneSettings?.[hostname] };
      };
      const hostnames = {
        mqtt: args.host.hostnames.map(withZone),
        tcp: args.host.tcpHostname ? withZone(args.host.tcpHostname) : undefined,
        http: this.swarmProxy ? (args.swarm?.httpHostnames ?? []).map(withZone) : [],
        httpService: this.swarmProxy?.httpService,
      };
      const tunnel = new CloudflareTunnel(`${name}-tunnel`, tunnelArgs(args, naming, hostnames), {
        parent: this,
      });
      return { tunnel, token: tunnel.token, run: { kind: "token", token: tunnel.token } };
    }
    if (t.mode === "token") {
      const token = pulumi.secret(args.tunnelToken!);
      return { token, run: { kind: "token", token } };
    }
    if (t.mode === "quick") {
      const service = brokerService(args.broker);
      return { run: { kind: "quick", service, quickService: t.quickService } };
    }
    return {};
  }

  private hostOutputs(args: EdgeHostArgs, connectors: boolean): HostOutputs {
    const { host, tunnel: t } = args;
    const local = args.broker.websocket?.publish;
    const metrics = connectors ? t.metrics?.publish : undefined;
    const websocketUrls = local
      ? [...this.websocketUrls, `ws://${local.ip}:${local.port}`]
      : this.websocketUrls;
    return {
      name: host.name,
      docker: host.docker ?? "DOCKER_HOST or the local socket",
      mode: t.mode,
      websocketUrl: websocketUrls[0],
      websocketUrls,
      tunnelId: this.tunnelId,
      tunnelToken: this.token,
      connectors: connectors ? host.replicas : 0,
      broker: this.broker.containerName,
      ...(metrics && { metricsUrls: metricsUrls(metrics, host.replicas) }),
      ...(t.mode === "managed" && host.tcpHostname && { tcpHostname: host.tcpHostname }),
    };
  }
}
