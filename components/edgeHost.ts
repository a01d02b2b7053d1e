import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { DockerTls, HostConfig, StackConfig, TunnelMode } from "../config";
import { startInterval } from "../engines";
import { TYPES } from "../shared/resourceTypes";
import { BROKER_ALIAS, MqttBroker } from "./broker";
import { type ConnectorTunnel, TunnelConnector, metricsHostPort } from "./connector";
import { stackLabels } from "./labels";
import { PrivateNetwork } from "./network";
import { type ClientKit, MQTT_TCP_PORT, renderClientKit } from "./render";
import { SwarmProxy } from "./swarmProxy";
import { CloudflareTunnel, type TunnelHostname } from "./tunnel";

/** managed mode: a zone as the program declared it (program.ts, declareZones). */
export interface DeclaredZone {
  /** The zone id: `tunnel.zoneId`, or looked up by the zone's name. */
  id: pulumi.Output<string>;
  /** With `manageZoneSettings`: the zone's WebSockets setting, which its records wait for. */
  ready?: pulumi.Resource;
}

/**
 * One host's share of the stack config: the config slices it reads as they are (StackConfig),
 * this host's entry of `hosts`, and what the program declared once for every host.
 */
export interface EdgeHostArgs extends Pick<
  StackConfig,
  "project" | "stack" | "tunnel" | "broker" | "tunnelToken" | "protect" | "swarm"
> {
  /** This host's entry of `mqtt-edge:hosts` (or the one local host), resolved. */
  readonly host: HostConfig;
  /** Generated password per MQTT user (secret), shared by every host of the stack. */
  readonly passwords: Record<string, pulumi.Input<string>>;
  /** managed mode: the declared zones, by zone name (`tunnel.hostnameZones` names them). */
  readonly zones?: Record<string, DeclaredZone>;
  /**
   * Resolves when every zone (managed mode, zones.ts) and, with `swarm.proxy: dockerflow`, every
   * engine (engines.ts) passed its preflight; fails when one did not. The Docker provider and the
   * tunnel's first resources wait for it, so a failed preflight creates nothing (a component's
   * own dependsOn does not hold back its children).
   */
  readonly preflight?: pulumi.Input<pulumi.Resource[]>;
  /** TLS material for a tcp:// Docker endpoint (secret). Absent: none. */
  readonly dockerTls?: pulumi.Input<DockerTls>;
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
  /** With `access: true`: when the MQTT hostnames' Access service token expires (RFC 3339). */
  accessTokenExpiresAt?: pulumi.Output<string>;
  /** With `tcpHostname`: when the client kit's service token expires (RFC 3339). */
  tcpAccessTokenExpiresAt?: pulumi.Output<string>;
}

/** The names every object of a host derives from. */
interface HostNaming {
  /** `<project>-<stack>-<host>`. */
  physicalName: string;
  labels: Record<string, string>;
}

