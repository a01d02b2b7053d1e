/**
 * A local, stateful fake of the parts of the Cloudflare v4 API that
 * @pulumi/cloudflare 6.x (terraform-provider-cloudflare v5, Stainless cloudflare-go client)
 * calls for Cloudflare Tunnels, their remote configuration, DNS records, zones and
 * Zero Trust Access applications / policies / service tokens, and the two zone settings the
 * program checks before it deploys (the `websockets` setting and Bot Fight Mode).
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

export interface FakeCloudflareOptions {
  accounts?: string[];
  zones?: {
    id?: string;
    name: string;
    accountId: string;
    /** The zone's `websockets` setting; default "on" (Cloudflare's default). */
    websockets?: "on" | "off";
    /** Bot Fight Mode (`bot_management.fight_mode`); default false. */
    fightMode?: boolean;
  }[];
  apiToken?: string;
}

/** What tests may set on a zone with `setZoneSettings`. */
export interface FakeZoneSettings {
  websockets?: "on" | "off";
  fightMode?: boolean;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface CfError {
  code: number;
  message: string;
  error_chain?: CfError[];
}

export interface FakeZone {
  id: string;
  name: string;
  accountId: string;
  status: "active" | "pending";
  createdOn: string;
  /** `GET|PATCH /zones/{id}/settings/websockets` */
  websockets: "on" | "off";
  websocketsModifiedOn: string | null;
  /** `GET /zones/{id}/bot_management` `fight_mode` */
  fightMode: boolean;
}

/** One connection of a connector (cloudflared replica) to the Cloudflare edge. */
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
  /** Tests may push connections here; deleting the tunnel then fails (code 1022) unless `?cascade=true`. */
  connections: FakeTunnelConnection[];
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
  duration: string;
  createdAt: string;
  updatedAt: string;
  expiresAt: string | null;
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

/** Thrown by handlers; turned into the Cloudflare error envelope. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: CfError[],
  ) {
    super(errors.map((e) => `${e.code}: ${e.message}`).join("; "));
  }
}

const err = (status: number, code: number, message: string): ApiError =>
  new ApiError(status, [{ code, message }]);

/** DNS validation errors come wrapped in code 1004 with an error_chain, like the real API. */
const dnsErr = (code: number, message: string): ApiError =>
  new ApiError(400, [
    { code: 1004, message: "DNS Validation Error", error_chain: [{ code, message }] },
  ]);

const badRequest = (message: string, code = 1001): ApiError => err(400, code, message);

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
  pattern: RegExp;
  handler: Handler;
}

const API_PREFIX = "/client/v4";
const ID = "([^/]+)";

const now = (): string => new Date().toISOString();
const hex = (bytes: number): string => randomBytes(bytes).toString("hex");
const clone = <T extends Json>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bodyObject(ctx: Ctx): JsonObject {
  if (ctx.body === undefined) return {};
  if (!isObject(ctx.body)) throw badRequest("Request body must be a JSON object", 6007);
  return ctx.body;
}

function optString(o: JsonObject, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badRequest(`'${key}' must be a string`);
  return v;
}

function optBool(o: JsonObject, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badRequest(`'${key}' must be a boolean`);
  return v;
}

/** Decodes standard or URL-safe base64 (padding optional); null when it is not base64. */
export function decodeBase64(s: string): Buffer | null {
  const norm = s.trim().replace(/-/g, "+").replace(/_/g, "/");
  const m = /^([A-Za-z0-9+/]*)(={0,2})$/.exec(norm);
  if (!m || m[1].length === 0) return null;
  const data = m[1];
  if (data.length % 4 === 1) return null;
  if (m[2].length > 0 && (data.length + m[2].length) % 4 !== 0) return null;
  return Buffer.from(data, "base64");
}

const LABEL = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$/;

/** A DNS host name: labels of letters, digits, '-' and '_', an optional leading "*" label. */
export function isValidHostname(name: string, allowWildcard = true): boolean {
  const n = name.toLowerCase().replace(/\.$/, "");
  if (n.length === 0 || n.length > 253) return false;
  const labels = n.split(".");
  return labels.every((l, i) => (allowWildcard && i === 0 && l === "*") || LABEL.test(l));
}

