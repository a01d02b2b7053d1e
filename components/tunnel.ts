import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { TunnelConfig } from "../config";
import { TYPES } from "../shared/resourceTypes";
import { buildIngress } from "./render";
import { TunnelConnectionsCleanup, cloudflareCredentials } from "./tunnelCleanup";

/** Characters of the generated tunnel secret (alphanumeric, so ~5.95 bits each). */
const TUNNEL_SECRET_LENGTH = 48;

export interface TunnelHostname {
  /** The public hostname. */
  hostname: string;
  /** Zone the CNAME record goes into. */
  zoneId: pulumi.Input<string>;
  /** What must exist before the hostname is routed (the zone's WebSockets setting). Absent: none. */
  zoneReady?: pulumi.Resource;
}

/**
 * The keys of `mqtt-edge:tunnel` the tunnel reads, as the config states them (defaults and their
 * reasons: config/defaults.ts): `secretVersion` (changing it generates a new tunnel secret, set
 * in place: a new token), `access` (a Cloudflare Access service token on the MQTT hostnames),
 * `accessTokenDuration` and `accessSecret` (the service tokens' lifetime and secret rotation).
 */
type TunnelSlice = Pick<
  TunnelConfig,
  "secretVersion" | "access" | "accessTokenDuration" | "accessSecret"
>;

export interface CloudflareTunnelArgs extends TunnelSlice {
  /** Cloudflare account id (`tunnel.accountId`). */
  readonly accountId: string;
  /** Tunnel name prefix; unique per stack and host so stacks never collide in one account. */
  readonly physicalName: string;
  /** Public MQTT hostnames, each routed to `brokerService`; at least one. */
  readonly mqttHostnames: TunnelHostname[];
  /** Origin the MQTT hostnames route to, e.g. http://mosquitto:9001. */
  readonly brokerService: string;
  /**
   * Public hostname of native MQTT over TCP, routed to `tcpService` and guarded by an Access
   * application that admits a service token of its own and nothing else. Absent: no TCP route
   * (config `tunnel.tcpHostname`, default none).
   */
  readonly tcpHostname?: TunnelHostname;
  /** Origin of `tcpHostname`, e.g. tcp://mosquitto:1883; needed with a `tcpHostname`. */
  readonly tcpService?: string;
  /** Public HTTP hostnames routed to `httpService` (the swarm proxy). May be empty. */
  readonly httpHostnames: TunnelHostname[];
  /** Origin of the HTTP hostnames; needed when there are any. */
  readonly httpService?: string;
  /** Protect the tunnel and DNS records from deletion (`mqtt-edge:protect`). */
  readonly protect?: boolean;
  /** What the tunnel's resources wait for (the zone preflight): none is created if it fails. */
  readonly preflight?: pulumi.Input<pulumi.Resource[]>;
  /** Text put in the DNS record comments. Absent: no comment. */
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
  /** The tunnel secret: connectors are replaced whenever it is (their token changes). */
  public readonly secret: random.RandomPassword;
  public readonly tunnel: cloudflare.ZeroTrustTunnelCloudflared;
  /**
   * Clears the tunnel's connection records before the tunnel is deleted; the connectors depend
   * on it, so it goes after them (tunnelCleanup.ts).
   */
  public readonly cleanup: TunnelConnectionsCleanup;
  /** The resource the connectors must wait for: routes exist before they connect. */
  public readonly config: cloudflare.ZeroTrustTunnelCloudflaredConfig;
  public readonly dnsRecords: cloudflare.DnsRecord[];
  /** Access service token credentials (secret) when access is on. */
  public readonly accessClientId?: pulumi.Output<string>;
  public readonly accessClientSecret?: pulumi.Output<string>;
  /** When the MQTT hostnames' service token expires (RFC 3339), with access only. */
  public readonly accessExpiresAt?: pulumi.Output<string>;
  /** When the TCP hostname's service token expires, with `tcpHostname` only. */
  public readonly tcpAccessExpiresAt?: pulumi.Output<string>;
  /** The TCP hostname's service token (the secret is secret), with `tcpHostname` only. */
  public readonly tcpAccessClientId?: pulumi.Output<string>;
  public readonly tcpAccessClientSecret?: pulumi.Output<string>;

