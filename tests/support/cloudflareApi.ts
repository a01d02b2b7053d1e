/**
 * A local, stateful fake of the parts of the Cloudflare v4 API that
 * @pulumi/cloudflare 6.x (terraform-provider-cloudflare v5, Stainless cloudflare-go v6 client)
 * calls for Cloudflare Tunnels, their remote configuration, DNS records, zones and
 * Zero Trust Access applications / policies / service tokens, and the two zone settings the
 * program checks before it deploys (the `websockets` setting and Bot Fight Mode).
 *
 * It models Cloudflare's state as far as the sources cited beside each behaviour go: zones with a
 * status and an owning account, API tokens with permission groups (./cloudflare/permissions.ts),
 * tunnel connections that outlive their connector for a while, fields the server fills in on
 * reads (switchable per instance), and the status codes each endpoint answers with.
 * Defaults keep the end-to-end suites' world simple: every configured zone is active and owned by
 * its configured account, `apiToken` holds every permission, and no tunnel has connections.
 *
 * Point the provider at it with `cloudflare:baseUrl` = the URL `start()` returns
 * (it ends in `/client/v4`). Node built-ins only.
 *
 * Run directly:
 *   node --import tsx tests/support/cloudflareApi.ts --port 8787 --zone example.com --account <id> [--token <t>]
 */
import * as http from "node:http";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import type { AddressInfo } from "node:net";
import {
  ApiError,
  badRequest,
  bodyObject,
  clone,
  combine,
  decodeBase64,
  dnsErr,
  err,
  hex,
  inZone,
  isObject,
  isValidHostname,
  matchesOperatorFilter,
  now,
  optBool,
  optString,
  paginate,
  parseDuration,
} from "./cloudflare/util";
import type { CfError, Json, JsonObject } from "./cloudflare/util";
import {
  MALFORMED_AUTHORIZATION,
  MISSING_PERMISSION,
  TUNNEL_READ,
  bearerToken,
  routePermission,
} from "./cloudflare/permissions";
import type { PermissionName, RoutePermission } from "./cloudflare/permissions";
import { validateIngress } from "./cloudflare/ingress";

export type { CfError, Json, JsonObject } from "./cloudflare/util";
export { decodeBase64, isValidHostname } from "./cloudflare/util";
export * from "./cloudflare/permissions";

/**
 * A zone's status: "initializing", "pending", "active" or "moved" (the zone list's `status`
 * filter enum, api-schemas openapi.json operation zones-get; terraform-provider-cloudflare v5.19.1
 * internal/services/zone/data_source_schema.go). Only an active zone proxies traffic and serves
 * Access: "An active domain status is a requirement for your application services configurations
 * to be applied" (https://developers.cloudflare.com/dns/zone-setups/reference/domain-status/).
 */
export type ZoneStatus = "initializing" | "pending" | "active" | "moved";

export interface FakeZoneOptions {
  id?: string;
  name: string;
  accountId: string;
  /** Default "active". */
  status?: ZoneStatus;
  /** The zone's `websockets` setting; default "on" (Cloudflare's default). */
  websockets?: "on" | "off";
  /** Bot Fight Mode (`bot_management.fight_mode`); default false. */
  fightMode?: boolean;
}

/** An API token a test creates (`tokens` option or `addToken`). */
export interface FakeTokenOptions {
  /** 40 characters of [A-Za-z0-9_-] when omitted (the shape of Cloudflare's tokens). */
  token?: string;
  /** Permission group names, e.g. ["Cloudflare Tunnel Write", "DNS Write"]. */
  permissions: readonly PermissionName[];
  /** Accounts (and their zones) the token reaches; default every account of the fake. */
  accounts?: readonly string[];
}

export interface FakeCloudflareOptions {
  accounts?: string[];
  zones?: FakeZoneOptions[];
  /**
   * The token that holds every permission. When neither it nor `tokens` is set, requests need no
   * Authorization header (and get every permission).
   */
  apiToken?: string;
  /** More tokens, each with its own permission groups. */
  tokens?: FakeTokenOptions[];
  /**
   * Whether reads add the fields Cloudflare fills in that the request did not send (see the
   * render* methods for the list per object); default true. `setServerFilledFields` switches it.
   */
  serverFilledFields?: boolean;
  /**
   * How long a stopped connector's connections stay listed (milliseconds); default 0.
   * No source gives Cloudflare's delay: tests set one when they need it.
   */
  connectionLingerMs?: number;
}

/** What tests may set on a zone with `setZoneSettings`. */
export interface FakeZoneSettings {
  websockets?: "on" | "off";
  fightMode?: boolean;
}

export interface FakeZone {
  id: string;
  name: string;
  accountId: string;
  status: ZoneStatus;
  createdOn: string;
  /** `GET|PATCH /zones/{id}/settings/websockets` */
  websockets: "on" | "off";
  websocketsModifiedOn: string | null;
  /** `GET /zones/{id}/bot_management` `fight_mode` */
  fightMode: boolean;
}

export interface FakeApiToken {
  token: string;
  /** null: every permission */
  permissions: ReadonlySet<PermissionName> | null;
  /** null: every account of the fake */
  accounts: ReadonlySet<string> | null;
}

/** One connection of a connector (cloudflared replica) to the Cloudflare edge, as the API lists it. */
export interface FakeTunnelConnection {
  id: string;
  client_id: string;
  client_version: string;
  colo_name: string;
  is_pending_reconnect: boolean;
  opened_at: string;
  origin_ip: string;
  uuid: string;
}

/** A connection with what the fake tracks about its connector. */
export interface FakeTrackedConnection extends FakeTunnelConnection {
  /** When the connector stopped (ms since the epoch); null while it runs. */
  stoppedAt: number | null;
  /** How long after `stoppedAt` the connection is still listed. */
  lingerMs: number;
}

export interface FakeTunnel {
  id: string;
  accountId: string;
  name: string;
  configSrc: "local" | "cloudflare";
  /** base64, as sent (or generated when the request had none) */
  tunnelSecret: string;
  createdAt: string;
  deletedAt: string | null;
  connsActiveAt: string | null;
  connsInactiveAt: string | null;
  /** Tests add these with connectTunnel/startConnector; read them through the API or `listedConnections`. */
  connections: FakeTrackedConnection[];
  metadata: JsonObject;
}

export interface FakeTunnelConfig {
  accountId: string;
  tunnelId: string;
  config: JsonObject;
  source: string;
  version: number;
  createdAt: string;
}

export interface FakeDnsRecord {
  id: string;
  zoneId: string;
  /** FQDN, lower case, no trailing dot */
  name: string;
  type: string;
  content: string;
  proxied: boolean;
  ttl: number;
  comment: string | null;
  tags: string[];
  settings: JsonObject;
  /** fields this fake does not model (priority, data, private_routing...), echoed back */
  extra: JsonObject;
  createdOn: string;
  modifiedOn: string;
  commentModifiedOn: string | null;
  tagsModifiedOn: string | null;
}

export interface FakeAccessApp {
  id: string;
  scope: "accounts" | "zones";
  scopeId: string;
  aud: string;
  /** the request body as last sent (create or update), `policies` kept as references */
  body: JsonObject;
  createdAt: string;
  updatedAt: string;
}

export interface FakeAccessPolicy {
  id: string;
  accountId: string;
  body: JsonObject;
  reusable: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface FakeServiceToken {
  id: string;
  scope: "accounts" | "zones";
  scopeId: string;
  name: string;
  clientId: string;
  clientSecret: string;
  clientSecretVersion: number;
  /** the secret before the last rotation, accepted until `previousSecretExpiresAt` */
  previousClientSecret: string | null;
  previousSecretExpiresAt: string | null;
  duration: string;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  lastSeenAt: string | null;
}

export interface FakeState {
  zones: Map<string, FakeZone>;
  tunnels: Map<string, FakeTunnel>;
  /** keyed by tunnel id */
  configs: Map<string, FakeTunnelConfig>;
  dnsRecords: Map<string, FakeDnsRecord>;
  accessApps: Map<string, FakeAccessApp>;
  accessPolicies: Map<string, FakeAccessPolicy>;
  serviceTokens: Map<string, FakeServiceToken>;
}

export interface RecordedRequest {
  method: string;
  /** path without the query string, e.g. /client/v4/zones */
  path: string;
  status: number;
  /** the raw query string without "?" ("" when none) */
  query: string;
  /** parsed JSON body, when there was one */
  body?: Json;
}

export interface FaultSpec {
  status: 429 | 500 | 502 | 503;
  count: number;
  /** tested against the path (e.g. /client/v4/zones) and against "METHOD path?query" */
  match?: RegExp;
}

/** What `tunnelRouteFor` tells about a hostname's CNAME to `<uuid>.cfargotunnel.com`. */
export interface FakeTunnelRoute {
  record: FakeDnsRecord;
  tunnelId: string;
  /** whether Cloudflare would send the hostname's traffic through that tunnel */
  proxiesTraffic: boolean;
  /** why not, when it would not */
  reason?: string;
}

interface Ctx {
  method: string;
  params: string[];
  query: URLSearchParams;
  body: Json | undefined;
}

interface Reply {
  status?: number;
  result: Json;
  resultInfo?: JsonObject;
}

type Handler = (ctx: Ctx) => Reply;

interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  permission: RoutePermission;
  handler: Handler;
}

type Scope = "accounts" | "zones";

const API_PREFIX = "/client/v4";

const TUNNEL_NOT_FOUND = (): ApiError => err(404, 1003, "Tunnel not found");

/** A token for a test: 40 characters of [A-Za-z0-9_-], like Cloudflare's. */
const newTokenString = (): string => randomBytes(30).toString("base64url");

/** The `<uuid>` of a `<uuid>.cfargotunnel.com` CNAME target. */
const CFARGOTUNNEL =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.cfargotunnel\.com\.?$/i;

export class FakeCloudflareApi {
  readonly state: FakeState = {
    zones: new Map(),
    tunnels: new Map(),
    configs: new Map(),
    dnsRecords: new Map(),
    accessApps: new Map(),
    accessPolicies: new Map(),
    serviceTokens: new Map(),
  };
  requests: RecordedRequest[] = [];
  /** Valid API tokens by value. */
  readonly tokens = new Map<string, FakeApiToken>();

  private readonly opts: FakeCloudflareOptions;
  private readonly accounts: Set<string>;
  private readonly faults: { status: number; remaining: number; match?: RegExp }[] = [];
  private server: http.Server | undefined;
  private readonly routes: Route[] = [];
  private serverFilled: boolean;
  /** The token of the request being handled (handlers run synchronously). */
  private token: FakeApiToken = { token: "", permissions: null, accounts: null };

  constructor(opts: FakeCloudflareOptions = {}) {
    this.opts = opts;
    this.accounts = new Set(opts.accounts ?? []);
    for (const z of opts.zones ?? []) this.accounts.add(z.accountId);
    this.serverFilled = opts.serverFilledFields ?? true;
    this.seedZones();
    this.seedTokens();
    this.defineRoutes();
  }

