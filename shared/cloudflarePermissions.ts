/**
 * The Cloudflare API token permissions a managed-mode stack needs, by Cloudflare's permission
 * group names. The names are those the Cloudflare API schema lists under "Accepted Permissions"
 * for each endpoint (the doc comments of @pulumi/cloudflare 6.17.0, generated from it:
 * getZones "Zone Read", dnsRecord "DNS Write", getZeroTrustTunnelCloudflaredToken "Cloudflare
 * Tunnel Write", zeroTrustAccessPolicy "Access: Apps and Policies Write",
 * zeroTrustAccessServiceToken "Access: Service Tokens Write", zoneSetting "Zone Settings
 * Read"/"Write", getBotManagement "Bot Management Read"). The dashboard shows Write as "Edit".
 * Read by the program's preflight (to name what a token lacks), the README test and the fake API.
 */
export const PERMISSIONS = {
  zoneSettingsRead: "Zone Settings Read",
  zoneSettingsWrite: "Zone Settings Write",
  dnsWrite: "DNS Write",
  tunnelWrite: "Cloudflare Tunnel Write",
  accessAppsWrite: "Access: Apps and Policies Write",
  accessServiceTokensWrite: "Access: Service Tokens Write",
  botManagementRead: "Bot Management Read",
} as const;

export type Permission = (typeof PERMISSIONS)[keyof typeof PERMISSIONS];

/**
 * What a managed stack's token needs: always DNS Write and Cloudflare Tunnel Write;
 * Zone Settings Read (Write with `manageZoneSettings`); both Access permissions with `access`
 * or a TCP hostname. Bot Management Read is optional: without it the preflight warns. Zone Read
 * is not needed: `GET /zones?name=` answers a token with any permission on the zone, DNS Write
 * included (terraform-provider-cloudflare v5.19.1 lists those for its zone data source, and
 * certbot-dns-cloudflare finds zones by name with a token holding "Zone:DNS:Edit" alone).
 */
export function requiredPermissions(o: {
  access: boolean;
  tcpHostname: boolean;
  manageZoneSettings: boolean;
}): Permission[] {
  return [
    o.manageZoneSettings ? PERMISSIONS.zoneSettingsWrite : PERMISSIONS.zoneSettingsRead,
    PERMISSIONS.dnsWrite,
    PERMISSIONS.tunnelWrite,
    ...(o.access || o.tcpHostname
      ? [PERMISSIONS.accessAppsWrite, PERMISSIONS.accessServiceTokensWrite]
      : []),
  ];
}