  constructor(name: string, args: CloudflareTunnelArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.tunnelComponent, name, {}, opts);
    if (args.mqttHostnames.length === 0) {
      throw new pulumi.ResourceError("a managed tunnel needs at least one hostname", this);
    }
    this.secret = this.tunnelSecret(name, args);
    this.tunnel = this.declareTunnel(name, args, this.secret);
    this.tunnelId = this.tunnel.id;
    this.cname = pulumi.interpolate`${this.tunnel.id}.cfargotunnel.com`;
    this.cleanup = new TunnelConnectionsCleanup(
      `${name}-connections`,
      { accountId: args.accountId, tunnelId: this.tunnel.id, ...cloudflareCredentials() },
      { parent: this, dependsOn: [this.tunnel] },
    );
    const routes = this.declareRoutes(name, args);
    this.config = routes.config;
    this.dnsRecords = routes.dnsRecords;

    // The provider returns the token as plain text (pulumi-terraform-bridge#1051). dependsOn:
    // the token is read after the tunnel's secret is set (its id alone does not change on
    // rotation), and a preview that changes the tunnel shows the token as unknown.
    this.token = pulumi.secret(
      cloudflare.getZeroTrustTunnelCloudflaredTokenOutput(
        { accountId: args.accountId, tunnelId: this.tunnel.id },
        { parent: this, dependsOn: [this.tunnel] },
      ).token,
    );

    if (args.access) {
      const token = this.serviceTokenAccess(name, args, {
        role: "access",
        suffix: "mqtt",
        hostnames: args.mqttHostnames.map((h) => h.hostname),
      });
      this.accessClientId = token.clientId;
      this.accessClientSecret = token.clientSecret;
      this.accessExpiresAt = token.expiresAt;
    }
    if (args.tcpHostname) {
      // Always behind Access: the TCP route is native MQTT for clients that run `cloudflared
      // access tcp`, and only holders of this service token get through the edge.
      const token = this.serviceTokenAccess(name, args, {
        role: "tcp-access",
        suffix: "mqtt-tcp",
        hostnames: [args.tcpHostname.hostname],
      });
      this.tcpAccessClientId = token.clientId;
      this.tcpAccessClientSecret = token.clientSecret;
      this.tcpAccessExpiresAt = token.expiresAt;
    }

