/**
 * API token permissions for the fake Cloudflare API: Cloudflare's permission group names, the
 * groups each route accepts, and the answers for a malformed header and a missing permission.
 *
 * Names are the API spellings ("... Write", where the dashboard says "... Edit"):
 * cloudflare/cloudflare-docs src/content/partials/fundamentals/{account,zone}-permissions-table.mdx,
 * rendered at https://developers.cloudflare.com/fundamentals/api/reference/permissions/.
 *
 * Each route lists the groups of which at least ONE is needed, as the API reference prints them
 * ("At least one of the following token permissions is required"). They are the operation's
 * `x-api-token-group` in cloudflare/api-schemas openapi.json (read here from an import of commit
 * c92b9b0fde23ae00fece2025662f96dc8e2d6283, one page per operation id named below), or, where that
 * import had no page, the `Scopes` terraform-provider-cloudflare v5.19.1 prints for the resource
 * (internal/services/<resource>/schema.go).
 */
import type { JsonObject } from "./util";

/** A permission group name as the API spells it, e.g. "DNS Write". */
export type PermissionName = string;

/** Tunnel reads (operations cloudflare-tunnel-list-cloudflare-tunnels, -get-a-cloudflare-tunnel, -list-cloudflare-tunnel-connections, cloudflare-tunnel-configuration-get-configuration). */
export const TUNNEL_READ: readonly PermissionName[] = [
  "Cloudflare One Connectors Write",
  "Cloudflare One Connectors Read",
  "Cloudflare One Connector: cloudflared Write",
  "Cloudflare One Connector: cloudflared Read",
  "Cloudflare Tunnel Write",
  "Cloudflare Tunnel Read",
];

/**
 * Tunnel writes, and the tunnel token (operations cloudflare-tunnel-create-a-cloudflare-tunnel,
 * -update-, -delete-, -clean-up-cloudflare-tunnel-connections, -get-a-cloudflare-tunnel-token,
 * cloudflare-tunnel-configuration-put-configuration; the token's list is also printed in
 * https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/configure-tunnels/remote-tunnel-permissions).
 */
export const TUNNEL_WRITE: readonly PermissionName[] = [
  "Cloudflare One Connectors Write",
  "Cloudflare One Connector: cloudflared Write",
  "Cloudflare Tunnel Write",
];

/** dns-records-for-a-zone-dns-record-details and -list-dns-records. */
export const DNS_READ: readonly PermissionName[] = ["DNS Read", "DNS Write"];
/** dns-records-for-a-zone-create-dns-record, -update-, -patch-, -delete-dns-record. */
export const DNS_WRITE: readonly PermissionName[] = ["DNS Write"];

/**
 * Reading a zone (operation zones-0-get): any of these zone-level groups. The same list is used
 * for `GET /zones` (zones-get prints only "Zone Zone Read"), because a token with DNS Write alone
 * finds its zone by name: terraform-provider-cloudflare v5.19.1 prints this whole list as the
 * `cloudflare_zone` data source's scopes (internal/services/zone/data_source_schema.go).
 */
export const ZONE_READ: readonly PermissionName[] = [
  "Trust and Safety Write",
  "Trust and Safety Read",
  "Zero Trust: PII Read",
  "Zaraz Edit",
  "Zaraz Read",
  "Zaraz Admin",
  "Access: Apps and Policies Revoke",
  "Access: Apps and Policies Write",
  "Access: Apps and Policies Read",
  "Access: Mutual TLS Certificates Write",
  "Access: Organizations, Identity Providers, and Groups Write",
  "Zone Settings Write",
  "Zone Settings Read",
  "Zone Read",
  "DNS Read",
  "Workers Scripts Write",
  "Workers Scripts Read",
  "Zone Write",
  "Workers Routes Write",
  "Workers Routes Read",
  "Stream Write",
  "Stream Read",
  "SSL and Certificates Write",
  "SSL and Certificates Read",
  "Logs Write",
  "Logs Read",
  "Cache Purge",
  "Page Rules Write",
  "Page Rules Read",
  "Load Balancers Write",
  "Load Balancers Read",
  "Firewall Services Write",
  "Firewall Services Read",
  "DNS Write",
  "Apps Write",
  "Analytics Read",
];