  /** Starts listening on 127.0.0.1; resolves to the base URL including /client/v4. */
  start(port = 0): Promise<string> {
    if (this.server) throw new Error("FakeCloudflareApi already started");
    const server = http.createServer((req, res) => this.onRequest(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        const addr = server.address() as AddressInfo;
        resolve(`http://127.0.0.1:${addr.port}${API_PREFIX}`);
      });
    });
  }

  stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve, reject) => {
      server.close((e) => (e ? reject(e) : resolve()));
      server.closeAllConnections();
    });
  }

  /** The next `count` requests matching `match` (all requests when omitted) fail with `status`. */
  injectFaults(f: FaultSpec): void {
    this.faults.push({ status: f.status, remaining: f.count, match: f.match });
  }

  /**
   * Forgets every created object, recorded request and pending fault, and the zones and tokens
   * tests added; zones and tokens from the options come back as configured, and the
   * server-filled-fields switch goes back to the option's value.
   */
  reset(): void {
    this.state.tunnels.clear();
    this.state.configs.clear();
    this.state.dnsRecords.clear();
    this.state.accessApps.clear();
    this.state.accessPolicies.clear();
    this.state.serviceTokens.clear();
    this.state.zones.clear();
    this.accounts.clear();
    for (const a of this.opts.accounts ?? []) this.accounts.add(a);
    for (const z of this.opts.zones ?? []) this.accounts.add(z.accountId);
    this.seedZones();
    this.tokens.clear();
    this.seedTokens();
    this.serverFilled = this.opts.serverFilledFields ?? true;
    this.requests.length = 0;
    this.faults.length = 0;
  }

  // ---------------------------------------------------------------- control API for tests

  /**
   * Adds a zone, e.g. a pending one, one of another account, or one whose name another account
   * already has (Cloudflare zone names are not unique: "It is possible for multiple accounts to
   * have the same zone created but in different states", cloudflare.getZone docs,
   * https://www.pulumi.com/registry/packages/cloudflare@5.x/api-docs/getzone). Its account
   * becomes one the fake knows. Without an id the zone gets `zoneIdFor(name)`, or
   * `zoneIdFor(name, accountId)` when that id is taken.
   */
  addZone(zone: FakeZoneOptions): FakeZone {
    this.accounts.add(zone.accountId);
    return this.insertZone(zone);
  }

  /** Sets a zone's status (by id or, when unique, by name). */
  setZoneStatus(zone: string, status: ZoneStatus): FakeZone {
    const z = this.zoneByIdOrName(zone);
    z.status = status;
    return z;
  }

  /**
   * Test helper: sets a zone's `websockets` setting and/or Bot Fight Mode (by zone id or name).
   * `reset()` puts them back to the options' values (default websockets "on", fight mode off).
   */
  setZoneSettings(zone: string, settings: FakeZoneSettings): FakeZone {
    const z = this.zoneByIdOrName(zone);
    if (settings.websockets !== undefined) {
      z.websockets = settings.websockets;
      z.websocketsModifiedOn = now();
    }
    if (settings.fightMode !== undefined) z.fightMode = settings.fightMode;
    return z;
  }

  /** Adds an API token with the given permission groups; returns the token to send. */
  addToken(t: FakeTokenOptions): string {
    const token = t.token ?? newTokenString();
    this.tokens.set(token, {
      token,
      permissions: new Set(t.permissions),
      accounts: t.accounts ? new Set(t.accounts) : null,
    });
    return token;
  }

  /**
   * Switches the server-filled fields of reads on (Cloudflare's behaviour, the default) or off
   * (an answer holds what the request sent plus the ids), to show what depends on them.
   */
  setServerFilledFields(on: boolean): void {
    this.serverFilled = on;
  }

  /** Test helper: one running connection of a new connector (or of `partial.client_id`). */
  connectTunnel(
    tunnelId: string,
    partial: Partial<FakeTunnelConnection> = {},
  ): FakeTunnelConnection {
    const t = this.state.tunnels.get(tunnelId);
    if (!t) throw new Error(`no tunnel ${tunnelId}`);
    const conn: FakeTrackedConnection = {
      id: randomUUID(),
      client_id: randomUUID(),
      client_version: "2026.1.0",
      colo_name: "fra01",
      is_pending_reconnect: false,
      opened_at: now(),
      origin_ip: "192.0.2.10",
      uuid: randomUUID(),
      ...partial,
      stoppedAt: null,
      lingerMs: 0,
    };
    if (this.listedConnections(t).length === 0) {
      t.connsActiveAt = conn.opened_at;
      t.connsInactiveAt = null;
    }
    t.connections.push(conn);
    return conn;
  }

  /**
   * Test helper: a connector (one cloudflared replica) starts and opens `connections` connections
   * (default 4: cloudflared's `--ha-connections` default) to two colos. Returns its client id.
   */
  startConnector(
    tunnelId: string,
    o: { clientId?: string; connections?: number; version?: string } = {},
  ): string {
    const clientId = o.clientId ?? randomUUID();
    const n = o.connections ?? 4;
    for (let i = 0; i < n; i++) {
      this.connectTunnel(tunnelId, {
        client_id: clientId,
        colo_name: i % 2 === 0 ? "fra01" : "ams01",
        ...(o.version ? { client_version: o.version } : {}),
      });
    }
    return clientId;
  }

  /**
   * Test helper: a connector stops (all connectors when `clientId` is omitted). Cloudflare does
   * not learn of it at once: its connections stay listed, and deleting the tunnel is refused
   * (code 1022, terraform-provider-cloudflare#5255), for `lingerMs` (default: the
   * `connectionLingerMs` option, else 0; no source gives the real delay).
   */
  stopConnector(tunnelId: string, clientId?: string, o: { lingerMs?: number } = {}): void {
    const t = this.state.tunnels.get(tunnelId);
    if (!t) throw new Error(`no tunnel ${tunnelId}`);
    const at = Date.now();
    for (const c of t.connections) {
      if (c.stoppedAt !== null || (clientId !== undefined && c.client_id !== clientId)) continue;
      c.stoppedAt = at;
      c.lingerMs = o.lingerMs ?? this.opts.connectionLingerMs ?? 0;
    }
    this.listedConnections(t);
  }

  /**
   * The connections the API lists for a tunnel now: running ones, and stopped ones still within
   * their linger time. Expired ones are dropped (and the tunnel becomes inactive when none is left).
   */
  listedConnections(t: FakeTunnel): FakeTrackedConnection[] {
    const at = Date.now();
    const before = t.connections.length;
    t.connections = t.connections.filter(
      (c) => c.stoppedAt === null || at < c.stoppedAt + c.lingerMs,
    );
    if (before > 0 && t.connections.length === 0) t.connsInactiveAt = now();
    return t.connections;
  }

  /**
   * Whether a service token's client id and secret get through Access at `at`: the current
   * secret, or the previous one until `previous_client_secret_expires_at` (cloudflare-go v6
   * zero_trust/accessservicetoken.go: "Incrementing it triggers a rotation; the previous secret
   * will still be accepted until the time indicated by `previous_client_secret_expires_at`"),
   * and only before the token's `expires_at`.
   */
  serviceTokenAccepts(clientId: string, clientSecret: string, at: Date = new Date()): boolean {
    const t = [...this.state.serviceTokens.values()].find((x) => x.clientId === clientId);
    if (!t || at.getTime() >= Date.parse(t.expiresAt)) return false;
    if (clientSecret === t.clientSecret) return true;
    return (
      t.previousClientSecret !== null &&
      clientSecret === t.previousClientSecret &&
      t.previousSecretExpiresAt !== null &&
      at.getTime() < Date.parse(t.previousSecretExpiresAt)
    );
  }

  /**
   * Where a proxied hostname's CNAME to `<uuid>.cfargotunnel.com` leads. The DNS API accepts such
   * a record whatever the tunnel ("The DNS record and the tunnel are independent. You can create
   * DNS records that point to a tunnel that is not running"), but "the `cfargotunnel.com`
   * subdomain only proxies traffic for DNS records in the same Cloudflare account. If someone
   * discovers your tunnel UUID, they cannot create a DNS record in another account to proxy
   * traffic through it" (https://developers.cloudflare.com/cloudflare-one/networks/connectors/cloudflare-tunnel/routing-to-tunnel/dns/).
   * "Pending zones cannot be used to proxy traffic to Cloudflare"
   * (https://developers.cloudflare.com/dns/zone-setups/reference/domain-status/).
   */
  tunnelRouteFor(hostname: string): FakeTunnelRoute | undefined {
    const name = hostname.toLowerCase().replace(/\.$/, "");
    const record = [...this.state.dnsRecords.values()].find(
      (r) => r.name === name && r.type === "CNAME" && CFARGOTUNNEL.test(r.content),
    );
    if (!record) return undefined;
    const tunnelId = CFARGOTUNNEL.exec(record.content)![1].toLowerCase();
    const tunnel = this.state.tunnels.get(tunnelId);
    const zone = this.state.zones.get(record.zoneId)!;
    const no = (reason: string): FakeTunnelRoute => ({
      record,
      tunnelId,
      proxiesTraffic: false,
      reason,
    });
    if (!record.proxied) return no("the record is DNS only");
    if (zone.status !== "active") return no(`zone ${zone.name} is ${zone.status}`);
    if (!tunnel || tunnel.deletedAt) return no("no such tunnel");
    if (tunnel.accountId !== zone.accountId) {
      return no(
        `the tunnel belongs to account ${tunnel.accountId}, the zone to account ${zone.accountId}`,
      );
    }
    return { record, tunnelId, proxiesTraffic: true };
  }

  /** The routes the fake answers, as method and API path template. */
  routeTemplates(): { method: string; path: string }[] {
    return this.routes.map((r) => ({ method: r.method, path: r.template }));
  }

  /**
   * Zone id used for a zone name when the options give none (stable across runs); a second zone
   * of the same name gets the id for its name and account.
   */
  static zoneIdFor(name: string, accountId?: string): string {
    const key =
      accountId === undefined
        ? `zone:${name.toLowerCase()}`
        : `zone:${name.toLowerCase()}:${accountId}`;
    return createHash("md5").update(key).digest("hex");
  }

  // ---------------------------------------------------------------- plumbing

  private seedZones(): void {
    for (const z of this.opts.zones ?? []) this.insertZone(z);
  }

  private insertZone(z: FakeZoneOptions): FakeZone {
    let id = z.id;
    if (id === undefined) {
      id = FakeCloudflareApi.zoneIdFor(z.name);
      if (this.state.zones.has(id)) id = FakeCloudflareApi.zoneIdFor(z.name, z.accountId);
    }
    if (this.state.zones.has(id)) throw new Error(`zone id ${id} is taken`);
    const zone: FakeZone = {
      id,
      name: z.name.toLowerCase().replace(/\.$/, ""),
      accountId: z.accountId,
      status: z.status ?? "active",
      createdOn: "2024-01-01T00:00:00.000000Z",
      websockets: z.websockets ?? "on",
      websocketsModifiedOn: null,
      fightMode: z.fightMode ?? false,
    };
    this.state.zones.set(id, zone);
    return zone;
  }

  private zoneByIdOrName(zone: string): FakeZone {
    const byId = this.state.zones.get(zone);
    if (byId) return byId;
    const named = [...this.state.zones.values()].filter((x) => x.name === zone.toLowerCase());
    if (named.length > 1) throw new Error(`${named.length} zones named ${zone}: use the id`);
    if (named.length === 0) throw new Error(`no zone ${zone}`);
    return named[0];
  }

  private seedTokens(): void {
    if (this.opts.apiToken !== undefined) {
      this.tokens.set(this.opts.apiToken, {
        token: this.opts.apiToken,
        permissions: null,
        accounts: null,
      });
    }
    for (const t of this.opts.tokens ?? []) this.addToken(t);
  }

  /** Requests need a token once the fake has one configured. */
  private get authRequired(): boolean {
    return this.opts.apiToken !== undefined || (this.opts.tokens?.length ?? 0) > 0;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const url = new URL(req.url ?? "/", "http://fake.invalid");
      const path = url.pathname.replace(/\/{2,}/g, "/");
      const method = (req.method ?? "GET").toUpperCase();
      const rec: RecordedRequest = {
        method,
        path,
        status: 0,
        query: url.search.replace(/^\?/, ""),
      };
      this.requests.push(rec);

      const send = (
        status: number,
        payload: JsonObject,
        headers: Record<string, string> = {},
      ): void => {
        rec.status = status;
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(payload));
      };
      const sendError = (e: ApiError, headers: Record<string, string> = {}): void =>
        send(
          e.status,
          e.body ?? {
            success: false,
            errors: e.errors as unknown as Json[],
            messages: [],
            result: null,
          },
          headers,
        );

      let body: Json | undefined;
      if (raw.trim().length > 0) {
        try {
          body = JSON.parse(raw) as Json;
          rec.body = body;
        } catch {
          rec.body = raw;
          body = undefined;
          if (this.applyFault(method, path, url.search, send)) return;
          return sendError(err(400, 6007, "Malformed JSON in request body"));
        }
      }

      if (this.applyFault(method, path, url.search, send)) return;

      const auth = req.headers["authorization"];
      let token: FakeApiToken | undefined;
      if (auth !== undefined) {
        const value = bearerToken(auth);
        if (value === null) {
          return send(MALFORMED_AUTHORIZATION.status, MALFORMED_AUTHORIZATION.body);
        }
        token = this.tokens.get(value);
      }
      if (!token) {
        if (this.authRequired) {
          return sendError(
            err(
              401,
              10000,
              auth
                ? "Authentication error: invalid API token"
                : "Authentication error: missing Authorization: Bearer <token> header",
            ),
          );
        }
        token = { token: "", permissions: null, accounts: null };
      }

      if (!path.startsWith(API_PREFIX + "/"))
        return sendError(err(404, 7000, "No route for that URI"));
      const sub = path.slice(API_PREFIX.length).replace(/\/$/, "");
      for (const r of this.routes) {
        if (r.method !== method) continue;
        const m = r.pattern.exec(sub);
        if (!m) continue;
        const refusal = this.permissionRefusal(token, r.permission);
        if (refusal) return sendError(refusal);
        this.token = token;
        try {
          const reply = r.handler({
            method,
            params: m.slice(1).map(decodeURIComponent),
            query: url.searchParams,
            body,
          });
          const payload: JsonObject = {
            success: true,
            errors: [],
            messages: [],
            result: reply.result,
          };
          if (reply.resultInfo) payload.result_info = reply.resultInfo;
          return send(reply.status ?? 200, payload);
        } catch (e) {
          if (e instanceof ApiError) return sendError(e);
          const message = e instanceof Error ? e.message : String(e);
          return sendError(err(500, 10002, `fake internal error: ${message}`));
        }
      }
      return sendError(err(404, 7000, "No route for that URI"));
    });
  }

  /** The answer to a token that lacks every group a route accepts; undefined when it has one. */
  private permissionRefusal(token: FakeApiToken, p: RoutePermission): ApiError | undefined {
    const held = token.permissions;
    if (held === null || p.anyOf.length === 0 || p.anyOf.some((g) => held.has(g))) return undefined;
    if (p.readOnlyRefusal && TUNNEL_READ.some((g) => held.has(g))) {
      const r = p.readOnlyRefusal;
      return err(r.status, r.code, r.message);
    }
    return new ApiError(
      MISSING_PERMISSION.status,
      MISSING_PERMISSION.body.errors as CfError[],
      MISSING_PERMISSION.body,
    );
  }

  private applyFault(
    method: string,
    path: string,
    search: string,
    send: (status: number, payload: JsonObject, headers?: Record<string, string>) => void,
  ): boolean {
    const f = this.faults.find(
      (x) =>
        x.remaining > 0 &&
        (!x.match || x.match.test(path) || x.match.test(`${method} ${path}${search}`)),
    );
    if (!f) return false;
    f.remaining -= 1;
    const [code, message] =
      f.status === 429
        ? [971, "Please wait and consider throttling your request speed"]
        : [10002, `Internal server error (injected ${f.status})`];
    send(
      f.status,
      { success: false, errors: [{ code, message }], messages: [], result: null },
      f.status === 429 ? { "retry-after": "1" } : {},
    );
    return true;
  }

  /** Registers a handler for an API path template listed in ROUTE_PERMISSIONS. */
  private route(method: string, template: string, handler: Handler): void {
    const permission = routePermission(method, template);
    if (!permission) throw new Error(`no permission entry for ${method} ${template}`);
    const pattern = new RegExp(`^${template.replace(/\{[a-z_]+\}/g, "([^/]+)")}$`);
    this.routes.push({ method, template, pattern, permission, handler });
  }

  /** Accounts the current token reaches. */
  private reaches(accountId: string): boolean {
    const scope = this.token.accounts;
    return this.accounts.has(accountId) && (scope === null || scope.has(accountId));
  }

  private requireAccount(accountId: string): void {
    if (this.accounts.size > 0 && !this.reaches(accountId)) {
      throw err(403, 9109, "Unauthorized to access requested resource");
    }
  }

  private requireZone(zoneId: string, sub = ""): FakeZone {
    const z = this.state.zones.get(zoneId);
    if (!z)
      throw err(
        404,
        7003,
        `Could not route to /zones/${zoneId}${sub}, perhaps your object identifier is invalid?`,
      );
    if (!this.reaches(z.accountId)) {
      throw err(403, 9109, "Unauthorized to access requested resource");
    }
    return z;
  }

  private requireScope(scope: Scope, scopeId: string): void {
    if (scope === "accounts") this.requireAccount(scopeId);
    else this.requireZone(scopeId);
  }

  // ---------------------------------------------------------------- routes

  private defineRoutes(): void {
    const acct = "/accounts/{account_id}";
    const tun = `${acct}/cfd_tunnel/{tunnel_id}`;
    const zone = "/zones/{zone_id}";

    // Accounts, token verification (cheap helpers for tools and smoke tests).
    this.route("GET", "/user/tokens/verify", () => ({
      result: { id: hex(16), status: "active", not_before: null, expires_on: null },
    }));
    this.route("GET", "/accounts", (c) => {
      const { page, info } = paginate(
        [...this.accounts].filter((a) => this.reaches(a)).map((id) => this.renderAccount(id)),
        c.query,
        { defaultPerPage: 20, maxPerPage: 50 },
      );
      return { result: page, resultInfo: info };
    });
    this.route("GET", acct, (c) => {
      this.requireAccount(c.params[0]);
      return { result: this.renderAccount(c.params[0]) };
    });

    // Zones.
    this.route("GET", "/zones", (c) => this.listZones(c));
    this.route("GET", zone, (c) => ({
      result: this.renderZone(this.requireZone(c.params[0])),
    }));

    // Zone settings: only `websockets` is modelled (what the program checks and may turn on).
    this.route("GET", `${zone}/settings/{setting_id}`, (c) => ({
      result: this.renderWebsockets(this.requireSetting(c)),
    }));
    this.route("PATCH", `${zone}/settings/{setting_id}`, (c) => this.patchWebsockets(c));
    // Bot management: read only (Bot Fight Mode is what breaks WebSockets, cloudflared#324).
    this.route("GET", `${zone}/bot_management`, (c) => ({
      result: this.renderBotManagement(this.requireZone(c.params[0], "/bot_management")),
    }));

    // Cloudflare Tunnel (cfd_tunnel).
    this.route("POST", `${acct}/cfd_tunnel`, (c) => this.createTunnel(c));
    this.route("GET", `${acct}/cfd_tunnel`, (c) => this.listTunnels(c));
    this.route("GET", tun, (c) => ({
      result: this.renderTunnel(this.findTunnel(c.params[0], c.params[1])),
    }));
    this.route("PATCH", tun, (c) => this.editTunnel(c));
    this.route("DELETE", tun, (c) => this.deleteTunnel(c));
    this.route("GET", `${tun}/token`, (c) => this.tunnelToken(c));
    this.route("GET", `${tun}/connections`, (c) => this.listConnections(c));
    this.route("DELETE", `${tun}/connections`, (c) => this.deleteConnections(c));
    this.route("GET", `${tun}/configurations`, (c) => this.getConfig(c));
    this.route("PUT", `${tun}/configurations`, (c) => this.putConfig(c));

    // DNS records.
    const rec = `${zone}/dns_records/{dns_record_id}`;
    this.route("POST", `${zone}/dns_records`, (c) => this.createDns(c));
    this.route("GET", `${zone}/dns_records`, (c) => this.listDns(c));
    this.route("GET", rec, (c) => ({
      result: this.renderDns(this.findDns(c.params[0], c.params[1])),
    }));
    this.route("PUT", rec, (c) => this.updateDns(c, false));
    this.route("PATCH", rec, (c) => this.updateDns(c, true));
    // DELETE answers `{id}` (dns-records-for-a-zone-delete-dns-record: dns-records_dns_response_delete).
    this.route("DELETE", rec, (c) => {
      const r = this.findDns(c.params[0], c.params[1]);
      this.state.dnsRecords.delete(r.id);
      return { result: { id: r.id } };
    });

    // Access applications and service tokens (account- or zone-scoped).
    for (const [scope, base] of [
      ["accounts", acct],
      ["zones", zone],
    ] as const) {
      const app = `${base}/access/apps/{app_id}`;
      this.route("POST", `${base}/access/apps`, (c) => this.createApp(scope, c));
      this.route("GET", `${base}/access/apps`, (c) => this.listApps(scope, c));
      this.route("GET", app, (c) => ({
        result: this.renderApp(this.findApp(scope, c.params[0], c.params[1])),
      }));
      this.route("PUT", app, (c) => this.updateApp(scope, c));
      this.route("DELETE", app, (c) => this.deleteApp(scope, c));

      const st = `${base}/access/service_tokens/{service_token_id}`;
      this.route("POST", `${base}/access/service_tokens`, (c) => this.createServiceToken(scope, c));
      this.route("GET", `${base}/access/service_tokens`, (c) => this.listServiceTokens(scope, c));
      this.route("GET", st, (c) => ({
        result: this.renderServiceToken(this.findServiceToken(scope, c.params[0], c.params[1])),
      }));
      this.route("PUT", st, (c) => this.updateServiceToken(scope, c));
      // DELETE answers 200 with the token (access-service-tokens-delete-a-service-token: "200").
      this.route("DELETE", st, (c) => {
        const t = this.findServiceToken(scope, c.params[0], c.params[1]);
        this.state.serviceTokens.delete(t.id);
        return { result: this.renderServiceToken(t) };
      });
    }
    this.route("POST", `${acct}/access/service_tokens/{service_token_id}/rotate`, (c) =>
      this.rotateServiceToken(c),
    );
    this.route("POST", `${acct}/access/service_tokens/{service_token_id}/refresh`, (c) =>
      this.refreshServiceToken(c),
    );

    // Access reusable policies (account-scoped).
    const pol = `${acct}/access/policies/{policy_id}`;
    this.route("POST", `${acct}/access/policies`, (c) => this.createPolicy(c));
    this.route("GET", `${acct}/access/policies`, (c) => this.listPolicies(c));
    this.route("GET", pol, (c) => ({
      result: this.renderPolicy(this.findPolicy(c.params[0], c.params[1])),
    }));
    this.route("PUT", pol, (c) => this.updatePolicy(c));
    this.route("DELETE", pol, (c) => this.deletePolicy(c));
  }

  // ---------------------------------------------------------------- accounts & zones

  private renderAccount(id: string): JsonObject {
    return {
      id,
      name: `Fake account ${id.slice(0, 8)}`,
      type: "standard",
      settings: { enforce_twofactor: false, abuse_contact_email: null },
      created_on: "2024-01-01T00:00:00.000000Z",
    };
  }

  private renderZone(z: FakeZone): JsonObject {
    return {
      id: z.id,
      name: z.name,
      status: z.status,
      paused: false,
      type: "full",
      development_mode: 0,
      name_servers: ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
      original_name_servers: [],
      original_registrar: null,
      original_dnshost: null,
      vanity_name_servers: [],
      verification_key: null,
      cname_suffix: null,
      created_on: z.createdOn,
      modified_on: z.createdOn,
      // "activated_on: The last time proof of ownership was detected and the zone was made active"
      // (cloudflare-go v6 zones/zone.go); null until then, as in a pending zone's answer quoted at
      // https://gist.github.com/kyouheicf/c7128f3affb86fe53871e6cfeb9d8064.
      activated_on: z.status === "active" || z.status === "moved" ? z.createdOn : null,
      account: { id: z.accountId, name: this.renderAccount(z.accountId).name as string },
      owner: { id: null, type: "user", email: null, name: null },
      permissions: ["#dns_records:edit", "#dns_records:read", "#zone:read"],
      plan: {
        id: "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
        name: "Free Website",
        price: 0,
        currency: "USD",
        frequency: "",
        is_subscribed: false,
        can_subscribe: false,
        legacy_id: "free",
        legacy_discount: false,
        externally_managed: false,
      },
      meta: {
        step: 2,
        custom_certificate_quota: 0,
        page_rule_quota: 3,
        phishing_detected: false,
        cdn_only: false,
        dns_only: false,
        foundation_dns: false,
      },
      tenant: { id: null, name: null },
      tenant_unit: { id: null },
    };
  }

  private requireSetting(c: Ctx): FakeZone {
    const [zoneId, settingId] = c.params;
    const z = this.requireZone(zoneId, `/settings/${settingId}`);
    if (settingId !== "websockets") {
      throw err(400, 1007, `this fake models only the websockets setting, not ${settingId}`);
    }
    return z;
  }

  private renderWebsockets(z: FakeZone): JsonObject {
    return {
      id: "websockets",
      value: z.websockets,
      editable: true,
      modified_on: z.websocketsModifiedOn,
    };
  }

  /** `PATCH /zones/{id}/settings/websockets` with `{value: "on"|"off"}` (and optionally `id`). */
  private patchWebsockets(c: Ctx): Reply {
    const z = this.requireSetting(c);
    const b = bodyObject(c.body);
    const id = optString(b, "id");
    if (id !== undefined && id !== "websockets") {
      throw badRequest(`'id' must be "websockets" on this path, not ${JSON.stringify(id)}`, 1007);
    }
    const value = b.value;
    if (value !== "on" && value !== "off") {
      throw badRequest(`Invalid value for zone setting websockets: expected "on" or "off"`, 1007);
    }
    z.websockets = value;
    z.websocketsModifiedOn = now();
    return { result: this.renderWebsockets(z) };
  }

  /** The shape of a Free plan zone's bot management configuration. */
  private renderBotManagement(z: FakeZone): JsonObject {
    return {
      enable_js: false,
      fight_mode: z.fightMode,
      ai_bots_protection: "disabled",
      crawler_protection: "disabled",
      is_robots_txt_managed: false,
      using_latest_model: true,
      stale_zone_configuration: {},
    };
  }

  /**
   * `GET /zones`: the zones of the accounts the token reaches, whatever their status, filtered by
   * `name` (operators allowed), `status` (exact), `account.id`, `account.name`; two accounts' zones
   * of one name both match a name filter (zone names are not unique, see `addZone`), which is
   * what makes `getZone({filter: {name}})` fail with "failed to find exactly one result"
   * (terraform-provider-cloudflare v5.19.1 internal/services/zone/data_source.go).
   */
  private listZones(c: Ctx): Reply {
    const q = c.query;
    let zones = [...this.state.zones.values()].filter((z) => this.reaches(z.accountId));
    const match = q.get("match");
    zones = zones.filter((z) => {
      const checks: boolean[] = [];
      const name = q.get("name");
      if (name !== null && name !== "") checks.push(matchesOperatorFilter(z.name, name));
      const status = q.get("status");
      if (status !== null && status !== "") checks.push(z.status === status);
      const accountId = q.get("account.id");
      if (accountId !== null && accountId !== "") checks.push(z.accountId === accountId);
      const accountName = q.get("account.name");
      if (accountName !== null && accountName !== "") {
        checks.push(
          matchesOperatorFilter(this.renderAccount(z.accountId).name as string, accountName),
        );
      }
      const types = q
        .getAll("type")
        .flatMap((t) => t.split(","))
        .filter((t) => t !== "");
      if (types.length > 0) checks.push(types.includes("full"));
      return combine(checks, match);
    });
    const order = q.get("order") ?? "name";
    if (order === "name") zones.sort((a, b) => a.name.localeCompare(b.name));
    if (order === "status") zones.sort((a, b) => a.status.localeCompare(b.status));
    if (q.get("direction") === "desc") zones.reverse();
    const { page, info } = paginate(zones, q, { defaultPerPage: 20, maxPerPage: 50 });
    return { result: page.map((z) => this.renderZone(z)), resultInfo: info };
  }

  // ---------------------------------------------------------------- tunnels

  /**
   * "`inactive` (tunnel has never been run), `degraded` (tunnel is active and able to serve
   * traffic but in an unhealthy state), `healthy` (tunnel is active and able to serve traffic),
   * or `down` (tunnel can not serve traffic as it has no connections to the Cloudflare Edge)"
   * (terraform-provider-cloudflare v5.19.1 zero_trust_tunnel_cloudflared/schema.go `status`).
   * Here a listed connection marked `is_pending_reconnect` makes the tunnel degraded.
   */
  private tunnelStatus(t: FakeTunnel): string {
    const listed = this.listedConnections(t);
    if (listed.length > 0) {
      return listed.some((c) => c.is_pending_reconnect) ? "degraded" : "healthy";
    }
    if (t.connsActiveAt || t.connsInactiveAt) return "down";
    return "inactive";
  }

  private static publicConnection(c: FakeTrackedConnection): JsonObject {
    return {
      id: c.id,
      client_id: c.client_id,
      client_version: c.client_version,
      colo_name: c.colo_name,
      is_pending_reconnect: c.is_pending_reconnect,
      opened_at: c.opened_at,
      origin_ip: c.origin_ip,
      uuid: c.uuid,
    };
  }

  private renderTunnel(t: FakeTunnel): JsonObject {
    const listed = this.listedConnections(t);
    return {
      id: t.id,
      account_tag: t.accountId,
      created_at: t.createdAt,
      deleted_at: t.deletedAt,
      name: t.name,
      connections: listed.map((c) => FakeCloudflareApi.publicConnection(c)),
      // "conns_active_at: Timestamp of when the tunnel established at least one connection to
      // Cloudflare's edge. If `null`, the tunnel is inactive." / "conns_inactive_at: ... became
      // inactive (no connections to Cloudflare's edge). If `null`, the tunnel is active."
      // (zero_trust_tunnel_cloudflared/schema.go)
      conns_active_at: listed.length > 0 ? t.connsActiveAt : null,
      conns_inactive_at: listed.length > 0 ? null : t.connsInactiveAt,
      tun_type: "cfd_tunnel",
      metadata: clone(t.metadata),
      status: this.tunnelStatus(t),
      remote_config: t.configSrc === "cloudflare",
      config_src: t.configSrc,
    };
  }

  /**
   * Finds a tunnel of the account; deleted tunnels are still found, with deleted_at set (they
   * stay listed until `is_deleted=false` filters them out, cloudflare/cloudflared#1210).
   */
  private findTunnel(accountId: string, tunnelId: string): FakeTunnel {
    this.requireAccount(accountId);
    const t = this.state.tunnels.get(tunnelId);
    if (!t || t.accountId !== accountId) throw TUNNEL_NOT_FOUND();
    return t;
  }

  private findLiveTunnel(accountId: string, tunnelId: string): FakeTunnel {
    const t = this.findTunnel(accountId, tunnelId);
    if (t.deletedAt) throw TUNNEL_NOT_FOUND();
    return t;
  }

  /** "Must be at least 32 bytes and encoded as a base64 string" (zero_trust_tunnel_cloudflared/schema.go `tunnel_secret`). */
  private validateSecret(secret: string): void {
    const decoded = decodeBase64(secret);
    if (!decoded) throw badRequest("tunnel_secret must be a base64-encoded string");
    if (decoded.length < 32) {
      throw badRequest(`tunnel_secret must decode to at least 32 bytes (got ${decoded.length})`);
    }
  }

  /**
   * A name is required (the create body's only required field, cloudflare-tunnel-create-a-
   * cloudflare-tunnel) and unique among the account's live tunnels: "409 Conflict
   * {"errors":[{"code":1013,"message":"You already have a tunnel with this name..."}]}"
   * (pulumi/pulumi-cloudflare#1440). No length limit: none is documented.
   */
  private validateTunnelName(accountId: string, name: string | undefined, selfId?: string): string {
    if (name === undefined || name.trim() === "") throw badRequest("name is required");
    for (const other of this.state.tunnels.values()) {
      if (
        other.accountId === accountId &&
        !other.deletedAt &&
        other.name === name &&
        other.id !== selfId
      ) {
        throw err(
          409,
          1013,
          "You already have a tunnel with this name. Delete the existing tunnel, or choose a different name for your new tunnel",
        );
      }
    }
    return name;
  }

  private createTunnel(c: Ctx): Reply {
    const accountId = c.params[0];
    this.requireAccount(accountId);
    const b = bodyObject(c.body);
    const name = this.validateTunnelName(accountId, optString(b, "name"));
    // "Available values: "local", "cloudflare"", default "local" (zero_trust_tunnel_cloudflared/schema.go).
    const configSrc = optString(b, "config_src") ?? "local";
    if (configSrc !== "local" && configSrc !== "cloudflare") {
      throw badRequest(`config_src must be one of "local", "cloudflare" (got "${configSrc}")`);
    }
    let secret = optString(b, "tunnel_secret");
    if (secret === undefined) secret = randomBytes(32).toString("base64");
    else this.validateSecret(secret);
    const t: FakeTunnel = {
      id: randomUUID(),
      accountId,
      name,
      configSrc,
      tunnelSecret: secret,
      createdAt: now(),
      deletedAt: null,
      connsActiveAt: null,
      connsInactiveAt: null,
      connections: [],
      metadata: {},
    };
    this.state.tunnels.set(t.id, t);
    return { result: this.renderTunnel(t) };
  }

  private listTunnels(c: Ctx): Reply {
    const accountId = c.params[0];
    this.requireAccount(accountId);
    const q = c.query;
    const tunnels = [...this.state.tunnels.values()].filter((t) => {
      if (t.accountId !== accountId) return false;
      const isDeleted = q.get("is_deleted");
      if (isDeleted === "true" && !t.deletedAt) return false;
      if (isDeleted === "false" && t.deletedAt) return false;
      const name = q.get("name");
      if (name && t.name !== name) return false;
      const uuid = q.get("uuid");
      if (uuid && t.id !== uuid) return false;
      const inc = q.get("include_prefix");
      if (inc && !t.name.startsWith(inc)) return false;
      const exc = q.get("exclude_prefix");
      if (exc && t.name.startsWith(exc)) return false;
      const status = q.get("status");
      if (status && this.tunnelStatus(t) !== status) return false;
      return true;
    });
    const { page, info } = paginate(tunnels, q, { defaultPerPage: 20, maxPerPage: 1000 });
    return { result: page.map((t) => this.renderTunnel(t)), resultInfo: info };
  }

  private editTunnel(c: Ctx): Reply {
    const t = this.findLiveTunnel(c.params[0], c.params[1]);
    const b = bodyObject(c.body);
    const name = optString(b, "name");
    if (name !== undefined) t.name = this.validateTunnelName(t.accountId, name, t.id);
    const secret = optString(b, "tunnel_secret");
    if (secret !== undefined) {
      this.validateSecret(secret);
      t.tunnelSecret = secret;
    }
    return { result: this.renderTunnel(t) };
  }

  /**
   * Refused while the API lists connections: 400 code 1022 "Cannot delete tunnel because it has
   * active connections" (terraform-provider-cloudflare#5255). `?cascade=true` deletes them with
   * the tunnel (Cloudflare's Rust client, cloudflare 0.14.0 src/endpoints/cfd_tunnel/delete_tunnel.rs:
   * `cascade` "should delete tunnel connections if any exists"). The provider's delete sends no
   * cascade (terraform-provider-cloudflare v5.19.1 zero_trust_tunnel_cloudflared/resource.go).
   */
  private deleteTunnel(c: Ctx): Reply {
    const t = this.findLiveTunnel(c.params[0], c.params[1]);
    if (this.listedConnections(t).length > 0) {
      if (c.query.get("cascade") !== "true") {
        throw badRequest("Cannot delete tunnel because it has active connections", 1022);
      }
      t.connections = [];
      t.connsInactiveAt = now();
    }
    t.deletedAt = now();
    return { result: this.renderTunnel(t) };
  }

  private tunnelToken(c: Ctx): Reply {
    const t = this.findLiveTunnel(c.params[0], c.params[1]);
    const token = Buffer.from(
      JSON.stringify({ a: t.accountId, t: t.id, s: t.tunnelSecret }),
    ).toString("base64");
    return { result: token };
  }

  /** One entry per connector (client), its connections inside (tunnel_tunnel_client). */
  private listConnections(c: Ctx): Reply {
    const t = this.findTunnel(c.params[0], c.params[1]);
    const byClient = new Map<string, FakeTrackedConnection[]>();
    for (const conn of this.listedConnections(t)) {
      const list = byClient.get(conn.client_id) ?? [];
      list.push(conn);
      byClient.set(conn.client_id, list);
    }
    const version = this.state.configs.get(t.id)?.version ?? 0;
    const clients: Json[] = [...byClient.entries()].map(([clientId, conns]) => ({
      id: clientId,
      arch: "linux_amd64",
      config_version: version,
      conns: conns.map((x) => FakeCloudflareApi.publicConnection(x)),
      features: [],
      run_at: conns[0].opened_at,
      version: conns[0].client_version,
    }));
    return { result: clients };
  }

  /**
   * "Removes a connection (aka Cloudflare Tunnel Connector) from a Cloudflare Tunnel
   * independently of its current state. If no connector id (client_id) is provided all
   * connectors will be removed." (cloudflare-go v6 zero_trust/tunnelcloudflaredconnection.go).
   * A cloudflared that still runs would connect again; the fake leaves that to the test.
   */
  private deleteConnections(c: Ctx): Reply {
    const t = this.findLiveTunnel(c.params[0], c.params[1]);
    const clientId = c.query.get("client_id");
    const before = this.listedConnections(t).length;
    t.connections = clientId ? t.connections.filter((x) => x.client_id !== clientId) : [];
    if (before > 0 && t.connections.length === 0) t.connsInactiveAt = now();
    return { result: null };
  }

  /** No server-filled fields: the config is answered as it was put (none found in any source). */
  private renderConfig(t: FakeTunnel, cfg: FakeTunnelConfig | undefined): JsonObject {
    return {
      account_id: t.accountId,
      tunnel_id: t.id,
      config: cfg ? clone(cfg.config) : null,
      source: cfg?.source ?? t.configSrc,
      version: cfg?.version ?? 0,
      created_at: cfg?.createdAt ?? t.createdAt,
    };
  }

  private getConfig(c: Ctx): Reply {
    const t = this.findTunnel(c.params[0], c.params[1]);
    return { result: this.renderConfig(t, this.state.configs.get(t.id)) };
  }

  /** The ingress rules pass cloudflared's validation (./cloudflare/ingress.ts). */
  private putConfig(c: Ctx): Reply {
    const t = this.findLiveTunnel(c.params[0], c.params[1]);
    const b = bodyObject(c.body);
    const config = b.config ?? {};
    if (!isObject(config)) throw badRequest("config must be an object");
    validateIngress(config.ingress);
    const source = optString(b, "source") ?? "cloudflare";
    const prev = this.state.configs.get(t.id);
    const cfg: FakeTunnelConfig = {
      accountId: t.accountId,
      tunnelId: t.id,
      config: clone(config),
      source,
      version: (prev?.version ?? 0) + 1,
      createdAt: now(),
    };
    this.state.configs.set(t.id, cfg);
    return { result: this.renderConfig(t, cfg) };
  }

  // ---------------------------------------------------------------- DNS

  private findDns(zoneId: string, recordId: string): FakeDnsRecord {
    this.requireZone(zoneId, `/dns_records/${recordId}`);
    const r = this.state.dnsRecords.get(recordId);
    if (!r || r.zoneId !== zoneId) throw err(404, 81044, "Record does not exist.");
    return r;
  }

  /** The API stores names as FQDN inside the zone: "@" is the apex; names outside the zone get the zone appended. */
  private fqdn(zone: FakeZone, name: string): string {
    const n = name.trim().toLowerCase().replace(/\.$/, "");
    if (n === "@" || n === zone.name) return zone.name;
    if (n.endsWith(`.${zone.name}`)) return n;
    return `${n}.${zone.name}`;
  }

  /**
   * A record as the API answers it. Always: id, name, type, content, proxied, ttl, and what the
   * request sent (comment, tags, settings, other fields). No `zone_id`/`zone_name`: "Records
   * returned by the API will no longer contain the `zone_id` and `zone_name` fields" (DNS
   * changelog 2025-01-27, https://developers.cloudflare.com/dns/changelog/), as in cloudflare-go
   * v6 dns/record.go RecordResponse.
   *
   * Server-filled (switchable): `proxiable`, `created_on`, `modified_on`, `meta` (an object with
   * no documented keys since "Removed unused meta fields from DNS records", same changelog
   * 2025-02-02), `comment: null` and `tags: []` when not set (that changelog's example answer),
   * `comment_modified_on`/`tags_modified_on` once set (RecordResponse), and for a proxied CNAME
   * `settings: {ipv4_only: false, ipv6_only: false}`: the provider's comment "The API returns a
   * settings object but omits some sub-fields ... omits the settings object entirely ... for
   * non-proxied CNAME records", "For all other record types the API never returns a settings
   * object" (terraform-provider-cloudflare v5.19.1 internal/services/dns_record/custom.go), and
   * ipv4_only/ipv6_only are the sub-fields that "only applies to proxied records" while
   * flatten_cname "is unavailable for proxied records" (dns_record/schema.go); which sub-fields
   * come back is this fake's reading of those comments.
   */
  private renderDns(r: FakeDnsRecord): JsonObject {
    const out: JsonObject = {
      id: r.id,
      name: r.name,
      type: r.type,
      content: r.content,
      proxied: r.proxied,
      ttl: r.ttl,
    };
    if (r.comment !== null) out.comment = r.comment;
    if (r.tags.length > 0) out.tags = [...r.tags];
    if (Object.keys(r.settings).length > 0) out.settings = clone(r.settings);
    Object.assign(out, clone(r.extra));
    if (!this.serverFilled) return out;
    out.proxiable = ["A", "AAAA", "CNAME"].includes(r.type);
    out.comment = r.comment;
    out.tags = [...r.tags];
    if (r.type === "CNAME" && r.proxied) {
      out.settings = { ipv4_only: false, ipv6_only: false, ...clone(r.settings) };
    }
    out.meta = {};
    out.created_on = r.createdOn;
    out.modified_on = r.modifiedOn;
    if (r.commentModifiedOn) out.comment_modified_on = r.commentModifiedOn;
    if (r.tagsModifiedOn) out.tags_modified_on = r.tagsModifiedOn;
    return out;
  }

  /** Record types of cloudflare-go v6 dns/record.go (RecordNewParams' `type` values). */
  private static readonly DNS_TYPES = new Set([
    "A",
    "AAAA",
    "CAA",
    "CERT",
    "CNAME",
    "DNSKEY",
    "DS",
    "HTTPS",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "OPENPGPKEY",
    "PTR",
    "SMIMEA",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
    "URI",
  ]);

  /** Validates a full record body and returns the normalized record fields. */
  private validateDns(zone: FakeZone, b: JsonObject, selfId?: string) {
    const type = optString(b, "type")?.toUpperCase();
    if (!type) throw dnsErr(9101, "DNS record type is required.");
    if (!FakeCloudflareApi.DNS_TYPES.has(type))
      throw dnsErr(9101, `Invalid DNS record type "${type}".`);
    const rawName = optString(b, "name");
    if (rawName === undefined || rawName.trim() === "")
      throw dnsErr(9005, "DNS record name is required.");
    const name = this.fqdn(zone, rawName);
    if (!isValidHostname(name)) throw dnsErr(9005, `DNS name "${rawName}" is invalid.`);
    const content = optString(b, "content");
    if (type === "CNAME") {
      if (content === undefined || content.trim() === "")
        throw dnsErr(9007, "Content for CNAME record is invalid.");
      if (!isValidHostname(content, false))
        throw dnsErr(9007, `Content for CNAME record is invalid: "${content}" is not a host name.`);
      if (content.toLowerCase().replace(/\.$/, "") === name)
        throw dnsErr(9007, "A CNAME record cannot point to itself.");
    } else if (type === "A") {
      if (!content || !isIPv4(content))
        throw dnsErr(9005, "Content for A record must be a valid IPv4 address.");
    } else if (type === "AAAA") {
      if (!content || !isIPv6(content))
        throw dnsErr(9006, "Content for AAAA record must be a valid IPv6 address.");
    } else if (content === undefined && !isObject(b.data)) {
      throw dnsErr(9000, `Content for ${type} record is required.`);
    }
    // "Only A, AAAA, and CNAME records can be proxied" (https://developers.cloudflare.com/dns/proxy-status/).
    const proxied = optBool(b, "proxied") ?? false;
    if (proxied && !["A", "AAAA", "CNAME"].includes(type)) {
      throw dnsErr(9004, `A ${type} record cannot be proxied.`);
    }
    // "Setting to 1 means 'automatic'. Value must be between 60 and 86400, with the minimum
    // reduced to 30 for Enterprise zones" (cloudflare-go v6 dns/record.go `TTL`). A proxied record
    // keeps TTL 1 whatever is sent: the API accepts another value and answers 1
    // (terraform-provider-cloudflare#126: "ttl: "1" => "300"" after apply; DNSControl/dnscontrol#489:
    // "records are always forced to have a TTL of 1").
    const ttlRaw = b.ttl;
    let ttl = ttlRaw === undefined || ttlRaw === null ? 1 : ttlRaw;
    if (typeof ttl !== "number" || !Number.isInteger(ttl))
      throw dnsErr(9021, "TTL must be an integer.");
    if (ttl !== 1 && (ttl < 60 || ttl > 86400)) {
      throw dnsErr(9021, "TTL must be between 60 and 86400 seconds, or 1 for Automatic.");
    }
    if (proxied) ttl = 1;
    const comment = optString(b, "comment") ?? null;
    const tagsRaw = b.tags;
    let tags: string[] = [];
    if (tagsRaw !== undefined && tagsRaw !== null) {
      if (!Array.isArray(tagsRaw) || tagsRaw.some((t) => typeof t !== "string")) {
        throw dnsErr(9103, "tags must be a list of strings (name:value).");
      }
      tags = tagsRaw as string[];
    }
    const settings = isObject(b.settings) ? clone(b.settings) : {};

    // "A/AAAA records cannot exist on the same name as CNAME records" (dns-records-for-a-zone-
    // create-dns-record); the codes and messages are the API's as users quote them.
    for (const other of this.state.dnsRecords.values()) {
      if (other.zoneId !== zone.id || other.id === selfId || other.name !== name) continue;
      const addr = ["A", "AAAA", "CNAME"];
      if (
        (type === "CNAME" && addr.includes(other.type)) ||
        (other.type === "CNAME" && addr.includes(type))
      ) {
        throw err(400, 81053, "An A, AAAA, or CNAME record with that host already exists.");
      }
      if (other.type === type && other.content === (content ?? "")) {
        throw err(400, 81058, "An identical record already exists.");
      }
    }

    const known = new Set([
      "name",
      "type",
      "content",
      "proxied",
      "ttl",
      "comment",
      "tags",
      "settings",
      "id",
      "zone_id",
      "zone_name",
      "proxiable",
      "meta",
      "created_on",
      "modified_on",
      "comment_modified_on",
      "tags_modified_on",
    ]);
    const extra: JsonObject = {};
    for (const [k, v] of Object.entries(b)) if (!known.has(k) && v !== null) extra[k] = clone(v);
    return { type, name, content: content ?? "", proxied, ttl, comment, tags, settings, extra };
  }

  /**
   * A record pointing at a tunnel is accepted whatever account the tunnel is in, or whether it
   * exists: the DNS API does not look (see `tunnelRouteFor` for where the traffic goes).
   * Create answers 200 (dns-records-for-a-zone-create-dns-record).
   */
  private createDns(c: Ctx): Reply {
    const zone = this.requireZone(c.params[0], "/dns_records");
    const v = this.validateDns(zone, bodyObject(c.body));
    const ts = now();
    const r: FakeDnsRecord = {
      id: hex(16),
      zoneId: zone.id,
      ...v,
      createdOn: ts,
      modifiedOn: ts,
      commentModifiedOn: v.comment !== null ? ts : null,
      tagsModifiedOn: v.tags.length > 0 ? ts : null,
    };
    this.state.dnsRecords.set(r.id, r);
    return { result: this.renderDns(r) };
  }

  private updateDns(c: Ctx, patch: boolean): Reply {
    const r = this.findDns(c.params[0], c.params[1]);
    const zone = this.requireZone(r.zoneId);
    const sent = bodyObject(c.body);
    const b: JsonObject = patch
      ? {
          name: r.name,
          type: r.type,
          content: r.content,
          proxied: r.proxied,
          ttl: r.ttl,
          comment: r.comment,
          tags: [...r.tags],
          settings: clone(r.settings),
          ...clone(r.extra),
          ...sent,
        }
      : { ...sent };
    if (b.type === undefined) b.type = r.type;
    const v = this.validateDns(zone, b, r.id);
    const ts = now();
    if (v.comment !== r.comment) r.commentModifiedOn = v.comment !== null ? ts : null;
    if (JSON.stringify(v.tags) !== JSON.stringify(r.tags))
      r.tagsModifiedOn = v.tags.length > 0 ? ts : null;
    Object.assign(r, v, { modifiedOn: ts });
    return { result: this.renderDns(r) };
  }

  private listDns(c: Ctx): Reply {
    const zone = this.requireZone(c.params[0], "/dns_records");
    const q = c.query;
    const match = q.get("match");
    const records = [...this.state.dnsRecords.values()]
      .filter((r) => r.zoneId === zone.id)
      .filter((r) => {
        const checks: boolean[] = [];
        const type = q.get("type");
        if (type) checks.push(r.type === type.toUpperCase());
        const name = q.get("name") ?? q.get("name.exact");
        if (name) checks.push(r.name === this.fqdn(zone, name));
        const nameContains = q.get("name.contains");
        if (nameContains) checks.push(r.name.includes(nameContains.toLowerCase()));
        const nameStarts = q.get("name.startswith");
        if (nameStarts) checks.push(r.name.startsWith(nameStarts.toLowerCase()));
        const nameEnds = q.get("name.endswith");
        if (nameEnds) checks.push(r.name.endsWith(nameEnds.toLowerCase()));
        const content = q.get("content") ?? q.get("content.exact");
        if (content) checks.push(r.content === content);
        const proxied = q.get("proxied");
        if (proxied) checks.push(String(r.proxied) === proxied);
        const comment = q.get("comment") ?? q.get("comment.exact");
        if (comment) checks.push(r.comment === comment);
        const tag = q.get("tag") ?? q.get("tag.exact");
        if (tag) checks.push(r.tags.includes(tag));
        return combine(checks, match);
      });
    records.sort((a, b) =>
      a.type === b.type ? a.name.localeCompare(b.name) : a.type.localeCompare(b.type),
    );
    const { page, info } = paginate(records, q, { defaultPerPage: 100, maxPerPage: 5000 });
    return { result: page.map((r) => this.renderDns(r)), resultInfo: info };
  }

  // ---------------------------------------------------------------- Access: policies

  private findPolicy(accountId: string, policyId: string): FakeAccessPolicy {
    this.requireAccount(accountId);
    const p = this.state.accessPolicies.get(policyId);
    if (!p || p.accountId !== accountId || !p.reusable)
      throw err(404, 12130, "access.api.error.not_found: policy not found");
    return p;
  }

  private appsUsingPolicy(policyId: string): FakeAccessApp[] {
    return [...this.state.accessApps.values()].filter((a) =>
      this.policyRefs(a.body).some((ref) => ref.id === policyId),
    );
  }

  /**
   * A policy as the API answers it: id and what was sent; inside an app, its `precedence`.
   * Server-filled (switchable): `exclude: []`, `require: []`, `approval_groups: []`,
   * `approval_required: false`, `isolation_required: false`, `purpose_justification_required:
   * false` (the provider normalizes exactly these from the API's empty and false values,
   * terraform-provider-cloudflare v5.19.1 zero_trust_access_policy/normalizations.go),
   * `session_duration: "24h"` (computed in the provider's model), `reusable`, `app_count`,
   * `created_at`, `updated_at`.
   */
  private renderPolicy(p: FakeAccessPolicy, precedence?: number): JsonObject {
    const body = clone(p.body);
    delete body.__app_id;
    const out: JsonObject = this.serverFilled
      ? {
          id: p.id,
          exclude: [],
          require: [],
          approval_groups: [],
          approval_required: false,
          isolation_required: false,
          purpose_justification_required: false,
          session_duration: "24h",
          ...body,
          reusable: p.reusable,
          app_count: p.reusable ? this.appsUsingPolicy(p.id).length : 1,
          created_at: p.createdAt,
          updated_at: p.updatedAt,
        }
      : { id: p.id, ...body };
    if (precedence !== undefined) out.precedence = precedence;
    return out;
  }

  private validatePolicyBody(accountId: string, b: JsonObject): JsonObject {
    const name = optString(b, "name");
    if (!name || name.trim() === "")
      throw err(400, 12130, "access.api.error.invalid_request: name is required");
    const decision = optString(b, "decision");
    const decisions = ["allow", "deny", "non_identity", "bypass"];
    if (!decision || !decisions.includes(decision)) {
      throw err(
        400,
        12130,
        `access.api.error.invalid_request: decision must be one of ${decisions.join(", ")}`,
      );
    }
    const include = b.include;
    if (!Array.isArray(include) || include.length === 0) {
      throw err(
        400,
        12130,
        "access.api.error.invalid_request: include must contain at least one rule",
      );
    }
    for (const key of ["include", "exclude", "require"]) {
      const rules = b[key];
      if (rules === undefined || rules === null) continue;
      if (!Array.isArray(rules))
        throw err(400, 12130, `access.api.error.invalid_request: ${key} must be a list`);
      for (const rule of rules) {
        if (!isObject(rule) || Object.keys(rule).length === 0) {
          throw err(400, 12130, `access.api.error.invalid_request: empty rule in ${key}`);
        }
        const st = rule.service_token;
        if (isObject(st)) {
          const tokenId = st.token_id;
          const tok =
            typeof tokenId === "string" ? this.state.serviceTokens.get(tokenId) : undefined;
          if (!tok || tok.scope !== "accounts" || tok.scopeId !== accountId) {
            throw err(
              400,
              12130,
              `access.api.error.invalid_request: service token ${String(tokenId)} not found`,
            );
          }
        }
      }
    }
    if (decision === "non_identity") {
      const ok = (include as Json[]).every(
        (r) =>
          isObject(r) &&
          (isObject(r.service_token) ||
            isObject(r.any_valid_service_token) ||
            isObject(r.ip) ||
            isObject(r.certificate) ||
            isObject(r.ip_list) ||
            isObject(r.everyone)),
      );
      if (!ok) {
        throw err(
          400,
          12130,
          "access.api.error.invalid_request: non_identity policies may only include non-identity rules (service tokens, IPs, certificates)",
        );
      }
    }
    return clone(b);
  }

  /** 201 Created (access-policies-create-an-access-reusable-policy: "201"). */
  private createPolicy(c: Ctx): Reply {
    const accountId = c.params[0];
    this.requireAccount(accountId);
    const body = this.validatePolicyBody(accountId, bodyObject(c.body));
    const ts = now();
    const p: FakeAccessPolicy = {
      id: randomUUID(),
      accountId,
      body,
      reusable: true,
      createdAt: ts,
      updatedAt: ts,
    };
    this.state.accessPolicies.set(p.id, p);
    return { status: 201, result: this.renderPolicy(p) };
  }

  private listPolicies(c: Ctx): Reply {
    const accountId = c.params[0];
    this.requireAccount(accountId);
    const items = [...this.state.accessPolicies.values()].filter(
      (p) => p.accountId === accountId && p.reusable,
    );
    const { page, info } = paginate(items, c.query, { defaultPerPage: 25, maxPerPage: 1000 });
    return { result: page.map((p) => this.renderPolicy(p)), resultInfo: info };
  }

  private updatePolicy(c: Ctx): Reply {
    const p = this.findPolicy(c.params[0], c.params[1]);
    p.body = this.validatePolicyBody(p.accountId, bodyObject(c.body));
    p.updatedAt = now();
    return { result: this.renderPolicy(p) };
  }

  /** 202 Accepted with `{id}` (access-policies-delete-an-access-reusable-policy: "202"). */
  private deletePolicy(c: Ctx): Reply {
    const p = this.findPolicy(c.params[0], c.params[1]);
    const users = this.appsUsingPolicy(p.id);
    if (users.length > 0) {
      throw err(
        400,
        12130,
        `access.api.error.conflict: policy ${p.id} is used by ${users.length} application(s) (${users.map((a) => a.id).join(", ")}); detach it first`,
      );
    }
    this.state.accessPolicies.delete(p.id);
    return { status: 202, result: { id: p.id } };
  }

  // ---------------------------------------------------------------- Access: applications

  private findApp(scope: Scope, scopeId: string, appId: string): FakeAccessApp {
    this.requireScope(scope, scopeId);
    const a = this.state.accessApps.get(appId);
    if (!a || a.scope !== scope || a.scopeId !== scopeId)
      throw err(404, 12130, "access.api.error.not_found: application not found");
    return a;
  }

  /** The policy references of an app body: strings or {id, precedence}. */
  private policyRefs(body: JsonObject): { id: string; precedence?: number }[] {
    const refs = body.policies;
    if (!Array.isArray(refs)) return [];
    const out: { id: string; precedence?: number }[] = [];
    for (const r of refs) {
      if (typeof r === "string") out.push({ id: r });
      else if (isObject(r) && typeof r.id === "string") {
        out.push({
          id: r.id,
          precedence: typeof r.precedence === "number" ? r.precedence : undefined,
        });
      }
    }
    return out;
  }

  private static readonly SELF_HOSTED_TYPES = ["self_hosted", "ssh", "vnc", "rdp"];

  /** The host names an app body secures: `domain`, `self_hosted_domains`, public `destinations`. */
  private static appHostnames(body: JsonObject): string[] {
    const uris: string[] = [];
    if (typeof body.domain === "string") uris.push(body.domain);
    if (Array.isArray(body.self_hosted_domains)) {
      for (const d of body.self_hosted_domains) if (typeof d === "string") uris.push(d);
    }
    if (Array.isArray(body.destinations)) {
      for (const d of body.destinations) {
        if (isObject(d) && (d.type ?? "public") === "public" && typeof d.uri === "string")
          uris.push(d.uri);
      }
    }
    // "mqtt.example.com/path", "*.example.com:8443" -> the host, without a leading "*."
    return uris.map((u) =>
      u
        .replace(/[:/].*$/, "")
        .replace(/^\*\./, "")
        .toLowerCase(),
    );
  }

  /**
   * Every host name of a self-hosted app must lie in an ACTIVE zone of the app's account (or be
   * in the app's zone, for a zone-scoped app). Otherwise: 400 code 12130
   * "access.api.error.invalid_request: domain does not belong to zone". Reported for a
   * hostname on a pending zone, "and the identical create succeeds the moment the zone is
   * active", and for hostnames of zones the account does not own (pages.dev, workers.dev) in
   * public deployment notes found by exact-string search (no repository path is given for
   * them); terraform-provider-cloudflare#5181 is a refused pages.dev destination.
   */
  private requireAppDomainsInZone(scope: Scope, scopeId: string, body: JsonObject): void {
    const zones =
      scope === "zones"
        ? [this.state.zones.get(scopeId)!]
        : [...this.state.zones.values()].filter((z) => z.accountId === scopeId);
    for (const host of FakeCloudflareApi.appHostnames(body)) {
      const ok = zones.some((z) => z.status === "active" && inZone(host, z.name));
      if (!ok) {
        throw err(400, 12130, "access.api.error.invalid_request: domain does not belong to zone");
      }
    }
  }

  private validateAppBody(scope: Scope, scopeId: string, b: JsonObject, appId: string): JsonObject {
    const body = clone(b);
    const type = optString(body, "type") ?? "self_hosted";
    const types = [
      ...FakeCloudflareApi.SELF_HOSTED_TYPES,
      "saas",
      "bookmark",
      "app_launcher",
      "warp",
      "biso",
      "dash_sso",
      "infrastructure",
      "mcp",
      "mcp_portal",
      "proxy_endpoint",
    ];
    if (!types.includes(type))
      throw err(400, 12130, `access.api.error.invalid_request: unknown application type "${type}"`);
    if (FakeCloudflareApi.SELF_HOSTED_TYPES.includes(type)) {
      const domain = optString(body, "domain");
      const hasOther =
        (Array.isArray(body.self_hosted_domains) && body.self_hosted_domains.length > 0) ||
        (Array.isArray(body.destinations) && body.destinations.length > 0);
      if (!domain && !hasOther)
        throw err(
          400,
          12130,
          "access.api.error.invalid_request: domain is required for self_hosted applications",
        );
      if (domain && !/^(\*\.)?[a-z0-9_.-]+(:\d+)?(\/\S*)?$/i.test(domain)) {
        throw err(
          400,
          12130,
          `access.api.error.invalid_request: "${domain}" is not a valid application domain`,
        );
      }
      if (domain && !isValidHostname(domain.replace(/[:/].*$/, ""))) {
        throw err(
          400,
          12130,
          `access.api.error.invalid_request: "${domain}" is not a valid application domain`,
        );
      }
      const name = optString(body, "name");
      if (!name || name.trim() === "")
        throw err(400, 12130, "access.api.error.invalid_request: name is required");
      this.requireAppDomainsInZone(scope, scopeId, body);
    }
    const policies = body.policies;
    if (policies !== undefined && policies !== null) {
      if (!Array.isArray(policies))
        throw err(400, 12130, "access.api.error.invalid_request: policies must be a list");
      body.policies = policies.map((ref, i): JsonObject => {
        if (
          typeof ref === "string" ||
          (isObject(ref) && typeof ref.id === "string" && ref.id !== "")
        ) {
          const id = typeof ref === "string" ? ref : ((ref as JsonObject).id as string);
          const p = this.state.accessPolicies.get(id);
          if (!p || (p.reusable && (scope !== "accounts" || p.accountId !== scopeId))) {
            throw err(400, 12130, `access.api.error.invalid_request: policy ${id} not found`);
          }
          return typeof ref === "string"
            ? { id, precedence: i + 1 }
            : { precedence: i + 1, ...ref };
        }
        if (isObject(ref)) {
          // a legacy inline (non-reusable) policy: stored and given an id
          const inlineBody = this.validatePolicyBody(scope === "accounts" ? scopeId : "", ref);
          inlineBody.__app_id = appId;
          const ts = now();
          const p: FakeAccessPolicy = {
            id: randomUUID(),
            accountId: scopeId,
            body: inlineBody,
            reusable: false,
            createdAt: ts,
            updatedAt: ts,
          };
          delete p.body.id;
          this.state.accessPolicies.set(p.id, p);
          return {
            id: p.id,
            precedence: typeof ref.precedence === "number" ? ref.precedence : i + 1,
          };
        }
        throw err(
          400,
          12130,
          "access.api.error.invalid_request: policies entries must be policy ids or objects",
        );
      });
    }
    body.type = type;
    return body;
  }

  /**
   * An app as the API answers it: id, aud, type and what was sent, its policies expanded.
   * Server-filled (switchable):
   * - `allowed_idps: []`, `tags: []`, `policies: []` when not set; `auto_redirect_to_identity`,
   *   `enable_binding_cookie`, `options_preflight_bypass`, `service_auth_401_redirect`: false;
   *   for self-hosted types `http_only_cookie_attribute: true`, `skip_interstitial`,
   *   `allow_iframe`, `path_cookie_attribute`: false. The provider normalizes exactly these
   *   between the API's value and null ("The API might return an empty array"; terraform-
   *   provider-cloudflare v5.19.1 zero_trust_access_application/normalizations.go).
   * - `app_launcher_visible: true`, `session_duration: "24h"`, `self_hosted_domains: [domain]`,
   *   `destinations: [{type: "public", uri: domain}]`: computed in the provider's model
   *   (zero_trust_access_application/model.go) and the values of an app the dashboard created
   *   (terraform-provider-cloudflare#5181: `"app_launcher_visible": true, "allowed_idps": [],
   *   "tags": [], "auto_redirect_to_identity": false, "session_duration": "24h"`,
   *   `"destinations": [{"uri": ..., "type": "public"}]`).
   * - `created_at`, `updated_at` (same answer).
   * Not added: `allow_authenticate_via_warp`, `same_site_cookie_attribute`: optional only in the
   * provider, not normalized, so the API leaves them out when unset;
   * `skip_app_launcher_login_page`: app_launcher apps only (its validator).
   */
  private renderApp(a: FakeAccessApp): JsonObject {
    const b = clone(a.body);
    const type = (b.type as string | undefined) ?? "self_hosted";
    let out: JsonObject = { id: a.id, aud: a.aud, ...b, type };
    if (this.serverFilled) {
      const selfHosted = FakeCloudflareApi.SELF_HOSTED_TYPES.includes(type);
      const domain = typeof b.domain === "string" ? b.domain : undefined;
      out = {
        id: a.id,
        aud: a.aud,
        type,
        allowed_idps: [],
        tags: [],
        auto_redirect_to_identity: false,
        enable_binding_cookie: false,
        options_preflight_bypass: false,
        service_auth_401_redirect: false,
        app_launcher_visible: true,
        session_duration: "24h",
        ...(selfHosted
          ? {
              http_only_cookie_attribute: true,
              skip_interstitial: false,
              allow_iframe: false,
              path_cookie_attribute: false,
              self_hosted_domains: domain ? [domain] : [],
              destinations: domain ? [{ type: "public", uri: domain }] : [],
            }
          : {}),
        ...b,
        created_at: a.createdAt,
        updated_at: a.updatedAt,
      };
    }
    if (Array.isArray(b.policies)) {
      out.policies = this.policyRefs(b).map((ref, i) => {
        const p = this.state.accessPolicies.get(ref.id);
        return p
          ? this.renderPolicy(p, ref.precedence ?? i + 1)
          : { id: ref.id, precedence: ref.precedence ?? i + 1 };
      });
    } else if (this.serverFilled) {
      out.policies = [];
    }
    return out;
  }

  /**
   * 201 Created (access-applications-add-an-application and zone-level-access-applications-add-
   * a-bookmark-application: "201"); cloudflare-go v6 takes any status below 400 as success
   * (internal/requestconfig/requestconfig.go), the provider checks none.
   */
  private createApp(scope: Scope, c: Ctx): Reply {
    const scopeId = c.params[0];
    this.requireScope(scope, scopeId);
    const id = randomUUID();
    const body = this.validateAppBody(scope, scopeId, bodyObject(c.body), id);
    const ts = now();
    const a: FakeAccessApp = {
      id,
      scope,
      scopeId,
      aud: hex(32),
      body,
      createdAt: ts,
      updatedAt: ts,
    };
    this.state.accessApps.set(a.id, a);
    return { status: 201, result: this.renderApp(a) };
  }

  private updateApp(scope: Scope, c: Ctx): Reply {
    const a = this.findApp(scope, c.params[0], c.params[1]);
    const sent = bodyObject(c.body);
    const oldInline = this.policyRefs(a.body)
      .map((r) => this.state.accessPolicies.get(r.id))
      .filter((p): p is FakeAccessPolicy => p !== undefined && !p.reusable);
    // "null policies leaves them untouched" (documented API quirk the provider works around)
    const merged: JsonObject =
      sent.policies === undefined || sent.policies === null
        ? { ...sent, policies: a.body.policies ?? [] }
        : sent;
    const body = this.validateAppBody(a.scope, a.scopeId, merged, a.id);
    const keep = new Set(this.policyRefs(body).map((r) => r.id));
    for (const p of oldInline) if (!keep.has(p.id)) this.state.accessPolicies.delete(p.id);
    a.body = body;
    a.updatedAt = now();
    return { result: this.renderApp(a) };
  }

  /**
   * 202 Accepted with `{id}` (access-applications-delete-an-access-application and
   * zone-level-access-applications-delete-an-access-application: "202", access_id_response).
   */
  private deleteApp(scope: Scope, c: Ctx): Reply {
    const app = this.findApp(scope, c.params[0], c.params[1]);
    this.state.accessApps.delete(app.id);
    for (const p of this.state.accessPolicies.values()) {
      if (!p.reusable && p.body.__app_id === app.id) this.state.accessPolicies.delete(p.id);
    }
    return { status: 202, result: { id: app.id } };
  }

  private listApps(scope: Scope, c: Ctx): Reply {
    const scopeId = c.params[0];
    this.requireScope(scope, scopeId);
    const items = [...this.state.accessApps.values()].filter(
      (a) => a.scope === scope && a.scopeId === scopeId,
    );
    const { page, info } = paginate(items, c.query, { defaultPerPage: 25, maxPerPage: 1000 });
    return { result: page.map((a) => this.renderApp(a)), resultInfo: info };
  }

  // ---------------------------------------------------------------- Access: service tokens

  private findServiceToken(scope: Scope, scopeId: string, tokenId: string): FakeServiceToken {
    this.requireScope(scope, scopeId);
    const t = this.state.serviceTokens.get(tokenId);
    if (!t || t.scope !== scope || t.scopeId !== scopeId)
      throw err(404, 12130, "access.api.error.not_found: service token not found");
    return t;
  }

  private static expiry(duration: string, fromMs: number): string {
    return new Date(fromMs + (parseDuration(duration) ?? 0)).toISOString();
  }

  /**
   * A service token as the API answers it: `id`, `name`, `client_id`, `duration`, `expires_at`
   * (cloudflare-go v6 zero_trust/accessservicetoken.go ServiceToken), `client_secret` only from
   * create, rotate, and an update that changed `client_secret_version` ("This is the only time
   * you can get the Client Secret", access-service-tokens-create-a-service-token; "New secret
   * happens on Create and if Version changes", terraform-provider-cloudflare v5.19.1
   * zero_trust_access_service_token/resource.go). Server-filled (switchable): `created_at`,
   * `updated_at`, `last_seen_at`, `client_secret_version`, and `previous_client_secret_expires_at`
   * once set (the answer's fields in cloudflare-go v0.116.0 access_service_tokens.go,
   * AccessServiceToken; the provider reads none of them back: model.go marks the version
   * no_refresh).
   */
  private renderServiceToken(t: FakeServiceToken, withSecret = false): JsonObject {
    const out: JsonObject = {
      id: t.id,
      name: t.name,
      client_id: t.clientId,
      duration: t.duration,
      expires_at: t.expiresAt,
    };
    if (this.serverFilled) {
      out.created_at = t.createdAt;
      out.updated_at = t.updatedAt;
      out.last_seen_at = t.lastSeenAt;
      out.client_secret_version = t.clientSecretVersion;
      if (t.previousSecretExpiresAt !== null)
        out.previous_client_secret_expires_at = t.previousSecretExpiresAt;
    }
    if (withSecret) out.client_secret = t.clientSecret;
    return out;
  }

  /** "Must be in the format `300ms` or `2h45m`" (see parseDuration). */
  private validateDurationField(b: JsonObject): string | undefined {
    const duration = optString(b, "duration");
    if (duration !== undefined && parseDuration(duration) === undefined) {
      throw err(
        400,
        12130,
        `access.api.error.invalid_request: duration "${duration}" must be in the format 300ms or 2h45m`,
      );
    }
    return duration;
  }

  private static optTime(b: JsonObject, key: string): string | undefined {
    const v = optString(b, key);
    if (v === undefined) return undefined;
    if (Number.isNaN(Date.parse(v)))
      throw err(400, 12130, `access.api.error.invalid_request: ${key} must be a date-time`);
    return new Date(v).toISOString();
  }

  /**
   * Sets a new secret; the previous one stays valid until `previousExpiresAt`: "If not provided,
   * it defaults to the current timestamp in order to immediately expire the previous secret"
   * (access-service-tokens-rotate-a-service-token, `previous_client_secret_expires_at`).
   */
  private static newSecret(t: FakeServiceToken, previousExpiresAt: string | undefined): void {
    t.previousClientSecret = t.clientSecret;
    t.previousSecretExpiresAt = previousExpiresAt ?? now();
    t.clientSecret = hex(32);
  }

  /**
   * 201 Created (access-service-tokens-create-a-service-token; the zone-level create too).
   * `duration` defaults to "8760h" ("The default is 1 year in hours (8760h)") and `expires_at`
   * is creation + duration; `client_secret_version` defaults to 1 (the provider's default,
   * zero_trust_access_service_token/schema.go).
   */
  private createServiceToken(scope: Scope, c: Ctx): Reply {
    const scopeId = c.params[0];
    this.requireScope(scope, scopeId);
    const b = bodyObject(c.body);
    const name = optString(b, "name");
    if (!name || name.trim() === "")
      throw err(400, 12130, "access.api.error.invalid_request: name is required");
    const duration = this.validateDurationField(b) ?? "8760h";
    const version = b.client_secret_version;
    const created = Date.now();
    const ts = new Date(created).toISOString();
    const t: FakeServiceToken = {
      id: randomUUID(),
      scope,
      scopeId,
      name,
      clientId: `${hex(16)}.access`,
      clientSecret: hex(32),
      clientSecretVersion: typeof version === "number" && version >= 1 ? version : 1,
      previousClientSecret: null,
      previousSecretExpiresAt:
        FakeCloudflareApi.optTime(b, "previous_client_secret_expires_at") ?? null,
      duration,
      createdAt: ts,
      updatedAt: ts,
      expiresAt: FakeCloudflareApi.expiry(duration, created),
      lastSeenAt: null,
    };
    this.state.serviceTokens.set(t.id, t);
    return { status: 201, result: this.renderServiceToken(t, true) };
  }

  /**
   * PUT: name, duration, and the rotation the provider drives: "A version number identifying the
   * current `client_secret` ... Incrementing it triggers a rotation; the previous secret will
   * still be accepted until the time indicated by `previous_client_secret_expires_at`", which
   * "can be modified at any point after a rotation" (cloudflare-go v6
   * AccessServiceTokenUpdateParams). The provider sends both together (its AlsoRequires
   * validators, schema.go). A new `duration` counts from the token's creation (no source).
   */
  private updateServiceToken(scope: Scope, c: Ctx): Reply {
    const t = this.findServiceToken(scope, c.params[0], c.params[1]);
    const b = bodyObject(c.body);
    const name = optString(b, "name");
    if (name !== undefined) {
      if (name.trim() === "")
        throw err(400, 12130, "access.api.error.invalid_request: name must not be empty");
      t.name = name;
    }
    const duration = this.validateDurationField(b);
    const previousExpiresAt = FakeCloudflareApi.optTime(b, "previous_client_secret_expires_at");
    t.updatedAt = now();
    if (duration !== undefined && duration !== t.duration) {
      t.duration = duration;
      t.expiresAt = FakeCloudflareApi.expiry(duration, Date.parse(t.createdAt));
    }
    const version = b.client_secret_version;
    let rotated = false;
    if (typeof version === "number" && version > t.clientSecretVersion) {
      FakeCloudflareApi.newSecret(t, previousExpiresAt);
      t.clientSecretVersion = version;
      rotated = true;
    } else if (previousExpiresAt !== undefined && t.previousClientSecret !== null) {
      t.previousSecretExpiresAt = previousExpiresAt;
    }
    return { result: this.renderServiceToken(t, rotated) };
  }

  /**
   * POST .../rotate `{previous_client_secret_expires_at?}`: "Generates a new Client Secret for a
   * service token and revokes the old one" (at that time), answers 200 with the new secret
   * (access_create_response); the version goes up by one.
   */
  private rotateServiceToken(c: Ctx): Reply {
    const t = this.findServiceToken("accounts", c.params[0], c.params[1]);
    const b = bodyObject(c.body);
    FakeCloudflareApi.newSecret(
      t,
      FakeCloudflareApi.optTime(b, "previous_client_secret_expires_at"),
    );
    t.clientSecretVersion += 1;
    t.updatedAt = now();
    return { result: this.renderServiceToken(t, true) };
  }

  /** POST .../refresh: "Refreshes the expiration of a service token": now + duration. */
  private refreshServiceToken(c: Ctx): Reply {
    const t = this.findServiceToken("accounts", c.params[0], c.params[1]);
    const at = Date.now();
    t.updatedAt = new Date(at).toISOString();
    t.expiresAt = FakeCloudflareApi.expiry(t.duration, at);
    return { result: this.renderServiceToken(t) };
  }

  private listServiceTokens(scope: Scope, c: Ctx): Reply {
    const scopeId = c.params[0];
    this.requireScope(scope, scopeId);
    const q = c.query;
    const items = [...this.state.serviceTokens.values()].filter(
      (t) =>
        t.scope === scope && t.scopeId === scopeId && (!q.get("name") || t.name === q.get("name")),
    );
    const { page, info } = paginate(items, q, { defaultPerPage: 25, maxPerPage: 1000 });
    return { result: page.map((t) => this.renderServiceToken(t)), resultInfo: info };
  }
}