/** Go time.Duration syntax ("8760h", "2h45m", "300ms") or "forever"; milliseconds, or null for forever. */
function parseDuration(s: string): number | null | undefined {
  if (s === "forever") return null;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unit: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1e3,
    m: 6e4,
    h: 3.6e6,
  };
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * unit[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== s.length || s.length === 0) return undefined;
  return total;
}

interface PageOpts {
  defaultPerPage: number;
  maxPerPage: number;
}

function paginate<T>(
  items: T[],
  query: URLSearchParams,
  opts: PageOpts,
): { page: T[]; info: JsonObject } {
  const rawPage = Number(query.get("page") ?? "1");
  const rawPer = Number(query.get("per_page") ?? String(opts.defaultPerPage));
  const page = Number.isFinite(rawPage) && rawPage >= 1 ? Math.floor(rawPage) : 1;
  const perPage =
    Number.isFinite(rawPer) && rawPer >= 1
      ? Math.min(Math.floor(rawPer), opts.maxPerPage)
      : opts.defaultPerPage;
  const start = (page - 1) * perPage;
  const slice = items.slice(start, start + perPage);
  return {
    page: slice,
    info: {
      page,
      per_page: perPage,
      count: slice.length,
      total_count: items.length,
      total_pages: Math.max(1, Math.ceil(items.length / perPage)),
    },
  };
}

/** Cloudflare list filters: "op:value" with op in equal, not_equal, starts_with, ends_with, contains (+ _case_sensitive). */
function matchesOperatorFilter(actual: string, filter: string): boolean {
  const m = /^(equal|not_equal|starts_with|ends_with|contains)(_case_sensitive)?:(.*)$/s.exec(
    filter,
  );
  const op = m ? m[1] : "equal";
  const caseSensitive = m ? Boolean(m[2]) : false;
  let value = m ? m[3] : filter;
  let a = actual;
  if (!caseSensitive) {
    a = a.toLowerCase();
    value = value.toLowerCase();
  }
  switch (op) {
    case "not_equal":
      return a !== value;
    case "starts_with":
      return a.startsWith(value);
    case "ends_with":
      return a.endsWith(value);
    case "contains":
      return a.includes(value);
    default:
      return a === value;
  }
}

function combine(results: boolean[], match: string | null): boolean {
  if (results.length === 0) return true;
  return match === "any" ? results.some(Boolean) : results.every(Boolean);
}

const INGRESS_SERVICE =
  /^(?:(?:https?|tcp|ssh|rdp|smb|ws|wss):\/\/\S+|unix(?:\+tls)?:\S+|http_status:[1-5]\d\d|hello_world|hello-world|bastion|socks5)$/;

