/**
 * Rules of `mqtt-edge:hosts`, and the public hostnames of every host checked against the zones.
 *
 * A public hostname is checked at the key the user wrote it under (`tunnel.hostname`,
 * `hosts[i].hostname`, `tunnel.tcpHostname`, ...) and only then handed to the host that serves
 * it: `tunnel.hostname` goes to the first host when that host names none of its own.
 */
import { type ProblemSink, type Problems, show } from "../problems";
import type { HostInput, SwarmInput, TunnelInput } from "../schemas";
import type { HostConfig } from "../types";
import { inZone, zoneFor } from "../values";

/** The local host a stack without `mqtt-edge:hosts` deploys to. */
export const LOCAL_HOST = "local";

/** A public hostname where the user wrote it, and the host (index) that will serve it. */
export interface WrittenHostname {
  name: string;
  host: number;
  kind: "hostname" | "tcpHostname";
  /** The key it was written under, with its index when that key lists several. */
  at: ProblemSink;
}

/**
 * Every MQTT and TCP hostname of the stack config, at its own key. The tunnel's go to the first
 * host, unless that host names its own (then they are refused: no host would serve them).
 */
export function writtenHostnames(
  tunnel: TunnelInput | undefined,
  hostsIn: HostInput[] | undefined,
  problems: Problems,
): WrittenHostname[] {
  const out: WrittenHostname[] = [];
  const add = (names: string[], host: number, at: ProblemSink) =>
    names.forEach((name, j) =>
      out.push({ name, host, kind: "hostname", at: names.length > 1 ? at.at(j) : at }),
    );
  hostsIn?.forEach((h, i) => {
    add(h.hostname ?? [], i, problems.at("hosts", i, "hostname"));
    if (h.tcpHostname)
      out.push({
        name: h.tcpHostname,
        host: i,
        kind: "tcpHostname",
        at: problems.at("hosts", i, "tcpHostname"),
      });
  });
  const first = hostsIn?.[0];
  const tunnelAt = problems.at("tunnel");
  if (tunnel?.hostname?.length) {
    if (first?.hostname?.length)
      tunnelAt.add("hostname", "not used: hosts[0] names its own hostname; move it into hosts");
    else add(tunnel.hostname, 0, tunnelAt.at("hostname"));
  }
  if (tunnel?.tcpHostname) {
    if (first?.tcpHostname)
      tunnelAt.add("tcpHostname", "not used: hosts[0] names its own tcpHostname");
    else
      out.push({
        name: tunnel.tcpHostname,
        host: 0,
        kind: "tcpHostname",
        at: tunnelAt.at("tcpHostname"),
      });
  }
  return out;
}

/**
 * The hosts to deploy to, each with the hostnames it serves (`names`, already checked), or the
 * one local host. Refuses an empty list, duplicate names and certPath without a tcp:// endpoint.
 */
export function resolveHosts(
  tunnel: TunnelInput | undefined,
  hostsIn: HostInput[] | undefined,
  names: WrittenHostname[],
  problems: Problems,
): HostConfig[] {
  if (!tunnel) return [];
  if (hostsIn !== undefined) checkHostList(hostsIn, problems);
  const hosts: HostConfig[] =
    hostsIn === undefined
      ? [{ name: LOCAL_HOST, hostnames: [], replicas: tunnel.replicas }]
      : hostsIn.map((h) => ({
          name: h.name,
          docker: h.docker,
          certPath: h.certPath,
          hostnames: [],
          zone: h.zone,
          replicas: h.replicas ?? tunnel.replicas,
        }));
  for (const n of names) {
    const h = hosts[n.host];
    if (!h) continue;
    if (n.kind === "hostname") h.hostnames.push(n.name);
    else h.tcpHostname = n.name;
  }
  return hosts;
}

/** A non-empty list of uniquely named hosts; certPath only with a tcp:// endpoint. */
function checkHostList(hostsIn: HostInput[], problems: Problems): void {
  if (hostsIn.length === 0)
    problems
      .at("hosts")
      .add(
        undefined,
        "expected at least one host, or leave the key unset for the local Docker host",
      );
  const names = new Map<string, number>();
  hostsIn.forEach((h, i) => {
    const prev = names.get(h.name);
    if (prev !== undefined)
      problems
        .at("hosts", i, "name")
        .add(undefined, `duplicate host ${show(h.name)} (also hosts[${prev}])`);
    else names.set(h.name, i);
    if (h.certPath && !h.docker?.startsWith("tcp://"))
      problems.at("hosts", i, "certPath").add(undefined, "only used with a tcp:// docker endpoint");
  });
}

