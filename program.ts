import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { EdgeHost } from "./components";
import { type StackConfig, zoneFor } from "./config";

export interface StackOutputs {
  websocketUrl: pulumi.Output<string | undefined>;
  tunnelId?: pulumi.Output<string>;
  tunnelToken?: pulumi.Output<string>;
  mqttCredentials: pulumi.Output<Record<string, string>>;
  hosts: pulumi.Output<unknown>[];
  /** Access service token per host (managed mode with access: true); secret. */
  accessTokens?: pulumi.Output<Record<string, { clientId: string; clientSecret: string }>>;
  edgeHosts: EdgeHost[];
}

/** Declares the whole stack from a validated config. */
export function deployStack(cfg: StackConfig): StackOutputs {
  // One password per MQTT user (the monitor user too) for the whole stack: clients use the same
  // credentials on any host.
  const passwords: Record<string, pulumi.Output<string>> = {};
  const userNames = cfg.broker.users.map((u) => u.name);
  if (cfg.broker.monitorUser) userNames.push(cfg.broker.monitorUser);
  for (const name of userNames) {
    passwords[name] = new random.RandomPassword(`mqtt-password-${name}`, {
      length: 32,
      special: false,
    }).result;
  }

  const zoneIds: Record<string, pulumi.Output<string>> = {};
  if (cfg.tunnel.mode === "managed") {
    // One lookup per zone, shared by every host.
    const byZone = new Map<string, pulumi.Output<string>>();
    const lookup = (zone: string) => {
      let id = byZone.get(zone);
      if (!id) {
        id = cfg.tunnel.zoneId
          ? pulumi.output(cfg.tunnel.zoneId)
          : cloudflare.getZoneOutput({ filter: { name: zone } }).id;
        byZone.set(zone, id);
      }
      return id;
    };
    for (const host of cfg.hosts) {
      for (const hostname of host.hostnames) {
        zoneIds[hostname] = lookup(host.zone ?? zoneFor(hostname, cfg.tunnel.zones)!);
      }
    }
    for (const hostname of cfg.swarm?.httpHostnames ?? []) {
      zoneIds[hostname] = lookup(zoneFor(hostname, cfg.tunnel.zones)!);
    }
  }

  const edgeHosts = cfg.hosts.map(
    (host) =>
      new EdgeHost(host.name, {
        project: cfg.project,
        stack: cfg.stack,
        host,
        tunnel: cfg.tunnel,
        broker: cfg.broker,
        passwords,
        tunnelToken: cfg.tunnelToken,
        zoneIds,
        dockerTls: cfg.dockerTls[host.name],
        protect: cfg.protect,
        swarm: cfg.swarm,
      }),
  );

  const first = edgeHosts[0];
  const withAccess = edgeHosts.filter((h) => h.tunnel?.accessClientId);
  return {
    websocketUrl: first.summary.apply((s) => s.websocketUrls[0]),
    tunnelId: first.tunnelId,
    tunnelToken: first.token ? pulumi.secret(first.token) : undefined,
    mqttCredentials: pulumi.secret(pulumi.output(passwords)),
    hosts: edgeHosts.map((h) => h.summary),
    accessTokens: withAccess.length
      ? pulumi.secret(
          pulumi
            .all(
              withAccess.map((h) =>
                pulumi.all([h.tunnel!.accessClientId!, h.tunnel!.accessClientSecret!]),
              ),
            )
            .apply((pairs) =>
              Object.fromEntries(
                pairs.map(([clientId, clientSecret], i) => [
                  withAccess[i].hostName,
                  { clientId, clientSecret },
                ]),
              ),
            ),
        )
      : undefined,
    edgeHosts,
  };
}
