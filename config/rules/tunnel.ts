/** Rules of `mqtt-edge:tunnel` and `mqtt-edge:tunnelToken`, across the keys they depend on. */
import type { ProblemSink, Problems } from "../problems";
import { show } from "../problems";
import type { BrokerInput, HostInput, TunnelInput } from "../schemas";
import type { HostConfig } from "../types";

/** The raw tunnel token (token mode), with whether it was stored as a secret. */
export interface TokenInput {
  value?: string;
  secret: boolean;
}

/** Keys that only managed mode reads. */
const MANAGED_ONLY = [
  "accountId",
  "zone",
  "zones",
  "zoneId",
  "access",
  "manageZoneSettings",
  "tcpHostname",
  "accessSecret",
] as const;

/** What each tunnel mode needs and refuses; `hostsIn` may carry the managed hostnames. */
export function checkTunnel(
  t: TunnelInput,
  hostsIn: HostInput[] | undefined,
  token: TokenInput,
  problems: Problems,
): void {
  const p = problems.at("tunnel");
  if (t.mode === "managed") {
    const anyHostname =
      (t.hostname?.length ?? 0) > 0 || (hostsIn ?? []).some((h) => h.hostname?.length);
    checkManagedTunnel(t, anyHostname, p);
  } else {
    for (const k of MANAGED_ONLY) {
      if (t[k] !== undefined && t[k] !== false)
        p.add(k, `only used in managed mode (mode is ${show(t.mode)})`);
    }
  }
  checkTokenUse(t.mode, token, problems.at("tunnelToken"));
  if (t.mode !== "quick" && t.quickService) p.add("quickService", "only used in quick mode");
  if (t.zone && t.zones?.length) p.add("zones", "set either zone or zones, not both");
  if (t.zoneId && (t.zones?.length ?? 0) > 1) p.add("zoneId", "only with a single zone");
  if ((t.mode === "quick" || t.mode === "none") && t.hostname?.length) {
    p.add("hostname", `not used in ${t.mode} mode: a public hostname needs managed mode`);
  }
}

function checkManagedTunnel(t: TunnelInput, anyHostname: boolean, p: ProblemSink): void {
  if (!t.accountId)
    p.add("accountId", "required in managed mode (the Cloudflare account id, 32 hex characters)");
  if (!t.zone && !t.zones?.length) {
    p.add(
      "zone",
      t.zoneId
        ? "required with zoneId: the name of the zone that id belongs to, such as example.com " +
            "(hostnames are checked against it and its resources are named after it)"
        : "required in managed mode (the zone name, such as example.com)",
    );
  }
  if (!anyHostname)
    p.add(
      "hostname",
      "required in managed mode (the public MQTT hostname, such as mqtt.example.com)",
    );
}

/** tunnelToken is for token mode, and token mode needs it. */
function checkTokenUse(mode: TunnelInput["mode"], token: TokenInput, p: ProblemSink): void {
  if (mode === "token" && token.value === undefined) {
    p.add(
      undefined,
      "required in token mode; set it with `pulumi config set --secret tunnelToken <token>`",
    );
  }
  if (mode !== "token" && token.value !== undefined) {
    p.add(undefined, `only used in token mode (mode is ${show(mode)})`);
  }
}

/** A token is stored as a secret and looks like one; its value never appears in a message. */
export function checkTokenValue(token: TokenInput, p: ProblemSink): void {
  if (token.value === undefined) return;
  if (!token.secret) {
    p.add(
      undefined,
      "expected a secret value; it was stored in plain text. Run `pulumi config set --secret tunnelToken <token>`",
    );
  } else if (!/^[A-Za-z0-9+/=_-]{32,}$/.test(token.value)) {
    p.add(
      undefined,
      "expected a tunnel token (base64 text from the Cloudflare dashboard) (got (secret))",
    );
  }
}

/**
 * `tunnel.metrics`: connector i (1-based) of each host is published at port + i - 1, so the range
 * must fit below 65536 and stay clear of the broker's published ports.
 */
export function checkConnectorMetrics(
  tunnel: TunnelInput | undefined,
  broker: BrokerInput | undefined,
  hosts: HostConfig[],
  problems: Problems,
): void {
  const metrics = tunnel?.metrics?.publish;
  if (!metrics) return;
  const at = problems.at("tunnel", "metrics", "publish");
  if (tunnel?.mode === "none")
    problems
      .at("tunnel", "metrics")
      .add(undefined, 'only used when connectors run (mode is "none")');
  const most = Math.max(1, ...hosts.map((h) => h.replicas));
  const last = metrics.port + most - 1;
  if (last > 65535)
    at.add(
      undefined,
      `expected room for ${most} host ports, one per connector (port + i - 1), but ${metrics.port} + ${most - 1} is past 65535`,
    );
  for (const k of ["tcp", "websocket"] as const) {
    const other = broker?.[k]?.publish;
    const sameIp = other && (other.ip === metrics.ip || [other.ip, metrics.ip].includes("0.0.0.0"));
    if (other && sameIp && other.port >= metrics.port && other.port <= last)
      at.add(
        undefined,
        `expected host ports ${metrics.port}-${last} (one per connector) apart from broker.${k}.publish (${other.ip}:${other.port})`,
      );
  }
}
