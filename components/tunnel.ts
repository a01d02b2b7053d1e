import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { buildIngress } from "./render";

export interface TunnelHostname {
  hostname: string;
  /** Zone the CNAME record goes into. */
  zoneId: pulumi.Input<string>;
}

export interface CloudflareTunnelArgs {
  readonly accountId: string;
  /** Tunnel name prefix; unique per stack and host so stacks never collide in one account. */
  readonly physicalName: string;
  /** Public MQTT hostnames, each routed to `brokerService`. */
  readonly mqttHostnames: TunnelHostname[];
  /** Origin the MQTT hostnames route to, e.g. http://mosquitto:9001. */
  readonly brokerService: string;
  /** Public HTTP hostnames routed to `httpService` (the swarm proxy). */
  readonly httpHostnames?: TunnelHostname[];
  readonly httpService?: string;
  /** Changing it generates a new tunnel secret (a new tunnel, a new token). Default "1". */
  readonly secretVersion?: string;
  /** Require a Cloudflare Access service token on the MQTT hostnames. Default false. */
  readonly access?: boolean;
  /** Protect the tunnel and DNS records from deletion. */
  readonly protect?: boolean;
  /** Text put in the DNS record comments. */
  readonly comment?: string;
}

/**
 * A remotely managed Cloudflare Tunnel: its secret, the tunnel, its ingress configuration, one
 * proxied CNAME per hostname and, optionally, Access protection with a service token.
 */
export class CloudflareTunnel extends pulumi.ComponentResource {
  public readonly tunnelId: pulumi.Output<string>;
  /** The connector token; secret. */
  public readonly token: pulumi.Output<string>;
  /** `<tunnel id>.cfargotunnel.com`, what the DNS records point at. */
  public readonly cname: pulumi.Output<string>;
  /** The resource the connectors must wait for: routes exist before they connect. */
  public readonly config: cloudflare.ZeroTrustTunnelCloudflaredConfig;
  public readonly dnsRecords: cloudflare.DnsRecord[];
  /** Access service token credentials (secret) when access is on. */
  public readonly accessClientId?: pulumi.Output<string>;
  public readonly accessClientSecret?: pulumi.Output<string>;

  constructor(name: string, args: CloudflareTunnelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mqtt-edge:tunnel:CloudflareTunnel", name, {}, opts);
    if (args.mqttHostnames.length === 0) {
      throw new pulumi.ResourceError("a managed tunnel needs at least one hostname", this);
    }
    const version = args.secretVersion ?? "1";
    const secret = new random.RandomBytes(
      `${name}-secret`,
      { length: 32, keepers: { version } },
      { parent: this },
    );
    const tunnel = new cloudflare.ZeroTrustTunnelCloudflared(
      `${name}-tunnel`,
      {
        accountId: args.accountId,
        // The version is in the name: a rotated tunnel is created before the old one is deleted,
        // and Cloudflare refuses two live tunnels with one name.
        name: `${args.physicalName}-v${version}`,
        configSrc: "cloudflare",
        tunnelSecret: secret.base64,
      },
      { parent: this, protect: args.protect, additionalSecretOutputs: ["tunnelSecret"] },
    );
    this.tunnelId = tunnel.id;
    this.cname = pulumi.interpolate`${tunnel.id}.cfargotunnel.com`;

    const ingress = buildIngress({
      mqttHostnames: args.mqttHostnames.map((h) => h.hostname),
      brokerService: args.brokerService,
      httpHostnames: args.httpHostnames?.map((h) => h.hostname),
      httpService: args.httpService,
    });
    this.config = new cloudflare.ZeroTrustTunnelCloudflaredConfig(
      `${name}-config`,
      { accountId: args.accountId, tunnelId: tunnel.id, config: { ingresses: ingress } },
      { parent: this },
    );

    this.dnsRecords = [...args.mqttHostnames, ...(args.httpHostnames ?? [])].map(
      (h) =>
        new cloudflare.DnsRecord(
          `${name}-dns-${h.hostname}`,
          {
            zoneId: h.zoneId,
            name: h.hostname,
            type: "CNAME",
            content: this.cname,
            proxied: true,
            ttl: 1,
            comment: args.comment,
          },
          { parent: this, protect: args.protect, deleteBeforeReplace: true },
        ),
    );

    // The provider returns the token as plain text (pulumi-terraform-bridge#1051).
    this.token = pulumi.secret(
      cloudflare.getZeroTrustTunnelCloudflaredTokenOutput(
        { accountId: args.accountId, tunnelId: tunnel.id },
        { parent: this },
      ).token,
    );

    if (args.access) {
      const serviceToken = new cloudflare.ZeroTrustAccessServiceToken(
        `${name}-access-token`,
        { accountId: args.accountId, name: `${args.physicalName}-mqtt-client`, duration: "8760h" },
        { parent: this, additionalSecretOutputs: ["clientSecret"] },
      );
      const policy = new cloudflare.ZeroTrustAccessPolicy(
        `${name}-access-policy`,
        {
          accountId: args.accountId,
          name: `${args.physicalName}-mqtt-clients`,
          decision: "non_identity",
          includes: [{ serviceToken: { tokenId: serviceToken.id } }],
        },
        { parent: this },
      );
      new cloudflare.ZeroTrustAccessApplication(
        `${name}-access-app`,
        {
          accountId: args.accountId,
          name: `${args.physicalName}-mqtt`,
          type: "self_hosted",
          domain: args.mqttHostnames[0].hostname,
          selfHostedDomains: args.mqttHostnames.map((h) => h.hostname),
          policies: [{ id: policy.id, precedence: 1 }],
          sessionDuration: "24h",
        },
        { parent: this },
      );
      this.accessClientId = serviceToken.clientId;
      this.accessClientSecret = pulumi.secret(serviceToken.clientSecret);
    }

    this.registerOutputs({
      tunnelId: this.tunnelId,
      token: this.token,
      cname: this.cname,
      accessClientId: this.accessClientId,
      accessClientSecret: this.accessClientSecret,
    });
  }
}