/** zone-settings-get-single-setting. */
export const ZONE_SETTINGS_READ: readonly PermissionName[] = [
  "Zone Settings Write",
  "Zone Settings Read",
];
/** Editing a zone setting: the `cloudflare_zone_setting` resource's scopes minus Read. */
export const ZONE_SETTINGS_WRITE: readonly PermissionName[] = ["Zone Settings Write"];
/** The `cloudflare_bot_management` data source's scopes (internal/services/bot_management/data_source_schema.go). */
export const BOT_MANAGEMENT_READ: readonly PermissionName[] = [
  "Bot Management Write",
  "Bot Management Read",
];

/** access-applications-get-an-access-application, -list-access-applications; reusable policy reads. */
export const ACCESS_APPS_READ: readonly PermissionName[] = [
  "Access: Apps and Policies Write",
  "Access: Apps and Policies Read",
];
/** access-applications-add-an-application, -update-, delete; access-policies-update-an-access-reusable-policy, create, delete. */
export const ACCESS_APPS_WRITE: readonly PermissionName[] = ["Access: Apps and Policies Write"];
/** access-service-tokens-get-a-service-token, -list-service-tokens. */
export const SERVICE_TOKENS_READ: readonly PermissionName[] = [
  "Access: Service Tokens Write",
  "Access: Service Tokens Read",
];
/**
 * access-service-tokens-create-a-service-token, -update-, -delete-, -refresh-a-service-token.
 * The rotate operation's page has no `x-api-token-group`; the same Write group is assumed.
 */
export const SERVICE_TOKENS_WRITE: readonly PermissionName[] = ["Access: Service Tokens Write"];

/** Every group named above: what the default test token holds. */
export const ALL_PERMISSIONS: readonly PermissionName[] = [
  ...new Set([
    ...TUNNEL_READ,
    ...ZONE_READ,
    ...ZONE_SETTINGS_READ,
    ...BOT_MANAGEMENT_READ,
    ...DNS_READ,
    ...ACCESS_APPS_READ,
    ...SERVICE_TOKENS_READ,
  ]),
];

export interface RoutePermission {
  method: string;
  /** the API path template, e.g. "/accounts/{account_id}/cfd_tunnel/{tunnel_id}/token" */
  path: string;
  /** groups of which at least one is needed; empty: any valid token */
  anyOf: readonly PermissionName[];
  /**
   * How the route refuses a token that holds only the read groups of TUNNEL_READ, where that
   * differs from the general answer (MISSING_PERMISSION).
   */
  readOnlyRefusal?: { status: number; code: number; message: string };
}

const r = (
  method: string,
  path: string,
  anyOf: readonly PermissionName[],
  extra: Partial<RoutePermission> = {},
): RoutePermission => ({ method, path, anyOf, ...extra });

const ACCT = "/accounts/{account_id}";
const TUN = `${ACCT}/cfd_tunnel/{tunnel_id}`;
const ZONE = "/zones/{zone_id}";