/**
 * Public hostnames, where they were written: one owner each, inside the host's zone or a
 * configured one, a hostname for every host when there are several; only in managed mode.
 */
export function checkHostnames(
  tunnel: TunnelInput | undefined,
  hostsIn: HostInput[] | undefined,
  names: WrittenHostname[],
  zones: string[],
  swarm: SwarmInput | undefined,
  problems: Problems,
): void {
  if (tunnel?.mode !== "managed") {
    hostsIn?.forEach((h, i) => {
      for (const key of ["hostname", "tcpHostname"] as const) {
        if (h[key] !== undefined)
          problems
            .at("hosts", i, key)
            .add(undefined, `only used in managed mode (mode is ${show(tunnel?.mode)})`);
      }
    });
    return;
  }
  const hostNames = hostsIn?.map((h) => h.name) ?? [LOCAL_HOST];
  const owner = new Map<string, string>();
  for (const n of names) {
    const zone = hostsIn?.[n.host]?.zone;
    checkHostname(n.name, `host ${hostNames[n.host]}`, zone, zones, owner, n.at);
  }
  if (hostsIn && hostsIn.length > 1)
    hostsIn.forEach((_, i) => {
      if (!names.some((n) => n.host === i && n.kind === "hostname"))
        problems
          .at("hosts", i, "hostname")
          .add(
            undefined,
            "required in managed mode: each host has its own tunnel and public hostname",
          );
    });
  const http = problems.at("swarm", "httpHostnames");
  for (const name of swarm?.httpHostnames ?? []) {
    if (owner.has(name))
      http.add(undefined, `duplicate hostname ${show(name)} (also used by ${owner.get(name)})`);
    else if (zones.length && !zoneFor(name, zones))
      http.add(undefined, `${show(name)} is not inside zone ${showZones(zones)}`);
  }
  hostsIn?.forEach((h, i) => {
    if (h.zone && zones.length && !zones.includes(h.zone))
      problems
        .at("hosts", i, "zone")
        .add(
          undefined,
          `expected one of the configured zones ${show(zones)} (got ${show(h.zone)})`,
        );
  });
}

/** "example.com", or any of [...] when there are several. */
function showZones(zones: string[]): string {
  return zones.length === 1 ? show(zones[0]) : `any of ${show(zones)}`;
}

/**
 * One public hostname, reported at `at`: owned by no other host (recorded in `owner`), inside
 * the host's zone (`zone`) or a configured one.
 */
function checkHostname(
  name: string,
  ownerName: string,
  zone: string | undefined,
  zones: string[],
  owner: Map<string, string>,
  at: ProblemSink,
): void {
  const prev = owner.get(name);
  if (prev !== undefined)
    at.add(undefined, `duplicate hostname ${show(name)} (also used by ${prev})`);
  else owner.set(name, ownerName);
  if (zone) {
    if (!inZone(name, zone)) at.add(undefined, `${show(name)} is not inside zone ${show(zone)}`);
  } else if (zones.length && !zoneFor(name, zones)) {
    at.add(undefined, `${show(name)} is not inside zone ${showZones(zones)}`);
  }
}

/**
 * managed mode: the zone name of every public hostname (the hosts' MQTT and TCP hostnames, then
 * the swarm's HTTP hostnames), in that order: the host's `zone`, else the longest configured
 * zone it ends in. Run on a config that passed every rule.
 */
export function hostnameZones(
  hosts: HostConfig[],
  zones: string[],
  httpHostnames: string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (name: string, zone: string | undefined) => {
    const z = zone ?? zoneFor(name, zones);
    if (z !== undefined) out[name] = z;
  };
  for (const h of hosts) {
    for (const name of h.hostnames) put(name, h.zone);
    if (h.tcpHostname) put(h.tcpHostname, h.zone);
  }
  for (const name of httpHostnames) put(name, undefined);
  return out;
}
