import type { EnforcementLevel, Policies } from "@pulumi/policy";
import { cloudflareTunnelDnsProxied, cloudflareTunnelRemotelyManaged } from "./cloudflare";
import { DEFAULT_ENFORCEMENT } from "./common";
import { dockerImagesPinned, dockerNoPrivileged, dockerNoRawSocket } from "./docker";
import { mosquittoNoAnonymous, mosquittoPortNotPublic } from "./mosquitto";
import { secretsMarkedSecret } from "./secrets";

export * from "./cloudflare";
export * from "./common";
export * from "./docker";
export * from "./mosquitto";
export * from "./secrets";

/** Every policy of the mqtt-edge pack, at one enforcement level (mandatory by default). */
export function mqttEdgePolicies(
  enforcementLevel: EnforcementLevel = DEFAULT_ENFORCEMENT,
): Policies {
  return [
    dockerImagesPinned(enforcementLevel),
    dockerNoPrivileged(enforcementLevel),
    dockerNoRawSocket(enforcementLevel),
    cloudflareTunnelDnsProxied(enforcementLevel),
    cloudflareTunnelRemotelyManaged(enforcementLevel),
    mosquittoNoAnonymous(enforcementLevel),
    mosquittoPortNotPublic(enforcementLevel),
    secretsMarkedSecret(enforcementLevel),
  ];
}
