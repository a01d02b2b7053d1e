/** Rules of `mqtt-edge:hosts`, and the public hostnames of every host checked against the zones. */
import { type ProblemSink, type Problems, show } from "../problems";
import type { HostInput, SwarmInput, TunnelInput } from "../schemas";
import type { HostConfig } from "../types";
import { inZone, zoneFor } from "../values";

/** The local host a stack without `mqtt-edge:hosts` deploys to. */
export const LOCAL_HOST = "local";

/**
 * The hosts to deploy to: `hosts` with the tunnel's replicas and hostname filled in, or the one
 * local host. Refuses an empty list, duplicate names and certPath without a tcp:// endpoint.
 */
export function resolveHosts(
  tunnel: TunnelInput | undefined,
  hostsIn: HostInput[] | undefined,
  problems: Problems,
): HostConfig[] {
  if (!tunnel) return [];
  if (hostsIn === undefined)
    return [
      {
        name: LOCAL_HOST,
        hostnames: tunnel.hostname ?? [],
        tcpHostname: tunnel.tcpHostname,
        replicas: tunnel.replicas,
      },
    ];
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
  const hosts = hostsIn.map((h) => ({
    name: h.name,
    docker: h.docker,
    certPath: h.certPath,
    hostnames: h.hostname ?? [],
    tcpHostname: h.tcpHostname,
    zone: h.zone,
    replicas: h.replicas ?? tunnel.replicas,
  }));
  // The tunnel-level hostnames belong to the first host unless that host names its own.
  if (tunnel.hostname?.length && hosts.length && hosts[0].hostnames.length === 0)
    hosts[0].hostnames = tunnel.hostname;
  if (tunnel.tcpHostname && hosts.length && !hosts[0].tcpHostname)
    hosts[0].tcpHostname = tunnel.tcpHostname;
  return hosts;
}

/** Public hostnames: one owner each, inside a configured zone; only in managed mode. */
export function checkHostnames(
  tunnel: TunnelInput | undefined,
  hostsIn: HostInput[] | undefined,
  hosts: HostConfig[],
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
  const owner = new Map<string, string>();
  hosts.forEach((h, i) => {
    checkHostHostnames(h, i, hostsIn !== undefined, hosts.length, zones, owner, problems);
    if (h.tcpHostname) {
      // Where it was written: hosts[i], or the tunnel (whose name goes to the first host).
      const at = hostsIn?.[i]?.tcpHostname
        ? problems.at("hosts", i, "tcpHostname")
        : problems.at("tunnel", "tcpHostname");
      checkHostname(h.tcpHostname, h, zones, owner, at);
    }
  });
  const http = problems.at("swarm", "httpHostnames");
  for (const name of swarm?.httpHostnames ?? []) {
    if (owner.has(name))
      http.add(undefined, `duplicate hostname ${show(name)} (also used by ${owner.get(name)})`);
    else if (zones.length && !zoneFor(name, zones))
      http.add(
        undefined,
        `${show(name)} is not inside zone ${show(zones.length === 1 ? zones[0] : zones)}`,
      );
  }
  hosts.forEach((h, i) => {
    if (h.zone && zones.length && !zones.includes(h.zone))
      problems
        .at("hosts", i, "zone")
        .add(
          undefined,
          `expected one of the configured zones ${show(zones)} (got ${show(h.zone)})`,
        );
  });
}

/** One host's hostnames: present (with several hosts), unique, inside its zone. */
function checkHostHostnames(
  h: HostConfig,
  i: number,
  fromHosts: boolean,
  hostCount: number,
  zones: string[],
  owner: Map<string, string>,
  problems: Problems,
): void {
  const at = fromHosts ? problems.at("hosts", i, "hostname") : problems.at("tunnel", "hostname");
  if (h.hostnames.length === 0 && hostCount > 1)
    problems
      .at("hosts", i, "hostname")
      .add(undefined, "required in managed mode: each host has its own tunnel and public hostname");
  h.hostnames.forEach((name, j) => {
    const where = fromHosts || h.hostnames.length <= 1 ? at : at.at(j);
    checkHostname(name, h, zones, owner, at, where);
  });
}

/**
 * One public hostname of host `h`: owned by no other host (recorded in `owner`), inside the
 * host's zone or a configured one. `outside` is where a zone problem is reported (default `at`).
 */
function checkHostname(
  name: string,
  h: HostConfig,
  zones: string[],
  owner: Map<string, string>,
  at: ProblemSink,
  outside: ProblemSink = at,
): void {
  const prev = owner.get(name);
  if (prev !== undefined)
    at.add(undefined, `duplicate hostname ${show(name)} (also used by ${prev})`);
  else owner.set(name, `host ${h.name}`);
  if (h.zone) {
    if (!inZone(name, h.zone))
      at.add(undefined, `${show(name)} is not inside zone ${show(h.zone)}`);
  } else if (zones.length && !zoneFor(name, zones)) {
    const zone = zones.length === 1 ? show(zones[0]) : `any of ${show(zones)}`;
    outside.add(undefined, `${show(name)} is not inside zone ${zone}`);
  }
}
