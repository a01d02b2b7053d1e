import type { EnforcementLevel, ResourceValidationPolicy } from "@pulumi/policy";
import { DEFAULT_ENFORCEMENT, TYPES, subject, validateTypes } from "./common";

/**
 * Tunnel DNS records are proxied: a `cloudflare.DnsRecord` (or the deprecated `Record`) whose
 * `content` ends in `.cfargotunnel.com` has `proxied: true`. An unproxied tunnel CNAME does not
 * resolve to anything clients can reach, and it publishes the tunnel id.
 */
export function cloudflareTunnelDnsProxied(
  enforcementLevel: EnforcementLevel = DEFAULT_ENFORCEMENT,
): ResourceValidationPolicy {
  return {
    name: "cloudflare-tunnel-dns-proxied",
    description:
      "DNS records that point at a Cloudflare Tunnel (<id>.cfargotunnel.com) must be proxied.",
    enforcementLevel,
    severity: "high",
    remediationSteps: "Set proxied: true (and ttl: 1) on the record.",
    validateResource: validateTypes<{ proxied?: boolean; content?: string; name?: string }>(
      [TYPES.dnsRecord, TYPES.record],
      (props, args, report) => {
        // Checked first: the content (the tunnel id) is unknown until the tunnel exists, and a
        // proxied record passes whatever it points at.
        if (props.proxied === true) return;
        const content = (props.content ?? "").toLowerCase().replace(/\.$/, "");
        if (content.endsWith(".cfargotunnel.com")) {
          report(
            `${subject(args)} (${props.name ?? "?"} -> ${props.content}) points at a Cloudflare ` +
              `Tunnel but is not proxied (proxied: ${props.proxied ?? "unset"}). Set proxied: true; ` +
              `a tunnel is reachable only through Cloudflare's proxy.`,
          );
        }
      },
    ),
  };
}

/**
 * Tunnels are remotely managed: `cloudflare.ZeroTrustTunnelCloudflared` (or the deprecated
 * `Tunnel`) has `configSrc: "cloudflare"`, so its ingress rules are declared in the program
 * (`ZeroTrustTunnelCloudflaredConfig`) rather than in a file on each connector host.
 */
export function cloudflareTunnelRemotelyManaged(
  enforcementLevel: EnforcementLevel = DEFAULT_ENFORCEMENT,
): ResourceValidationPolicy {
  return {
    name: "cloudflare-tunnel-remotely-managed",
    description: 'Cloudflare Tunnels must be remotely managed (configSrc: "cloudflare").',
    enforcementLevel,
    severity: "medium",
    remediationSteps:
      'Set configSrc: "cloudflare" and declare the ingress rules with ZeroTrustTunnelCloudflaredConfig.',
    validateResource: validateTypes<{ configSrc?: string }>(
      [TYPES.tunnel, TYPES.legacyTunnel],
      (props, args, report) => {
        if (props.configSrc !== "cloudflare") {
          const got =
            props.configSrc === undefined ? 'unset (defaults to "local")' : `"${props.configSrc}"`;
          report(
            `${subject(args)} has configSrc ${got}. Set configSrc: "cloudflare" so the tunnel's ` +
              `routes are managed as code in ZeroTrustTunnelCloudflaredConfig, not in a local ` +
              `config.yml on each host.`,
          );
        }
      },
    ),
  };
}
