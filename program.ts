import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { type ClientKit, EdgeHost, type HostOutputs } from "./components";
import { type BrokerConfig, PROBE_TOPICS, type StackConfig } from "./config";
import { enginePreflight } from "./engines";
import { declareZones } from "./zones";

export interface StackOutputs {
  /** The first host's client URL (kept from before `hosts` had one per host). */
  websocketUrl: pulumi.Output<string | undefined>;
  /** The first host's tunnel id (managed mode). */
  tunnelId?: pulumi.Output<string>;
  /** The first host's connector token; secret. */
  tunnelToken?: pulumi.Output<string>;
  mqttCredentials: pulumi.Output<Record<string, string>>;
  /** Per host, by host name: URLs, tunnel, connector token (secret), broker, metrics URLs. */
  hosts: Record<string, HostOutputs>;
  /** Access service token per host (managed mode with access: true); secret. */
  accessTokens?: pulumi.Output<Record<string, { clientId: string; clientSecret: string }>>;
  /** Per host with a TCP hostname: the native-MQTT client kit; secret. */
  clientKits?: pulumi.Output<Record<string, ClientKit>>;
  /** broker.probeUser: the user `npm run probe` connects as and its topic tree. */
  probe?: { user: string; topics: string };
  edgeHosts: EdgeHost[];
}

/** Declares the whole stack from a validated config. */
export function deployStack(cfg: StackConfig): StackOutputs {
  const { zones, preflight: zonePreflight } =
    cfg.tunnel.mode === "managed"
      ? declareZones(cfg.tunnel, cfg.tunnel.access || cfg.hosts.some((h) => h.tcpHostname))
      : { zones: {}, preflight: undefined };
  // Both preflights gate every resource: the zones' (Cloudflare) and the engines' (Docker).
  const enginesPreflight = enginePreflight(cfg.hosts, cfg.swarm?.proxy, cfg.dockerTls);
  const preflight =
    zonePreflight && enginesPreflight
      ? pulumi.all([zonePreflight, enginesPreflight]).apply((): pulumi.Resource[] => [])
      : (zonePreflight ?? enginesPreflight);
  const passwords = declarePasswords(cfg.broker, preflight);
  const edgeHosts = cfg.hosts.map(
    (host) =>
      new EdgeHost(host.name, {
        ...cfg,
        host,
        passwords,
        zones,
        preflight,
        dockerTls: cfg.dockerTls[host.name],
      }),
  );

  const first = edgeHosts[0];
  return {
    websocketUrl: pulumi.output(first.outputs.websocketUrl),
    tunnelId: first.tunnelId,
    tunnelToken: first.token ? pulumi.secret(first.token) : undefined,
    mqttCredentials: pulumi.secret(pulumi.output(passwords)),
    hosts: Object.fromEntries(edgeHosts.map((h) => [h.hostName, h.outputs])),
    accessTokens: secretPerHost(edgeHosts, (h) =>
      h.tunnel?.accessClientId
        ? pulumi
            .all([h.tunnel.accessClientId, h.tunnel.accessClientSecret!])
            .apply(([clientId, clientSecret]) => ({ clientId, clientSecret }))
        : undefined,
    ),
    clientKits: secretPerHost(edgeHosts, (h) => h.clientKit),
    // Whom `npm run probe` connects as, and where; its password is in mqttCredentials.
    probe: cfg.broker.probeUser
      ? { user: cfg.broker.probeUser, topics: `${PROBE_TOPICS}/#` }
      : undefined,
    edgeHosts,
  };
}

/**
 * One password per MQTT user (the monitor user too) for the whole stack: clients use the same
 * credentials on any host. A user's passwordVersion is the keeper of that password alone:
 * changing it replaces this one RandomPassword (a new password), and the broker reloads the
 * password file in place. Users without one have no keepers, as before the key existed, so no
 * password changes on upgrade.
 */
function declarePasswords(
  broker: BrokerConfig,
  preflight: pulumi.Input<pulumi.Resource[]> | undefined,
): Record<string, pulumi.Output<string>> {
  const users: { name: string; passwordVersion?: string }[] = [...broker.users];
  if (broker.monitorUser) users.push({ name: broker.monitorUser });
  const passwords: Record<string, pulumi.Output<string>> = {};
  for (const { name, passwordVersion } of users) {
    passwords[name] = new random.RandomPassword(
      `mqtt-password-${name}`,
      {
        length: 32,
        special: false,
        ...(passwordVersion === undefined ? {} : { keepers: { passwordVersion } }),
      },
      { dependsOn: preflight },
    ).result;
  }
  return passwords;
}

/**
 * A secret map, host name -> `pick(host)`, over the hosts where `pick` gives a value; undefined
 * when no host has one (the output is then left out).
 */
function secretPerHost<T>(
  hosts: EdgeHost[],
  pick: (h: EdgeHost) => pulumi.Output<T> | undefined,
): pulumi.Output<Record<string, T>> | undefined {
  const entries = hosts.flatMap((h) => {
    const v = pick(h);
    return v === undefined ? [] : [{ host: h.hostName, value: v }];
  });
  if (entries.length === 0) return undefined;
  const map = pulumi
    .all(entries.map((e) => e.value))
    .apply((vs) => Object.fromEntries(vs.map((v, i) => [entries[i].host, v])));
  // The values are already plain (unwrapped): only the SDK's generic typing needs the cast.
  return pulumi.secret(map) as pulumi.Output<Record<string, T>>;
}