// ---------------------------------------------------------------- CLI

function isRunDirectly(): boolean {
  try {
    if (typeof require !== "undefined" && typeof module !== "undefined" && require.main === module)
      return true;
  } catch {
    // not CommonJS
  }
  return /cloudflareApi\.(?:ts|js|mjs|cjs)$/.test(process.argv[1] ?? "");
}

function parseCli(argv: string[]): {
  port: number;
  zones: string[];
  accounts: string[];
  token?: string;
} {
  const out: { port: number; zones: string[]; accounts: string[]; token?: string } = {
    port: 8787,
    zones: [],
    accounts: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--port":
        out.port = Number(value());
        break;
      case "--zone":
        out.zones.push(value());
        break;
      case "--account":
        out.accounts.push(value());
        break;
      case "--token":
        out.token = value();
        break;
      case "--help":
      case "-h":
        process.stdout.write(
          "usage: cloudflareApi.ts [--port 8787] [--zone example.com]... [--account <32-hex id>]... [--token <api token>]\n",
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return out;
}

if (isRunDirectly()) {
  const args = parseCli(process.argv.slice(2));
  const accounts = args.accounts.length > 0 ? args.accounts : ["0123456789abcdef0123456789abcdef"];
  const fake = new FakeCloudflareApi({
    accounts,
    zones: args.zones.map((name) => ({ name, accountId: accounts[0] })),
    apiToken: args.token,
  });
  fake.start(args.port).then(
    (url) => {
      process.stdout.write(`${url}\n`);
      for (const z of fake.state.zones.values()) {
        process.stderr.write(`zone ${z.name} id=${z.id} account=${z.accountId}\n`);
      }
      const shutdown = (): void => {
        void fake.stop().then(() => process.exit(0));
      };
      process.on("SIGINT", shutdown);
      process.on("SIGTERM", shutdown);
    },
    (e: unknown) => {
      process.stderr.write(`failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