const TUNNEL_NOT_FOUND = (): ApiError => err(404, 1003, "Tunnel not found");

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

  private readonly opts: FakeCloudflareOptions;
  private readonly accounts: Set<string>;
  private readonly faults: { status: number; remaining: number; match?: RegExp }[] = [];
  private server: http.Server | undefined;
  private readonly routes: Route[] = [];

  constructor(opts: FakeCloudflareOptions = {}) {
    this.opts = opts;
    this.accounts = new Set(opts.accounts ?? []);
    for (const z of opts.zones ?? []) this.accounts.add(z.accountId);
    this.seedZones();
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

  /** Forgets every created object, recorded request and pending fault; zones from the options stay. */
  reset(): void {
    this.state.tunnels.clear();
    this.state.configs.clear();
    this.state.dnsRecords.clear();
    this.state.accessApps.clear();
    this.state.accessPolicies.clear();
    this.state.serviceTokens.clear();
    this.state.zones.clear();
    this.seedZones();
    this.requests.length = 0;
    this.faults.length = 0;
  }

  /** Test helper: simulates a cloudflared replica connecting (tunnel deletion then needs cascade). */
  connectTunnel(
    tunnelId: string,
    partial: Partial<FakeTunnelConnection> = {},
  ): FakeTunnelConnection {
    const t = this.state.tunnels.get(tunnelId);
    if (!t) throw new Error(`no tunnel ${tunnelId}`);
    const conn: FakeTunnelConnection = {
      id: randomUUID(),
      client_id: randomUUID(),
      client_version: "2026.1.0",
      colo_name: "fra01",
      is_pending_reconnect: false,
      opened_at: now(),
      origin_ip: "192.0.2.10",
      uuid: randomUUID(),
      ...partial,
    };
    t.connections.push(conn);
    t.connsActiveAt ??= conn.opened_at;
    t.connsInactiveAt = null;
    return conn;
  }

  /**
   * Test helper: sets a zone's `websockets` setting and/or Bot Fight Mode (by zone id or name).
   * `reset()` puts them back to the options' values (default websockets "on", fight mode off).
   */
  setZoneSettings(zone: string, settings: FakeZoneSettings): FakeZone {
    const z =
      this.state.zones.get(zone) ??
      [...this.state.zones.values()].find((x) => x.name === zone.toLowerCase());
    if (!z) throw new Error(`no zone ${zone}`);
    if (settings.websockets !== undefined) {
      z.websockets = settings.websockets;
      z.websocketsModifiedOn = now();
    }
    if (settings.fightMode !== undefined) z.fightMode = settings.fightMode;
    return z;
  }

  /** Zone id used for a zone name when the options give none (stable across runs). */
  static zoneIdFor(name: string): string {
    return createHash("md5").update(`zone:${name.toLowerCase()}`).digest("hex");
  }

  // ---------------------------------------------------------------- plumbing

  private seedZones(): void {
    for (const z of this.opts.zones ?? []) {
      const id = z.id ?? FakeCloudflareApi.zoneIdFor(z.name);
      this.state.zones.set(id, {
        id,
        name: z.name.toLowerCase().replace(/\.$/, ""),
        accountId: z.accountId,
        status: "active",
        createdOn: "2024-01-01T00:00:00.000000Z",
        websockets: z.websockets ?? "on",
        websocketsModifiedOn: null,
        fightMode: z.fightMode ?? false,
      });
    }
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
          { success: false, errors: e.errors as unknown as Json[], messages: [], result: null },
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

      if (this.opts.apiToken !== undefined) {
        const auth = req.headers["authorization"];
        if (auth !== `Bearer ${this.opts.apiToken}`) {
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
      }

      if (!path.startsWith(API_PREFIX + "/"))
        return sendError(err(404, 7000, "No route for that URI"));
      const sub = path.slice(API_PREFIX.length).replace(/\/$/, "");
      for (const r of this.routes) {
        if (r.method !== method) continue;
        const m = r.pattern.exec(sub);
        if (!m) continue;
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

  private route(method: string, pattern: string, handler: Handler): void {
    this.routes.push({ method, pattern: new RegExp(`^${pattern}$`), handler });
  }

  private requireAccount(accountId: string): void {
    if (this.accounts.size > 0 && !this.accounts.has(accountId)) {
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
    return z;
  }

  private requireScope(scope: string, scopeId: string): void {
    if (scope === "accounts") this.requireAccount(scopeId);
    else this.requireZone(scopeId);
  }

  // ---------------------------------------------------------------- routes

  private defineRoutes(): void {
    const acct = `/accounts/${ID}`;
    const tun = `${acct}/cfd_tunnel`;
    const scope = `/(accounts|zones)/${ID}`;

    // Accounts, token verification (cheap helpers for tools and smoke tests).
    this.route("GET", "/user/tokens/verify", () => ({
      result: { id: hex(16), status: "active", not_before: null, expires_on: null },
    }));
    this.route("GET", "/accounts", (c) => {
      const { page, info } = paginate(
        [...this.accounts].map((id) => this.renderAccount(id)),
        c.query,
        {
          defaultPerPage: 20,
          maxPerPage: 50,
        },
      );
      return { result: page, resultInfo: info };
    });
    this.route("GET", acct, (c) => {
      this.requireAccount(c.params[0]);
      return { result: this.renderAccount(c.params[0]) };
    });

    // Zones.
    this.route("GET", "/zones", (c) => this.listZones(c));
    this.route("GET", `/zones/${ID}`, (c) => ({
      result: this.renderZone(this.requireZone(c.params[0])),
    }));

    // Zone settings: only `websockets` is modelled (what the program checks and may turn on).
    this.route("GET", `/zones/${ID}/settings/${ID}`, (c) => ({
      result: this.renderWebsockets(this.requireSetting(c)),
    }));
    this.route("PATCH", `/zones/${ID}/settings/${ID}`, (c) => this.patchWebsockets(c));
    // Bot management: read only (Bot Fight Mode is what breaks WebSockets, cloudflared#324).
    this.route("GET", `/zones/${ID}/bot_management`, (c) => ({
      result: this.renderBotManagement(this.requireZone(c.params[0], "/bot_management")),
    }));

    // Cloudflare Tunnel (cfd_tunnel).
    this.route("POST", tun, (c) => this.createTunnel(c));
    this.route("GET", tun, (c) => this.listTunnels(c));
    this.route("GET", `${tun}/${ID}`, (c) => ({
      result: this.renderTunnel(this.findTunnel(c.params[0], c.params[1])),
    }));
    this.route("PATCH", `${tun}/${ID}`, (c) => this.editTunnel(c));
    this.route("DELETE", `${tun}/${ID}`, (c) => this.deleteTunnel(c));
    this.route("GET", `${tun}/${ID}/token`, (c) => this.tunnelToken(c));
    this.route("GET", `${tun}/${ID}/connections`, (c) => this.listConnections(c));
    this.route("DELETE", `${tun}/${ID}/connections`, (c) => this.deleteConnections(c));
    this.route("GET", `${tun}/${ID}/configurations`, (c) => this.getConfig(c));
    this.route("PUT", `${tun}/${ID}/configurations`, (c) => this.putConfig(c));

    // DNS records.
    this.route("POST", `/zones/${ID}/dns_records`, (c) => this.createDns(c));
    this.route("GET", `/zones/${ID}/dns_records`, (c) => this.listDns(c));
    this.route("GET", `/zones/${ID}/dns_records/${ID}`, (c) => ({
      result: this.renderDns(this.findDns(c.params[0], c.params[1])),
    }));
    this.route("PUT", `/zones/${ID}/dns_records/${ID}`, (c) => this.updateDns(c, false));
    this.route("PATCH", `/zones/${ID}/dns_records/${ID}`, (c) => this.updateDns(c, true));
    this.route("DELETE", `/zones/${ID}/dns_records/${ID}`, (c) => {
      const r = this.findDns(c.params[0], c.params[1]);
      this.state.dnsRecords.delete(r.id);
      return { result: { id: r.id } };
    });

    // Access applications (account- or zone-scoped).
    this.route("POST", `${scope}/access/apps`, (c) => this.createApp(c));
    this.route("GET", `${scope}/access/apps`, (c) => this.listApps(c));
    this.route("GET", `${scope}/access/apps/${ID}`, (c) => ({
      result: this.renderApp(this.findApp(c.params[0], c.params[1], c.params[2])),
    }));
    this.route("PUT", `${scope}/access/apps/${ID}`, (c) => this.updateApp(c));
    this.route("DELETE", `${scope}/access/apps/${ID}`, (c) => {
      const app = this.findApp(c.params[0], c.params[1], c.params[2]);
      this.state.accessApps.delete(app.id);
      for (const p of this.state.accessPolicies.values()) {
        if (!p.reusable && p.body.__app_id === app.id) this.state.accessPolicies.delete(p.id);
      }
      return { result: { id: app.id } };
    });

    // Access reusable policies (account-scoped).
    this.route("POST", `${acct}/access/policies`, (c) => this.createPolicy(c));
    this.route("GET", `${acct}/access/policies`, (c) => this.listPolicies(c));
    this.route("GET", `${acct}/access/policies/${ID}`, (c) => ({
      result: this.renderPolicy(this.findPolicy(c.params[0], c.params[1])),
    }));
    this.route("PUT", `${acct}/access/policies/${ID}`, (c) => this.updatePolicy(c));
    this.route("DELETE", `${acct}/access/policies/${ID}`, (c) => this.deletePolicy(c));

    // Access service tokens (account- or zone-scoped).
    this.route("POST", `${scope}/access/service_tokens`, (c) => this.createServiceToken(c));
    this.route("GET", `${scope}/access/service_tokens`, (c) => this.listServiceTokens(c));
    this.route("GET", `${scope}/access/service_tokens/${ID}`, (c) => ({
      result: this.renderServiceToken(this.findServiceToken(c.params[0], c.params[1], c.params[2])),
    }));
    this.route("PUT", `${scope}/access/service_tokens/${ID}`, (c) => this.updateServiceToken(c));
    this.route("DELETE", `${scope}/access/service_tokens/${ID}`, (c) => {
      const t = this.findServiceToken(c.params[0], c.params[1], c.params[2]);
      this.state.serviceTokens.delete(t.id);
      return { result: this.renderServiceToken(t) };
    });
    this.route("POST", `${acct}/access/service_tokens/${ID}/rotate`, (c) => {
      const t = this.findServiceToken("accounts", c.params[0], c.params[1]);
      t.clientSecret = hex(32);
      t.clientSecretVersion += 1;
      t.updatedAt = now();
      return { result: this.renderServiceToken(t, true) };
    });
    this.route("POST", `${acct}/access/service_tokens/${ID}/refresh`, (c) => {
      const t = this.findServiceToken("accounts", c.params[0], c.params[1]);
      t.updatedAt = now();
      t.expiresAt = this.expiry(t.duration, t.updatedAt);
      return { result: this.renderServiceToken(t) };
    });
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
      activated_on: z.createdOn,
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
    const b = bodyObject(c);
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

  private listZones(c: Ctx): Reply {
    const q = c.query;
    let zones = [...this.state.zones.values()];
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
      const types = q.getAll("type").filter((t) => t !== "");
      if (types.length > 0) checks.push(types.includes("full"));
      return combine(checks, match);
    });
    const order = q.get("order") ?? "name";
    if (order === "name") zones.sort((a, b) => a.name.localeCompare(b.name));
    if (q.get("direction") === "desc") zones.reverse();
    const { page, info } = paginate(zones, q, { defaultPerPage: 20, maxPerPage: 50 });
    return { result: page.map((z) => this.renderZone(z)), resultInfo: info };
  }

  // ---------------------------------------------------------------- tunnels

  private tunnelStatus(t: FakeTunnel): string {
    if (t.connections.length > 0) return "healthy";
    if (t.connsActiveAt || t.connsInactiveAt) return "down";
    return "inactive";
  }

  private renderTunnel(t: FakeTunnel): JsonObject {
    return {
      id: t.id,
      account_tag: t.accountId,
      created_at: t.createdAt,
      deleted_at: t.deletedAt,
      name: t.name,
      connections: t.connections.map((c) => ({ ...c })),
      conns_active_at:
        t.connections.length > 0 ? (t.connsActiveAt ?? t.connections[0].opened_at) : null,
      conns_inactive_at: t.connections.length > 0 ? null : t.connsInactiveAt,
      tun_type: "cfd_tunnel",
      metadata: clone(t.metadata),
      status: this.tunnelStatus(t),
      remote_config: t.configSrc === "cloudflare",
      config_src: t.configSrc,
    };
  }

  /** Finds a tunnel of the account; deleted tunnels are still found (the real API answers them with deleted_at set). */
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

  private validateSecret(secret: string): void {
    const decoded = decodeBase64(secret);
    if (!decoded) throw badRequest("tunnel_secret must be a base64-encoded string");
    if (decoded.length < 32) {
      throw badRequest(`tunnel_secret must decode to at least 32 bytes (got ${decoded.length})`);
    }
  }

  private validateTunnelName(accountId: string, name: string | undefined, selfId?: string): string {
    if (name === undefined || name.trim() === "") throw badRequest("name is required");
    if (name.length > 64) throw badRequest("name must be at most 64 characters");
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
    const b = bodyObject(c);
    const name = this.validateTunnelName(accountId, optString(b, "name"));
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
    const b = bodyObject(c);
    const name = optString(b, "name");
    if (name !== undefined) t.name = this.validateTunnelName(t.accountId, name, t.id);
    const secret = optString(b, "tunnel_secret");
    if (secret !== undefined) {
      this.validateSecret(secret);
      t.tunnelSecret = secret;
    }
    return { result: this.renderTunnel(t) };
  }

  private deleteTunnel(c: Ctx): Reply {
    const t = this.findLiveTunnel(c.params[0], c.params[1]);
    if (t.connections.length > 0) {
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

  private listConnections(c: Ctx): Reply {
    const t = this.findTunnel(c.params[0], c.params[1]);
    const byClient = new Map<string, FakeTunnelConnection[]>();
    for (const conn of t.connections) {
      const list = byClient.get(conn.client_id) ?? [];
      list.push(conn);
      byClient.set(conn.client_id, list);
    }
    const version = this.state.configs.get(t.id)?.version ?? 0;
    const clients: Json[] = [...byClient.entries()].map(([clientId, conns]) => ({
      id: clientId,
      arch: "linux_amd64",
      config_version: version,
      conns: conns.map((x) => ({
        colo_name: x.colo_name,
        id: x.id,
        is_pending_reconnect: x.is_pending_reconnect,
        opened_at: x.opened_at,
        origin_ip: x.origin_ip,
        uuid: x.uuid,
        client_id: x.client_id,
        client_version: x.client_version,
      })),
      features: [],
      run_at: conns[0].opened_at,
      version: conns[0].client_version,
    }));
    return { result: clients };
  }

  private deleteConnections(c: Ctx): Reply {
    const t = this.findLiveTunnel(c.params[0], c.params[1]);
    const clientId = c.query.get("client_id");
    const before = t.connections.length;
    t.connections = clientId ? t.connections.filter((x) => x.client_id !== clientId) : [];
    if (before > 0 && t.connections.length === 0) t.connsInactiveAt = now();
    return { result: null };
  }

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

  private putConfig(c: Ctx): Reply {
    const t = this.findLiveTunnel(c.params[0], c.params[1]);
    if (t.configSrc !== "cloudflare") {
      throw badRequest(
        `Tunnel ${t.id} is locally configured (config_src "local"): its configuration cannot be managed remotely. Create it with config_src "cloudflare".`,
      );
    }
    const b = bodyObject(c);
    const config = b.config;
    if (!isObject(config)) throw badRequest("config is required and must be an object");
    this.validateIngress(config.ingress);
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

  private validateIngress(ingress: Json | undefined): void {
    if (!Array.isArray(ingress) || ingress.length === 0) {
      throw badRequest(
        "config.ingress must be a non-empty list of rules; the last rule must be a catch-all (no hostname)",
      );
    }
    ingress.forEach((rule, i) => {
      const n = i + 1;
      if (!isObject(rule)) throw badRequest(`Ingress rule #${n} must be an object`);
      const service = rule.service;
      if (typeof service !== "string" || service === "")
        throw badRequest(`Ingress rule #${n} has no service`);
      if (!INGRESS_SERVICE.test(service)) {
        throw badRequest(
          `Ingress rule #${n} has an invalid service "${service}": use a URL such as http://host:port, or http_status:NNN`,
        );
      }
      const hostname = rule.hostname;
      const hasHostname = typeof hostname === "string" && hostname !== "";
      if (hostname !== undefined && hostname !== null && typeof hostname !== "string") {
        throw badRequest(`Ingress rule #${n}: hostname must be a string`);
      }
      if (hasHostname && !isValidHostname(hostname)) {
        throw badRequest(
          `Ingress rule #${n}: hostname "${hostname}" is not a valid host name (no scheme, port or path; "*." only as the first label)`,
        );
      }
      const path = rule.path;
      const hasPath = typeof path === "string" && path !== "";
      if (hasPath) {
        try {
          new RegExp(path);
        } catch {
          throw badRequest(`Ingress rule #${n}: path "${path}" is not a valid regular expression`);
        }
      }
      const isLast = i === ingress.length - 1;
      if (isLast && (hasHostname || hasPath)) {
        throw badRequest(
          'The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter), e.g. {service: "http_status:404"}',
        );
      }
      if (!isLast && !hasHostname && !hasPath) {
        throw badRequest(`Ingress rule #${n} matches all URLs but is not the last rule`);
      }
    });
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

  private renderDns(r: FakeDnsRecord): JsonObject {
    const zone = this.state.zones.get(r.zoneId);
    const out: JsonObject = {
      id: r.id,
      zone_id: r.zoneId,
      zone_name: zone?.name ?? "",
      name: r.name,
      type: r.type,
      content: r.content,
      proxiable: ["A", "AAAA", "CNAME"].includes(r.type),
      proxied: r.proxied,
      ttl: r.ttl,
      settings: clone(r.settings),
      meta: { auto_added: false, managed_by_apps: false, managed_by_argo_tunnel: false },
      comment: r.comment,
      tags: [...r.tags],
      created_on: r.createdOn,
      modified_on: r.modifiedOn,
      ...clone(r.extra),
    };
    if (r.commentModifiedOn) out.comment_modified_on = r.commentModifiedOn;
    if (r.tagsModifiedOn) out.tags_modified_on = r.tagsModifiedOn;
    return out;
  }

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
    const proxied = optBool(b, "proxied") ?? false;
    if (proxied && !["A", "AAAA", "CNAME"].includes(type)) {
      throw dnsErr(9004, `A ${type} record cannot be proxied.`);
    }
    const ttlRaw = b.ttl;
    const ttl = ttlRaw === undefined || ttlRaw === null ? 1 : ttlRaw;
    if (typeof ttl !== "number" || !Number.isInteger(ttl))
      throw dnsErr(9021, "TTL must be an integer.");
    if (proxied && ttl !== 1) {
      throw dnsErr(9021, `TTL must be 1 (automatic) when the record is proxied (got ${ttl}).`);
    }
    if (ttl !== 1 && (ttl < 60 || ttl > 86400)) {
      throw dnsErr(9021, "TTL must be between 60 and 86400 seconds, or 1 for Automatic.");
    }
    const comment = optString(b, "comment") ?? null;
    if (comment !== null && comment.length > 100)
      throw dnsErr(9102, "Comment is longer than 100 characters.");
    const tagsRaw = b.tags;
    let tags: string[] = [];
    if (tagsRaw !== undefined && tagsRaw !== null) {
      if (!Array.isArray(tagsRaw) || tagsRaw.some((t) => typeof t !== "string")) {
        throw dnsErr(9103, "tags must be a list of strings (name:value).");
      }
      tags = tagsRaw as string[];
    }
    const settings = isObject(b.settings) ? clone(b.settings) : {};

    // Conflicts with other records of the zone.
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

  private createDns(c: Ctx): Reply {
    const zone = this.requireZone(c.params[0], "/dns_records");
    const v = this.validateDns(zone, bodyObject(c));
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
    const sent = bodyObject(c);
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

  private renderPolicy(p: FakeAccessPolicy, precedence?: number): JsonObject {
    const out: JsonObject = {
      id: p.id,
      exclude: [],
      require: [],
      session_duration: "24h",
      ...clone(p.body),
      reusable: p.reusable,
      app_count: p.reusable ? this.appsUsingPolicy(p.id).length : 1,
      created_at: p.createdAt,
      updated_at: p.updatedAt,
    };
    delete out.__app_id;
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

  private createPolicy(c: Ctx): Reply {
    const accountId = c.params[0];
    this.requireAccount(accountId);
    const body = this.validatePolicyBody(accountId, bodyObject(c));
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
    return { result: this.renderPolicy(p) };
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
    p.body = this.validatePolicyBody(p.accountId, bodyObject(c));
    p.updatedAt = now();
    return { result: this.renderPolicy(p) };
  }

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
    return { result: { id: p.id } };
  }

  // ---------------------------------------------------------------- Access: applications

  private findApp(scope: string, scopeId: string, appId: string): FakeAccessApp {
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

  private validateAppBody(
    scope: string,
    scopeId: string,
    b: JsonObject,
    appId: string,
  ): JsonObject {
    const body = clone(b);
    const type = optString(body, "type") ?? "self_hosted";
    const types = [
      ...FakeCloudflareApi.SELF_HOSTED_TYPES,
      "saas",
      "ssh",
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

  private renderApp(a: FakeAccessApp): JsonObject {
    const b = clone(a.body);
    const type = (b.type as string | undefined) ?? "self_hosted";
    const selfHosted = FakeCloudflareApi.SELF_HOSTED_TYPES.includes(type);
    const domain = typeof b.domain === "string" ? b.domain : undefined;
    const out: JsonObject = {
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
    if (Array.isArray(b.policies)) {
      out.policies = this.policyRefs(b).map((ref, i) => {
        const p = this.state.accessPolicies.get(ref.id);
        return p
          ? this.renderPolicy(p, ref.precedence ?? i + 1)
          : { id: ref.id, precedence: ref.precedence ?? i + 1 };
      });
    } else {
      out.policies = [];
    }
    return out;
  }

  private createApp(c: Ctx): Reply {
    const [scope, scopeId] = c.params;
    this.requireScope(scope, scopeId);
    const id = randomUUID();
    const body = this.validateAppBody(scope, scopeId, bodyObject(c), id);
    const ts = now();
    const a: FakeAccessApp = {
      id,
      scope: scope as "accounts" | "zones",
      scopeId,
      aud: hex(32),
      body,
      createdAt: ts,
      updatedAt: ts,
    };
    this.state.accessApps.set(a.id, a);
    return { result: this.renderApp(a) };
  }

  private updateApp(c: Ctx): Reply {
    const a = this.findApp(c.params[0], c.params[1], c.params[2]);
    const sent = bodyObject(c);
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

  private listApps(c: Ctx): Reply {
    const [scope, scopeId] = c.params;
    this.requireScope(scope, scopeId);
    const items = [...this.state.accessApps.values()].filter(
      (a) => a.scope === scope && a.scopeId === scopeId,
    );
    const { page, info } = paginate(items, c.query, { defaultPerPage: 25, maxPerPage: 1000 });
    return { result: page.map((a) => this.renderApp(a)), resultInfo: info };
  }

  // ---------------------------------------------------------------- Access: service tokens

  private findServiceToken(scope: string, scopeId: string, tokenId: string): FakeServiceToken {
    this.requireScope(scope, scopeId);
    const t = this.state.serviceTokens.get(tokenId);
    if (!t || t.scope !== scope || t.scopeId !== scopeId)
      throw err(404, 12130, "access.api.error.not_found: service token not found");
    return t;
  }

  private expiry(duration: string, from: string): string | null {
    const ms = parseDuration(duration);
    if (ms === null || ms === undefined) return null;
    return new Date(Date.parse(from) + ms).toISOString();
  }

  private renderServiceToken(t: FakeServiceToken, withSecret = false): JsonObject {
    const out: JsonObject = {
      id: t.id,
      name: t.name,
      client_id: t.clientId,
      created_at: t.createdAt,
      updated_at: t.updatedAt,
      expires_at: t.expiresAt,
      last_seen_at: t.lastSeenAt,
      duration: t.duration,
      client_secret_version: t.clientSecretVersion,
    };
    if (withSecret) out.client_secret = t.clientSecret;
    return out;
  }

  private validateDurationField(b: JsonObject): string | undefined {
    const duration = optString(b, "duration");
    if (duration !== undefined && parseDuration(duration) === undefined) {
      throw err(
        400,
        12130,
        `access.api.error.invalid_request: duration "${duration}" must look like 8760h, 2h45m or "forever"`,
      );
    }
    return duration;
  }

  private createServiceToken(c: Ctx): Reply {
    const [scope, scopeId] = c.params;
    this.requireScope(scope, scopeId);
    const b = bodyObject(c);
    const name = optString(b, "name");
    if (!name || name.trim() === "")
      throw err(400, 12130, "access.api.error.invalid_request: name is required");
    const duration = this.validateDurationField(b) ?? "8760h";
    const version = b.client_secret_version;
    const ts = now();
    const t: FakeServiceToken = {
      id: randomUUID(),
      scope: scope as "accounts" | "zones",
      scopeId,
      name,
      clientId: `${hex(16)}.access`,
      clientSecret: hex(32),
      clientSecretVersion: typeof version === "number" && version >= 1 ? version : 1,
      duration,
      createdAt: ts,
      updatedAt: ts,
      expiresAt: this.expiry(duration, ts),
      lastSeenAt: null,
    };
    this.state.serviceTokens.set(t.id, t);
    return { result: this.renderServiceToken(t, true) };
  }

  private updateServiceToken(c: Ctx): Reply {
    const t = this.findServiceToken(c.params[0], c.params[1], c.params[2]);
    const b = bodyObject(c);
    const name = optString(b, "name");
    if (name !== undefined) {
      if (name.trim() === "")
        throw err(400, 12130, "access.api.error.invalid_request: name must not be empty");
      t.name = name;
    }
    const duration = this.validateDurationField(b);
    t.updatedAt = now();
    if (duration !== undefined && duration !== t.duration) {
      t.duration = duration;
      t.expiresAt = this.expiry(duration, t.createdAt);
    }
    const version = b.client_secret_version;
    let rotated = false;
    if (typeof version === "number" && version > t.clientSecretVersion) {
      t.clientSecret = hex(32);
      t.clientSecretVersion = version;
      rotated = true;
    }
    return { result: this.renderServiceToken(t, rotated) };
  }

  private listServiceTokens(c: Ctx): Reply {
    const [scope, scopeId] = c.params;
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
