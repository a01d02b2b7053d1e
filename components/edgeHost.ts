import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { BrokerConfig, DockerTls, HostConfig, SwarmConfig, TunnelConfig } from "../config";
import { MqttBroker } from "./broker";
import { TunnelConnector, metricsHostPort } from "./connector";
import { stackLabels } from "./hardening";
import { PrivateNetwork } from "./network";
import { SwarmProxy } from "./swarmProxy";
import { type ClientKit, MQTT_TCP_PORT, renderClientKit } from "./render";
import { CloudflareTunnel, type TunnelHostname } from "./tunnel";

export interface EdgeHostArgs {
  readonly project: string;
  readonly stack: string;
  readonly host: HostConfig;
  readonly tunnel: TunnelConfig;
  readonly broker: BrokerConfig;
  /** Generated password per MQTT user (secret), shared by every host of the stack. */
  readonly passwords: Record<string, pulumi.Input<string>>;
  /** token mode: the token of a tunnel made elsewhere (secret). */
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
  /** TLS material for a tcp:// Docker endpoint (secret). */
  readonly dockerTls?: pulumi.Input<DockerTls>;
  readonly protect?: boolean;
  /** Swarm mode: broker and connectors as services, plus the frontend proxy stack. */
  readonly swarm?: SwarmConfig;
}

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
  public readonly token?: pulumi.Output<string>;
  public readonly summary: pulumi.Output<EdgeHostSummary>;
  /**
   * With a TCP hostname: what a client needs for native MQTT through the tunnel (the
   * `cloudflared access tcp` command, its token, a compose file and the bridge block); secret.
   */
  public readonly clientKit?: pulumi.Output<ClientKit>;
  /** The host's name in the stack config. */
  public readonly hostName: string;

  constructor(name: string, args: EdgeHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mqtt-edge:host:EdgeHost", name, {}, opts);
    const { host, tunnel: t, broker: b } = args;
    this.hostName = host.name;
    const physicalName = `${args.project}-${args.stack}-${host.name}`;
    const labels = stackLabels(args.project, args.stack, host.name);

    if (t.mode === "token" && args.tunnelToken === undefined) {
      throw new pulumi.ResourceError("token mode needs a tunnel token", this);
    }
    if (t.mode === "managed" && !t.accountId) {
      throw new pulumi.ResourceError("managed mode needs an account id", this);
    }

    this.provider = new docker.Provider(
      `${name}-docker`,
      {
        host: host.docker,
        certPath: host.certPath,
        caMaterial: args.dockerTls ? pulumi.output(args.dockerTls).caMaterial : undefined,
        certMaterial: args.dockerTls ? pulumi.output(args.dockerTls).certMaterial : undefined,
        keyMaterial: args.dockerTls ? pulumi.output(args.dockerTls).keyMaterial : undefined,
      },
      { parent: this, dependsOn: args.preflight },
    );
    const child = { parent: this, provider: this.provider };

    const swarm = args.swarm;
    const network = new PrivateNetwork(
      `${name}-net`,
      { physicalName, labels, swarm: !!swarm },
      child,
    );
    if (swarm) {
      this.swarmProxy = new SwarmProxy(
        `${name}-frontend`,
        {
          physicalName,
          proxy: swarm.proxy,
          network: swarm.network,
          proxyReplicas: swarm.proxyReplicas,
          letsencrypt: swarm.letsencrypt,
          images: swarm.images,
          httpPort: swarm.ports.http,
          httpsPort: swarm.ports.https,
          endpointMode: swarm.endpointMode,
          dockerSocket: swarm.dockerSocket,
          labels,
        },
        child,
      );
    }

    this.broker = new MqttBroker(
      `${name}-broker`,
      {
        image: b.image,
        physicalName,
        network: network.brokerNetwork,
        websocketPort: b.websocketPort,
        allowAnonymous: b.allowAnonymous,
        anonymousAcl: b.anonymousAcl,
        users: b.users,
        passwords: args.passwords,
        patterns: b.patterns,
        persistence: b.persistence,
        maxConnections: b.maxConnections,
        messageSizeLimit: b.messageSizeLimit,
        maxKeepalive: b.maxKeepalive,
        monitorUser: b.monitorUser,
        memoryMb: b.memoryMb,
        tcpPublish: b.tcp?.publish,
        websocketPublish: b.websocket?.publish,
        protect: args.protect,
        labels,
        swarm: swarm
          ? { constraints: swarm.brokerConstraints, endpointMode: swarm.endpointMode }
          : undefined,
      },
      child,
    );
    const brokerService = `http://mosquitto:${b.websocketPort}`;

    let connectorTunnel: ConstructorParameters<typeof TunnelConnector>[1]["tunnel"] | undefined;
    // Connectors do not wait for the broker: cloudflared dials the edge on its own and reaches
    // the origin per request, so both start at once (bench:up); in managed mode they wait for
    // the tunnel's routes.
    let dependsOn: pulumi.Resource[] = [];
    if (t.mode === "managed") {
      const withZone = (hostname: string): TunnelHostname => {
        const zoneId = args.zoneIds?.[hostname];
        if (zoneId === undefined) {
          throw new pulumi.ResourceError(`no zone id for hostname "${hostname}"`, this);
        }
        return { hostname, zoneId, zoneReady: args.zoneSettings?.[hostname] };
      };
      const hostnames = host.hostnames.map(withZone);
      const tcpHostname = host.tcpHostname ? withZone(host.tcpHostname) : undefined;
      const httpHostnames = this.swarmProxy ? (swarm?.httpHostnames ?? []).map(withZone) : [];
      this.tunnel = new CloudflareTunnel(
        `${name}-tunnel`,
        {
          accountId: t.accountId!,
          physicalName,
          mqttHostnames: hostnames,
          brokerService,
          tcpHostname,
          tcpService: `tcp://mosquitto:${MQTT_TCP_PORT}`,
          httpHostnames,
          httpService: this.swarmProxy?.httpService,
          secretVersion: t.secretVersion,
          access: t.access,
          protect: args.protect,
          preflight: args.preflight,
          comment: `mqtt-edge stack ${args.stack}, host ${host.name}`,
        },
        { parent: this },
      );
      this.tunnelId = this.tunnel.tunnelId;
      this.token = this.tunnel.token;
      if (tcpHostname) this.clientKit = this.kit(args, tcpHostname.hostname, physicalName);
      connectorTunnel = { kind: "token", token: this.tunnel.token };
      dependsOn = [this.tunnel.config];
    } else if (t.mode === "token") {
      this.token = pulumi.secret(args.tunnelToken!);
      connectorTunnel = { kind: "token", token: this.token };
    } else if (t.mode === "quick") {
      connectorTunnel = { kind: "quick", service: brokerService, quickService: t.quickService };
    }

    if (connectorTunnel) {
      this.connector = new TunnelConnector(
        `${name}-connector`,
        {
          image: t.image,
          physicalName,
          tunnel: connectorTunnel,
          replicas: host.replicas,
          brokerNetwork: network.brokerNetwork,
          egressNetwork: network.egressNetwork,
          edge: t.edge,
          metricsPublish: t.metrics?.publish,
          labels,
          swarm: swarm ? { constraints: [], endpointMode: swarm.endpointMode } : undefined,
          extraNetworks: this.swarmProxy ? [this.swarmProxy.network] : undefined,
          replaceWith: this.tunnel && !swarm ? [this.tunnel.secret, this.tunnel.tunnel] : undefined,
        },
        { ...child, dependsOn },
      );
    }

    this.websocketUrls =
      t.mode === "quick" || t.mode === "none" ? [] : host.hostnames.map((h) => `wss://${h}`);
    const local = b.websocket?.publish;
    const metrics = connectorTunnel ? t.metrics?.publish : undefined;
    this.summary = pulumi.output({
      name: host.name,
      docker: host.docker ?? "DOCKER_HOST or the local socket",
      mode: t.mode,
      websocketUrls: local
        ? [...this.websocketUrls, `ws://${local.ip}:${local.port}`]
        : this.websocketUrls,
      tunnelId: this.tunnelId,
      connectors: connectorTunnel ? host.replicas : 0,
      broker: this.broker.containerName,
      ...(metrics && {
        metricsUrls: Array.from({ length: host.replicas }, (_, i) => {
          const p = metricsHostPort(metrics, i + 1);
          return `http://${p.ip}:${p.port}/metrics`;
        }),
      }),
    });
    this.registerOutputs({ summary: this.summary, token: this.token, clientKit: this.clientKit });
  }

  private kit(args: EdgeHostArgs, hostname: string, connectionName: string) {
    const bridge = args.broker.bridge;
    return pulumi.secret(
      pulumi
        .all([
          this.tunnel!.tcpAccessClientId!,
          this.tunnel!.tcpAccessClientSecret!,
          bridge ? args.passwords[bridge.user] : "",
        ])
        .apply(([clientId, clientSecret, password]) =>
          renderClientKit({
            hostname,
            image: args.tunnel.image,
            serviceToken: { clientId, clientSecret },
            bridge: bridge && {
              connectionName,
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
}
