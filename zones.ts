/**
 * managed mode: the zones of the public hostnames, declared once per zone name, and the preflight
 * that every Cloudflare and Docker resource waits for. The preflight runs in `pulumi preview` as
 * in `up` (its reads are invokes), so a stack that cannot deploy fails before anything is made.
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { DeclaredZone } from "./components";
import type { TunnelConfig } from "./config";
import { passOrFail } from "./engines";
import { PERMISSIONS, type Permission } from "./shared/cloudflarePermissions";

/** What the preflight learnt of one zone. */
interface ZoneFacts {
  name: string;
  /** The zone's id in `tunnel.accountId`; absent when it is not usable there. */
  id?: string;
  /** Why the zone cannot take this stack's hostnames (status, account, not found). */
  problem?: string;
}

/**
 * Each zone the public hostnames are in (config resolved them to zone names), declared once:
 * its id (`tunnel.zoneId`, or found by name in `tunnel.accountId`), the preflight over all of
 * them and, with `manageZoneSettings`, its WebSockets setting. Keyed by zone name.
 */
export function declareZones(
  tunnel: TunnelConfig,
  access: boolean,
): {
  zones: Record<string, DeclaredZone>;
  preflight: pulumi.Output<pulumi.Resource[]>;
} {
  const names = [...new Set(Object.values(tunnel.hostnameZones))];
  const facts = names.map((name) => pulumi.output(findZone(name, tunnel)));
  const preflight = runPreflight(facts, tunnel, access);
  const zones: Record<string, DeclaredZone> = {};
  names.forEach((name, i) => {
    // Known once the preflight passed: nothing reads a zone id of a zone that failed it.
    const id = pulumi.all([facts[i], preflight]).apply(([f]) => f.id ?? "");
    zones[name] = {
      id,
      ready: tunnel.manageZoneSettings ? zoneWebsockets(name, id, preflight) : undefined,
    };
  });
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

/** A failed read: a permission problem (Cloudflare's 403) or something else, with its text. */
function failure(e: unknown): { denied: boolean; text: string } {
  const text = e instanceof Error ? e.message : String(e);
  return { denied: /\b403\b|Authentication error|\b10000\b|\b9109\b/.test(text), text };
}

/** The problem of a read the token may not make: names the permission and where to add it. */
function lacks(permission: Permission, what: string, text: string): string {
  return (
    `the API token cannot ${what}: it needs the permission "${permission}" ` +
    "(dashboard: My Profile > API Tokens > the token > Edit; README, Prerequisites). " +
    `Cloudflare answered: ${text.split("\n")[0]}`
  );
}

/**
 * The zone `name` as `tunnel.accountId` holds it: found by name (or `tunnel.zoneId`), owned by
 * that account and `active`. Cloudflare keeps a zone `pending` until its nameservers point at
 * Cloudflare; until then Access refuses its hostnames (400, 12130 "domain does not belong to
 * zone") and its records do not resolve. The same name may be a zone of other accounts too.
 */
async function findZone(name: string, tunnel: TunnelConfig): Promise<ZoneFacts> {
  const account = tunnel.accountId;
  let candidates: { id: string; status: string; account?: { id?: string } }[];
  try {
    candidates = tunnel.zoneId
      ? [await cloudflare.getZone({ zoneId: tunnel.zoneId })]
      : (await cloudflare.getZones({ name })).results;
  } catch (e) {
    const f = failure(e);
    const problem = f.denied
      ? lacks(PERMISSIONS.dnsWrite, `find zone ${name}`, f.text)
      : `could not look up zone ${name}: ${f.text}`;
    return { name, problem };
  }
  const own = candidates.filter((z) => z.account?.id === account);
  const zone = own.find((z) => z.status === "active") ?? own[0];
  if (!zone) {
    const others = [...new Set(candidates.map((z) => z.account?.id).filter(Boolean))];
    return {
      name,
      problem: others.length
        ? `zone ${name} is in account ${others.join(", ")}, not in tunnel.accountId ` +
          `${account}: set mqtt-edge:tunnel.accountId to the zone's account, or add the zone ` +
          `to account ${account}`
        : `zone ${name}: no zone of that name in account ${account} that this API token ` +
          "can see: add it to the account (dashboard: Add a site), or give the token " +
          `"${PERMISSIONS.dnsWrite}" on it`,
    };
  }
  if (zone.status !== "active")
    return {
      name,
      problem:
        `zone ${name} (${zone.id}) is ${zone.status}, not active: Cloudflare serves its ` +
        "hostnames, and Access accepts them, only once the zone's nameservers point at " +
        "Cloudflare. Change them at the registrar to the ones the dashboard shows (the zone " +
        "> Overview), wait until the zone is active, then run again",
    };
  return { name, id: zone.id };
}

/**
 * Reads what each zone must allow before anything is created, and refuses what cannot work:
 * a zone that is not active in `tunnel.accountId` (findZone), a token without a permission the
 * stack needs (probePermissions), a zone whose `websockets` setting is off (MQTT reaches the
 * broker over WebSockets; with the setting off the edge refuses the upgrade) unless
 * `manageZoneSettings` declares it on. Bot Fight Mode on only warns (it challenges WebSocket
 * clients, which cannot answer: cloudflared#324). Every problem is reported at once. Resolves to
 * no resource: it is for `dependsOn`.
 */
function runPreflight(
  facts: pulumi.Output<ZoneFacts>[],
  tunnel: TunnelConfig,
  access: boolean,
): pulumi.Output<pulumi.Resource[]> {
  return pulumi.all(facts).apply(async (zones) => {
    const problems = zones.flatMap((z) => (z.problem ? [z.problem] : []));
    const usable = zones.filter((z): z is ZoneFacts & { id: string } => z.id !== undefined);
    for (const z of usable) problems.push(...(await zoneSettings(z, tunnel.manageZoneSettings)));
    if (usable.length > 0 && problems.length === 0)
      problems.push(...(await probePermissions(usable[0].id, tunnel.accountId, access)));
    return passOrFail(problems);
  });
}

/** A zone's WebSockets setting (refused when off) and Bot Fight Mode (a warning). */
async function zoneSettings(
  z: { name: string; id: string },
  manageZoneSettings: boolean,
): Promise<string[]> {
  const where = `zone ${z.name} (${z.id})`;
  const problems: string[] = [];
  // With manageZoneSettings the read only proves the permission: the resource turns them on.
  try {
    const s = await cloudflare.getZoneSetting({ zoneId: z.id, settingId: "websockets" });
    if (!manageZoneSettings && String(s.value) !== "on")
      problems.push(
        `${where}: WebSockets are ${String(s.value)}, and MQTT clients reach the broker ` +
          "over WebSockets (wss://). Turn WebSockets on in the Cloudflare dashboard " +
          "(the zone > Network > WebSockets), or set `mqtt-edge:tunnel.manageZoneSettings: " +
          "true` to let this stack turn them on.",
      );
  } catch (e) {
    const f = failure(e);
    if (!f.denied) throw e;
    const permission = manageZoneSettings
      ? PERMISSIONS.zoneSettingsWrite
      : PERMISSIONS.zoneSettingsRead;
    problems.push(lacks(permission, `read ${where}'s settings`, f.text));
  }
  try {
    const bm = await cloudflare.getBotManagement({ zoneId: z.id });
    if (bm.fightMode)
      void pulumi.log.warn(
        `${where}: Bot Fight Mode is on. It challenges MQTT clients on the WebSocket ` +
          "handshake, which they cannot answer, so connections through the tunnel may " +
          "fail (cloudflared#324). Turn it off in the Cloudflare dashboard under Security > " +
          "Bots, or skip the hostnames with a WAF custom rule.",
      );
  } catch (e) {
    // A warning's worth of information: a token without Bot Management Read must not stop the
    // deployment.
    void pulumi.log.warn(
      `${where}: could not read Bot Fight Mode (GET /zones/${z.id}/bot_management; the ` +
        `token needs "${PERMISSIONS.botManagementRead}"): ${failure(e).text.split("\n")[0]}`,
    );
  }
  return problems;
}

/**
 * One read per permission the stack writes with, so a token without it fails here, naming it,
 * instead of half-way through `up` with Cloudflare's bare 403 ("Authentication error"). A read
 * proves the permission group, not its Write level: a token with Read alone passes and fails at
 * the first write.
 */
async function probePermissions(
  zoneId: string,
  accountId: string | undefined,
  access: boolean,
): Promise<string[]> {
  const probes: { permission: Permission; what: string; read: () => Promise<unknown> }[] = [
    {
      permission: PERMISSIONS.tunnelWrite,
      what: `read the tunnels of account ${accountId}`,
      read: () => cloudflare.getZeroTrustTunnelCloudflareds({ accountId, maxItems: 1 }),
    },
    {
      permission: PERMISSIONS.dnsWrite,
      what: `read the DNS records of zone ${zoneId}`,
      read: () => cloudflare.getDnsRecords({ zoneId, maxItems: 1 }),
    },
  ];
  if (access)
    probes.push(
      {
        permission: PERMISSIONS.accessAppsWrite,
        what: `read the Access applications of account ${accountId}`,
        read: () => cloudflare.getZeroTrustAccessApplications({ accountId, maxItems: 1 }),
      },
      {
        permission: PERMISSIONS.accessServiceTokensWrite,
        what: `read the Access service tokens of account ${accountId}`,
        read: () => cloudflare.getZeroTrustAccessServiceTokens({ accountId, maxItems: 1 }),
      },
    );
  const results = await Promise.all(
    probes.map(async (p) => {
      try {
        await p.read();
        return undefined;
      } catch (e) {
        const f = failure(e);
        if (!f.denied) throw e;
        return lacks(p.permission, p.what, f.text);
      }
    }),
  );
  return results.filter((r): r is string => r !== undefined);
}