/** Every route the fake answers, with the permission groups it accepts. */
export const ROUTE_PERMISSIONS: readonly RoutePermission[] = [
  // Any valid token may verify itself and list the accounts it reaches.
  r("GET", "/user/tokens/verify", []),
  r("GET", "/accounts", []),
  r("GET", ACCT, []),

  r("GET", "/zones", ZONE_READ),
  r("GET", ZONE, ZONE_READ),
  r("GET", `${ZONE}/settings/{setting_id}`, ZONE_SETTINGS_READ),
  r("PATCH", `${ZONE}/settings/{setting_id}`, ZONE_SETTINGS_WRITE),
  r("GET", `${ZONE}/bot_management`, BOT_MANAGEMENT_READ),

  r("POST", `${ACCT}/cfd_tunnel`, TUNNEL_WRITE),
  r("GET", `${ACCT}/cfd_tunnel`, TUNNEL_READ),
  r("GET", TUN, TUNNEL_READ),
  r("PATCH", TUN, TUNNEL_WRITE),
  r("DELETE", TUN, TUNNEL_WRITE),
  // With Tunnel Read only, GET .../token answers 401 code 1001 "Not authorized"
  // (terraform-provider-cloudflare#7279).
  r("GET", `${TUN}/token`, TUNNEL_WRITE, {
    readOnlyRefusal: { status: 401, code: 1001, message: "Not authorized" },
  }),
  r("GET", `${TUN}/connections`, TUNNEL_READ),
  r("DELETE", `${TUN}/connections`, TUNNEL_WRITE),
  r("GET", `${TUN}/configurations`, TUNNEL_READ),
  r("PUT", `${TUN}/configurations`, TUNNEL_WRITE),

  r("POST", `${ZONE}/dns_records`, DNS_WRITE),
  r("GET", `${ZONE}/dns_records`, DNS_READ),
  r("GET", `${ZONE}/dns_records/{dns_record_id}`, DNS_READ),
  r("PUT", `${ZONE}/dns_records/{dns_record_id}`, DNS_WRITE),
  r("PATCH", `${ZONE}/dns_records/{dns_record_id}`, DNS_WRITE),
  r("DELETE", `${ZONE}/dns_records/{dns_record_id}`, DNS_WRITE),

  ...[ACCT, ZONE].flatMap((scope) => [
    r("POST", `${scope}/access/apps`, ACCESS_APPS_WRITE),
    r("GET", `${scope}/access/apps`, ACCESS_APPS_READ),
    r("GET", `${scope}/access/apps/{app_id}`, ACCESS_APPS_READ),
    r("PUT", `${scope}/access/apps/{app_id}`, ACCESS_APPS_WRITE),
    r("DELETE", `${scope}/access/apps/{app_id}`, ACCESS_APPS_WRITE),
    r("POST", `${scope}/access/service_tokens`, SERVICE_TOKENS_WRITE),
    r("GET", `${scope}/access/service_tokens`, SERVICE_TOKENS_READ),
    r("GET", `${scope}/access/service_tokens/{service_token_id}`, SERVICE_TOKENS_READ),
    r("PUT", `${scope}/access/service_tokens/{service_token_id}`, SERVICE_TOKENS_WRITE),
    r("DELETE", `${scope}/access/service_tokens/{service_token_id}`, SERVICE_TOKENS_WRITE),
  ]),
  r("POST", `${ACCT}/access/service_tokens/{service_token_id}/rotate`, SERVICE_TOKENS_WRITE),
  r("POST", `${ACCT}/access/service_tokens/{service_token_id}/refresh`, SERVICE_TOKENS_WRITE),

  r("POST", `${ACCT}/access/policies`, ACCESS_APPS_WRITE),
  r("GET", `${ACCT}/access/policies`, ACCESS_APPS_READ),
  r("GET", `${ACCT}/access/policies/{policy_id}`, ACCESS_APPS_READ),
  r("PUT", `${ACCT}/access/policies/{policy_id}`, ACCESS_APPS_WRITE),
  r("DELETE", `${ACCT}/access/policies/{policy_id}`, ACCESS_APPS_WRITE),
];

/** The entry for a route, by method and path template. */
export function routePermission(method: string, path: string): RoutePermission | undefined {
  return ROUTE_PERMISSIONS.find((p) => p.method === method && p.path === path);
}

/**
 * A valid token without any of a route's groups: HTTP 403 and exactly this body, as Cloudflare
 * answered a DNS read with a token lacking the DNS permission (cloudflare/cloudflare-docs#13405:
 * `HTTP/2.0 403 Forbidden ... {"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}`).
 * A Cloudflare engineer on cloudflare/cf-terraforming#754: "The 10000 error code comes from the
 * API gateway and is associated with not having the right permissions."
 */
export const MISSING_PERMISSION = {
  status: 403,
  body: {
    success: false,
    errors: [{ code: 10000, message: "Authentication error" }],
  } satisfies JsonObject,
};

/**
 * An Authorization header that is not `Bearer <token>`: code 6003 "Invalid request headers" with
 * 6111 "Invalid format for Authorization header" in its error_chain (wrangler printed both for
 * a bad token, cloudflare/workers-sdk#5175). HTTP 400 and the envelope with `error_chain`, as
 * the same gateway answers a malformed X-Auth-Key (code 6003 with 6103 in the chain, "error[400]"
 * in NewFuture/DDNS#152).
 */
export const MALFORMED_AUTHORIZATION = {
  status: 400,
  body: {
    success: false,
    errors: [
      {
        code: 6003,
        message: "Invalid request headers",
        error_chain: [{ code: 6111, message: "Invalid format for Authorization header" }],
      },
    ],
    messages: [],
    result: null,
  } satisfies JsonObject,
};

/**
 * The token in a well-formed `Authorization: Bearer <token>` header, or null when the header is
 * malformed. Cloudflare's tokens are 40 characters of [A-Za-z0-9_-]; the provider checks
 * `^[0-9A-Za-z_-]{40,80}$` before it sends one (shared REFERENCE.md), so only the character set
 * is checked here.
 */
export function bearerToken(header: string): string | null {
  const m = /^Bearer ([A-Za-z0-9_-]+)$/.exec(header);
  return m ? m[1] : null;
}
