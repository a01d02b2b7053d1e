/**
 * Plumbing shared by the fake Cloudflare API (`../cloudflareApi.ts`): JSON types, the error
 * envelope, request-body readers, pagination and list filters, base64, host names, durations.
 */
import { randomBytes } from "node:crypto";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface CfError {
  code: number;
  message: string;
  error_chain?: CfError[];
}

/**
 * Thrown by handlers; turned into the Cloudflare error envelope
 * `{success: false, errors, messages: [], result: null}`. `body` replaces that envelope when the
 * real API answers with a different shape (see MISSING_PERMISSION in ./permissions.ts).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: CfError[],
    readonly body?: JsonObject,
  ) {
    super(errors.map((e) => `${e.code}: ${e.message}`).join("; "));
  }
}

export const err = (status: number, code: number, message: string): ApiError =>
  new ApiError(status, [{ code, message }]);

/** DNS validation errors come wrapped in code 1004 with an error_chain, like the real API. */
export const dnsErr = (code: number, message: string): ApiError =>
  new ApiError(400, [
    { code: 1004, message: "DNS Validation Error", error_chain: [{ code, message }] },
  ]);

export const badRequest = (message: string, code = 1001): ApiError => err(400, code, message);

export const now = (): string => new Date().toISOString();
export const hex = (bytes: number): string => randomBytes(bytes).toString("hex");
export const clone = <T extends Json>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function bodyObject(body: Json | undefined): JsonObject {
  if (body === undefined) return {};
  if (!isObject(body)) throw badRequest("Request body must be a JSON object", 6007);
  return body;
}

export function optString(o: JsonObject, key: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badRequest(`'${key}' must be a string`);
  return v;
}

export function optBool(o: JsonObject, key: string): boolean | undefined {
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

/** `host` is `zone` or a name under it (case-insensitive, trailing dots ignored). */
export function inZone(host: string, zone: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  const z = zone.toLowerCase().replace(/\.$/, "");
  return h === z || h.endsWith(`.${z}`);
}

/**
 * Go time.Duration syntax ("8760h", "2h45m", "300ms"), in milliseconds; undefined when it is not
 * one. The Access API documents durations as "Must be in the format `300ms` or `2h45m`. Valid time
 * units are: ns, us (or µs), ms, s, m, h" (cloudflare-go v6 zero_trust/accessservicetoken.go,
 * `Duration`; terraform-provider-cloudflare v5.19.1 zero_trust_access_service_token/schema.go).
 */
export function parseDuration(s: string): number | undefined {
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

export interface PageOpts {
  defaultPerPage: number;
  maxPerPage: number;
}

/**
 * V4 page pagination. An empty list answers `total_pages: 0` (a real `GET /zones?name=` with no
 * match, quoted in acmesh-official/acme.sh#3911:
 * `"result_info":{"page":1,"per_page":20,"total_pages":0,"count":0,"total_count":0}`).
 */
export function paginate<T>(
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
      total_pages: Math.ceil(items.length / perPage),
    },
  };
}

/**
 * Cloudflare list filters: "op:value" with op in equal, not_equal, starts_with, ends_with,
 * contains (+ _case_sensitive); the zone list's `name` and `account.name` filters document them
 * (api-schemas openapi.json, operation zones-get).
 */
export function matchesOperatorFilter(actual: string, filter: string): boolean {
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

/** `match=any|all` (default all) over the filters a list request gave. */
export function combine(results: boolean[], match: string | null): boolean {
  if (results.length === 0) return true;
  return match === "any" ? results.some(Boolean) : results.every(Boolean);
}
