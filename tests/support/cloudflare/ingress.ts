/**
 * Validation of a remotely managed tunnel's ingress rules on `PUT .../configurations`.
 *
 * The API answers a bad rule set with cloudflared's own validation message, prefixed
 * "Bad Configuration: Validation failed: " (terraform-provider-cloudflare#2327: "Bad
 * Configuration: Validation failed: The last ingress rule must match all URLs (i.e. it should
 * not have a hostname or path filter)"). So the rules below are cloudflared's
 * (cloudflare/cloudflared ingress/ingress.go, validateIngress and validateHostname), with their
 * messages, and nothing more: no fixed list of services, no host-name syntax check.
 * An empty or missing `ingress` is accepted: no source says the API refuses it (cloudflared
 * then answers 503 for every request, ingress.go ErrNoIngressRulesCLI).
 */
import { badRequest, isObject } from "./util";
import type { ApiError, Json } from "./util";

const invalid = (message: string): ApiError =>
  badRequest(`Bad Configuration: Validation failed: ${message}`);

/** cloudflared's checks of one rule's `service` (ingress.go validateIngress). */
function validateService(service: string): void {
  if (service.startsWith("unix:") || service.startsWith("unix+tls:")) return;
  if (service.startsWith("http_status:")) {
    const raw = service.slice("http_status:".length);
    const code = Number(raw);
    if (!/^[+-]?\d+$/.test(raw)) throw invalid(`invalid HTTP status code: ${raw}`);
    if (code < 100 || code > 999) throw invalid(`invalid HTTP status code: ${code}`);
    return;
  }
  // origin_service.go HelloWorldService / HelloWorldFlag; ingress.go ServiceSocksProxy, ServiceBastion
  if (["hello_world", "hello-world", "socks-proxy", "bastion"].includes(service)) return;
  let url: URL;
  try {
    url = new URL(service);
  } catch {
    throw invalid(
      `${service} is an invalid address, please make sure it has a scheme and a hostname`,
    );
  }
  if (url.hostname === "") {
    throw invalid(
      `${service} is an invalid address, please make sure it has a scheme and a hostname`,
    );
  }
  // Go's url.Parse keeps the path as written ("" for "http://host:port"); WHATWG URL would say "/".
  const goPath = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/i.exec(service)?.[1] ?? url.pathname;
  if (goPath !== "") {
    throw invalid(
      `${service} is an invalid address, ingress rules don't support proxying to a different path on the origin service. The path will be the same as the eyeball request's path`,
    );
  }
}

/** cloudflared's checks of one rule's `hostname` and its place in the list (validateHostname). */
function validateHostname(hostname: string, path: string, index: number, total: number): void {
  // net.SplitHostPort succeeds when the name has a single ":" (or is a bracketed IPv6 with port).
  if (/^[^:]*:[^:]*$/.test(hostname) || /^\[.*\]:.*$/.test(hostname)) {
    throw invalid("Hostname cannot contain a port");
  }
  if (hostname.lastIndexOf("*") > 0) {
    throw invalid(
      'Hostname patterns can have at most one wildcard character ("*") and it can only be used for subdomains, e.g. "*.example.com"',
    );
  }
  const isCatchAll = (hostname === "" || hostname === "*") && path === "";
  const isLast = index === total - 1;
  if (isLast && !isCatchAll) {
    throw invalid(
      "The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)",
    );
  }
  if (!isLast && isCatchAll) {
    throw invalid(
      `Rule #${index + 1} is matching the hostname '${hostname}', but this will match every hostname, meaning the rules which follow it will never be triggered.`,
    );
  }
}

/** Throws the API's 400 answer when `ingress` is not a rule set cloudflared would accept. */
export function validateIngress(ingress: Json | undefined): void {
  if (ingress === undefined || ingress === null) return;
  if (!Array.isArray(ingress)) throw invalid("ingress must be a list of rules");
  ingress.forEach((rule, i) => {
    if (!isObject(rule)) throw invalid(`Rule #${i + 1} must be an object`);
    const service = typeof rule.service === "string" ? rule.service : "";
    validateService(service);
    const hostname = typeof rule.hostname === "string" ? rule.hostname : "";
    const path = typeof rule.path === "string" ? rule.path : "";
    validateHostname(hostname, path, i, ingress.length);
    if (path !== "") {
      try {
        new RegExp(path);
      } catch (e) {
        throw invalid(
          `Rule #${i + 1} has an invalid regex: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
  });
}