/** The origin the tunnel routes MQTT hostnames to: the broker's WebSocket listener. */
function brokerService(websocketPort: number): string {
  return `http://${BROKER_ALIAS}:${websocketPort}`;
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
  public readonly tunnelId?: pulumi.Output<string>;
  /** The connector token (managed and token modes); secret. */
  public readonly token?: pulumi.Output<string>;
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
    this.provider = this.dockerProvider(name, host, args);
    const child = { parent: this, provider: this.provider };
    const network = new PrivateNetwork(
      `${name}-net`,
      { physicalName: naming.physicalName, labels: naming.labels, swarm: !!args.swarm },
      child,
    );
    if (args.swarm) {
      this.swarmProxy = new SwarmProxy(`${name}-frontend`, { ...args.swarm, ...naming }, child);
    }
    this.broker = new MqttBroker(
      `${name}-broker`,
      {
        ...args.broker,
        ...naming,
        network: network.brokerNetwork,
        alias: BROKER_ALIAS,
        passwords: args.passwords,
        protect: args.protect,
        startInterval: startInterval(
          args.host,
          args.broker.healthStartInterval,
          Boolean(args.swarm),
          args.dockerTls,
        ),
        swarm: args.swarm && {
          constraints: args.swarm.brokerConstraints,
          endpointMode: args.swarm.endpointMode,
        },
      },
      child,
    );
    const declared = this.declareTunnel(name, args, naming);
    this.tunnel = declared.tunnel;
    this.token = declared.token;
    this.tunnelId = this.tunnel?.tunnelId;
    if (this.tunnel && host.tcpHostname) {
      this.clientKit = this.clientKitOf(args, this.tunnel, host.tcpHostname, naming);
    }
    if (declared.run)
      this.connector = this.declareConnectors(name, args, naming, network, declared.run);
    this.outputs = this.hostOutputs(args);
    this.registerOutputs({ outputs: this.outputs, clientKit: this.clientKit });
  }

  /** The Docker provider of this host: its endpoint and, for tcp://, TLS material. */
  private dockerProvider(name: string, host: HostConfig, args: EdgeHostArgs): docker.Provider {
    const tls = args.dockerTls ? pulumi.output(args.dockerTls) : undefined;
    return new docker.Provider(
      `${name}-docker`,
      {
        host: host.docker,
        certPath: host.certPath,
        caMaterial: tls?.caMaterial,
        certMaterial: tls?.certMaterial,
        keyMaterial: tls?.keyMaterial,
      },
      { parent: this, dependsOn: args.preflight },
    );
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
    const { tunnel: t, host } = args;
    if (t.mode === "managed") {
      if (!t.accountId) throw new pulumi.ResourceError("managed mode needs an account id", this);
      const route = (hostname: string) => this.route(args, hostname);
      const tunnel = new CloudflareTunnel(
        `${name}-tunnel`,
        {
          ...t,
          accountId: t.accountId,
          physicalName: naming.physicalName,
          mqttHostnames: host.hostnames.map(route),
          brokerService: brokerService(args.broker.websocketPort),
          tcpHostname: host.tcpHostname ? route(host.tcpHostname) : undefined,
          tcpService: host.tcpHostname ? `tcp://${BROKER_ALIAS}:${MQTT_TCP_PORT}` : undefined,
          httpHostnames: this.swarmProxy ? (args.swarm?.httpHostnames ?? []).map(route) : [],
          httpService: this.swarmProxy?.httpService,
          protect: args.protect,
          preflight: args.preflight,
          comment: `mqtt-edge stack ${args.stack}, host ${host.name}`,
        },
        { parent: this },
      );
      return { tunnel, token: tunnel.token, run: { kind: "token", token: tunnel.token } };
    }
    if (t.mode === "token" && args.tunnelToken !== undefined) {
      const token = pulumi.secret(args.tunnelToken);
      return { token, run: { kind: "token", token } };
    }
    if (t.mode === "quick") {
      const service = brokerService(args.broker.websocketPort);
      return { run: { kind: "quick", service, quickService: t.quickService } };
    }
    return {};
  }

  /** A public hostname with the zone its record goes into (config resolved it by name). */
  private route(args: EdgeHostArgs, hostname: string): TunnelHostname {
    const zoneName = args.tunnel.hostnameZones[hostname];
    const zone = zoneName === undefined ? undefined : args.zones?.[zoneName];
    if (zone === undefined) {
      throw new pulumi.ResourceError(`no zone declared for hostname "${hostname}"`, this);
    }
    return { hostname, zoneId: zone.id, zoneReady: zone.ready };
  }

  /**
   * The connectors: they do not wait for the broker (cloudflared dials the edge on its own and
   * reaches the origin per request, so both start at once: bench:up); in managed mode they wait
   * for the tunnel's routes.
   */
  private declareConnectors(
    name: string,
    args: EdgeHostArgs,
    naming: HostNaming,
    network: PrivateNetwork,
    run: ConnectorTunnel,
  ): TunnelConnector {
    return new TunnelConnector(
      `${name}-connector`,
      {
        ...args.tunnel,
        ...naming,
        tunnel: run,
        replicas: args.host.replicas,
        brokerNetwork: network.brokerNetwork,
        egressNetwork: network.egressNetwork,
        swarm: args.swarm && { constraints: [], endpointMode: args.swarm.endpointMode },
        extraNetworks: this.swarmProxy ? [this.swarmProxy.network] : [],
        replaceWith:
          this.tunnel && !args.swarm ? [this.tunnel.secret, this.tunnel.tunnel] : undefined,
      },
      {
        parent: this,
        provider: this.provider,
        // In managed mode after the routes, and before the tunnel's connection cleanup on delete.
        dependsOn: this.tunnel ? [this.tunnel.config, this.tunnel.cleanup] : [],
      },
    );
  }

  /**
   * managed mode with a TCP hostname: the client kit of the host (secret), from its tunnel's
   * Access service token and, with `broker.bridge`, the bridge user's password.
   */
  private clientKitOf(
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

  private hostOutputs(args: EdgeHostArgs): HostOutputs {
    const { host, tunnel: t } = args;
    const connectors = this.connector !== undefined;
    const local = args.broker.websocket?.publish;
    const metrics = connectors ? t.metrics?.publish : undefined;
    const websocketUrls = [
      ...(t.mode === "quick" || t.mode === "none" ? [] : host.hostnames.map((h) => `wss://${h}`)),
      ...(local ? [`ws://${local.ip}:${local.port}`] : []),
    ];
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
      ...(metrics && {
        metricsUrls: Array.from({ length: host.replicas }, (_, i) => {
          const p = metricsHostPort(metrics, i + 1);
          return `http://${p.ip}:${p.port}/metrics`;
        }),
      }),
      ...(t.mode === "managed" && host.tcpHostname && { tcpHostname: host.tcpHostname }),
      ...(this.tunnel?.accessExpiresAt && { accessTokenExpiresAt: this.tunnel.accessExpiresAt }),
      ...(this.tunnel?.tcpAccessExpiresAt && {
        tcpAccessTokenExpiresAt: this.tunnel.tcpAccessExpiresAt,
      }),
    };
  }
}