    this.registerOutputs({
      tunnelId: this.tunnelId,
      token: this.token,
      cname: this.cname,
      accessClientId: this.accessClientId,
      accessClientSecret: this.accessClientSecret,
      tcpAccessClientId: this.tcpAccessClientId,
      tcpAccessClientSecret: this.tcpAccessClientSecret,
    });
  }

  /**
   * A RandomPassword, not a RandomBytes: random 4.21's RandomBytes uses its base64 value as the
   * resource id, and ids are stored (and shown) in plain text. The tunnel secret is the bytes of
   * 48 random alphanumerics (~285 bits), base64-encoded as the API wants (>= 32 bytes).
   */
  private tunnelSecret(name: string, args: CloudflareTunnelArgs): random.RandomPassword {
    return new random.RandomPassword(
      `${name}-secret`,
      { length: TUNNEL_SECRET_LENGTH, special: false, keepers: { version: args.secretVersion } },
      { parent: this, dependsOn: args.preflight },
    );
  }

  private declareTunnel(
    name: string,
    args: CloudflareTunnelArgs,
    secret: random.RandomPassword,
  ): cloudflare.ZeroTrustTunnelCloudflared {
    return new cloudflare.ZeroTrustTunnelCloudflared(
      `${name}-tunnel`,
      {
        accountId: args.accountId,
        // The version is in the name so the dashboard tells which secret a tunnel runs with.
        // A new secret is set in place (same tunnel id and DNS records, a new token).
        name: `${args.physicalName}-v${args.secretVersion}`,
        configSrc: "cloudflare",
        tunnelSecret: secret.result.apply((s) => Buffer.from(s, "utf8").toString("base64")),
      },
      {
        parent: this,
        protect: args.protect,
        additionalSecretOutputs: ["tunnelSecret"],
        dependsOn: args.preflight,
        // A tunnel's name is unique among the account's tunnels (409, code 1013 "You already
        // have a tunnel with this name": pulumi/pulumi-cloudflare#1440), and a replacement keeps
        // the name: created first, it was refused. Deleted first, it goes after what depends on
        // it (the connectors, then the connection cleanup), and the new one starts clean.
        deleteBeforeReplace: true,
      },
    );
  }

  /**
   * The tunnel's ingress rules, and one proxied CNAME per public hostname; both wait for the
   * zones' WebSockets settings where the stack manages them.
   */
  private declareRoutes(
    name: string,
    args: CloudflareTunnelArgs,
  ): { config: cloudflare.ZeroTrustTunnelCloudflaredConfig; dnsRecords: cloudflare.DnsRecord[] } {
    const ingress = buildIngress({
      ...args,
      mqttHostnames: args.mqttHostnames.map((h) => h.hostname),
      tcpHostname: args.tcpHostname?.hostname,
      httpHostnames: args.httpHostnames.map((h) => h.hostname),
    });
    const allHostnames = [
      ...args.mqttHostnames,
      ...(args.tcpHostname ? [args.tcpHostname] : []),
      ...args.httpHostnames,
    ];
    const zonesReady = [
      ...new Set(allHostnames.flatMap((h) => (h.zoneReady ? [h.zoneReady] : []))),
    ];
    const config = new cloudflare.ZeroTrustTunnelCloudflaredConfig(
      `${name}-config`,
      { accountId: args.accountId, tunnelId: this.tunnel.id, config: { ingresses: ingress } },
      { parent: this, dependsOn: zonesReady },
    );
    const dnsRecords = allHostnames.map(
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
          {
            parent: this,
            protect: args.protect,
            deleteBeforeReplace: true,
            dependsOn: h.zoneReady ? [h.zoneReady] : [],
          },
        ),
    );
    return { config, dnsRecords };
  }

  /**
   * A self-hosted Access application over `hostnames` whose one policy admits a service token of
   * its own (`non_identity`: no person can log in). Returns the token's id and secret (secret).
   */
  private serviceTokenAccess(
    name: string,
    args: CloudflareTunnelArgs,
    o: { role: string; suffix: string; hostnames: string[] },
  ): {
    clientId: pulumi.Output<string>;
    clientSecret: pulumi.Output<string>;
    expiresAt: pulumi.Output<string>;
  } {
    const tokenName = `${args.physicalName}-${o.suffix}-client`;
    const serviceToken = new cloudflare.ZeroTrustAccessServiceToken(
      `${name}-${o.role}-token`,
      {
        accountId: args.accountId,
        name: tokenName,
        duration: args.accessTokenDuration,
        // Raising the version rotates the secret in place (same client id); the previous one is
        // accepted until previousClientSecretExpiresAt (Cloudflare's rotation with overlap).
        clientSecretVersion: args.accessSecret?.version,
        previousClientSecretExpiresAt: args.accessSecret?.previousValidUntil,
      },
      { parent: this, additionalSecretOutputs: ["clientSecret"], dependsOn: args.preflight },
    );
    // Warned from the output the stack exports, so the program waits for the warning.
    const expiresAt = serviceToken.expiresAt.apply((at) => {
      const warning = expiryWarning(tokenName, at);
      if (warning) void pulumi.log.warn(warning, serviceToken);
      return at;
    });
    const policy = new cloudflare.ZeroTrustAccessPolicy(
      `${name}-${o.role}-policy`,
      {
        accountId: args.accountId,
        name: `${args.physicalName}-${o.suffix}-clients`,
        decision: "non_identity",
        includes: [{ serviceToken: { tokenId: serviceToken.id } }],
      },
      { parent: this },
    );
    new cloudflare.ZeroTrustAccessApplication(
      `${name}-${o.role}-app`,
      {
        accountId: args.accountId,
        name: `${args.physicalName}-${o.suffix}`,
        type: "self_hosted",
        domain: o.hostnames[0],
        selfHostedDomains: o.hostnames,
        policies: [{ id: policy.id, precedence: 1 }],
        sessionDuration: "24h",
      },
      { parent: this },
    );
    return {
      clientId: serviceToken.clientId,
      clientSecret: pulumi.secret(serviceToken.clientSecret),
      expiresAt,
    };
  }
}

/** How long before a service token expires `preview` and `up` warn. */
export const EXPIRY_WARNING_DAYS = 30;

/**
 * The warning for a service token that expires within EXPIRY_WARNING_DAYS (or has), else
 * undefined: on that day every client holding it gets 403 from Cloudflare Access
 * (terraform-provider-cloudflare#2462). Logged when the expiry is known: from the state in a
 * preview, after create or update in `up`.
 */
export function expiryWarning(
  tokenName: string,
  expiresAt: string | undefined,
  now = Date.now(),
): string | undefined {
  const at = expiresAt ? Date.parse(expiresAt) : NaN;
  if (Number.isNaN(at)) return undefined;
  const days = Math.floor((at - now) / 86_400_000);
  if (days >= EXPIRY_WARNING_DAYS) return undefined;
  return (
    `Access service token ${tokenName} ${days < 0 ? "expired" : `expires in ${days} days`} ` +
    `(${expiresAt}); its clients are refused from then on. Extend it (Cloudflare dashboard: ` +
    "Access > Service Auth > the token > Refresh), or replace it for a new client id and " +
    'secret (README, "Access service tokens expire").'
  );
}
