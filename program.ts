import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { type ClientKit, type DeclaredZone, EdgeHost, type HostOutputs } from "./components";
import { type BrokerConfig, PROBE_TOPICS, type StackConfig, type TunnelConfig } from "./config";

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
  const { zones, preflight } =
    cfg.tunnel.mode === "managed" ? declareZones(cfg.tunnel) : { zones: {}, preflight: undefined };
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
 * managed mode: each zone the public hostnames are in (config resolved them to zone names),
 * declared once: its id (`tunnel.zoneId`, or a lookup by name), the preflight over all of them
 * and, with `manageZoneSettings`, its WebSockets setting. Keyed by zone name.
 */
function declareZones(tunnel: TunnelConfig): {
  zones: Record<string, DeclaredZone>;
  preflight: pulumi.Output<pulumi.Resource[]>;
} {
  const names = [...new Set(Object.values(tunnel.hostnameZones))];
  const ids = names.map((name) => ({
    name,
    id: tunnel.zoneId
      ? pulumi.output(tunnel.zoneId)
      : cloudflare.getZoneOutput({ filter: { name } }).id,
  }));
  const preflight = zonePreflight(ids, tunnel.manageZoneSettings);
  const zones: Record<string, DeclaredZone> = {};
  for (const { name, id } of ids) {
    zones[name] = {
      id,
      ready: tunnel.manageZoneSettings ? zoneWebsockets(name, id, preflight) : undefined,
    };
  }
  return { zones, preflight };
}

/**
 * The zone's WebSockets setting, declared on. retainOnDelete: the setting is the zone's, not
 * this stack's. Other hostnames of the zone (other stacks, other apps) may rely on it, so
 * removing the resource or destroying the stack leaves WebSockets on instead of resetting them.
 */
function zoneWebsockets(
  name: string,
  zoneId: pulumi.Output<string>,
  preflight: pulumi.Output<pulumi.Resource[]>,
): cloudflare.ZoneSetting {
  return new cloudflare.ZoneSetting(
    `zone-websockets-${name}`,
    { zoneId, settingId: "websockets", value: "on" },
    { retainOnDelete: true, dependsOn: preflight },
  );
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

interface Zone {
  name: string;
  id: pulumi.Output<string>;
}

/**
 * Reads what each zone must allow before anything is created: its `websockets` setting (MQTT
 * reaches the broker over WebSockets; with the setting off the edge refuses the upgrade) and Bot
 * Fight Mode (it challenges WebSocket clients, which cannot answer: cloudflared#324). WebSockets
 * off fails the deployment, naming the zones and the fix, unless `manageZoneSettings` declares
 * them on; Bot Fight Mode on only warns. The invokes run in `pulumi preview` too, so a preview
 * fails the same way. Resolves to no resource: it is for `dependsOn`.
 */
function zonePreflight(
  zones: Zone[],
  manageZoneSettings: boolean,
): pulumi.Output<pulumi.Resource[]> {
  const checks = zones.map((z) =>
    z.id.apply(async (id) => {
      const where = `zone ${z.name} (${id})`;
      let websockets: string | undefined;
      if (!manageZoneSettings) {
        const s = await cloudflare.getZoneSetting({ zoneId: id, settingId: "websockets" });
        websockets = String(s.value);
      }
      try {
        const bm = await cloudflare.getBotManagement({ zoneId: id });
        if (bm.fightMode) {
          void pulumi.log.warn(
            `${where}: Bot Fight Mode is on. It challenges MQTT clients on the WebSocket ` +
              "handshake, which they cannot answer, so connections through the tunnel may " +
              "fail (cloudflared#324). Turn it off in the Cloudflare dashboard under Security > " +
              "Bots, or skip the hostnames with a WAF custom rule.",
          );
        }
      } catch (e) {
        // A warning's worth of information: a token without Bot Management read access must not
        // stop the deployment.
        void pulumi.log.warn(
          `${where}: could not read Bot Fight Mode (GET /zones/${id}/bot_management): ` +
            `${e instanceof Error ? e.message : String(e)}`,
        );
      }
      return { where, websockets };
    }),
  );
  return pulumi.all(checks).apply((results) => {
    const off = results.filter((r) => r.websockets !== undefined && r.websockets !== "on");
    if (off.length > 0) {
      const message = off
        .map(
          (r) =>
            `${r.where}: WebSockets are ${r.websockets}, and MQTT clients reach the broker ` +
            "over WebSockets (wss://). Turn WebSockets on in the Cloudflare dashboard " +
            "(the zone > Network > WebSockets), or set `mqtt-edge:tunnel.manageZoneSettings: " +
            "true` to let this stack turn them on.",
        )
        .join("\n");
      // Logged on its own first: the rejection reaches the engine through every resource and
      // invoke that waits for the preflight, each wrapped in "error serializing property ...".
      void pulumi.log.error(message);
      throw new pulumi.RunError(message);
    }
    return [];
  });
}
