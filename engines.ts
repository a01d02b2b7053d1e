/**
 * The Docker engines' preflight: in swarm mode with `swarm.proxy: dockerflow`, each host's engine
 * is asked (GET /version, unversioned, which every engine answers) the oldest Docker API version it
 * accepts. The Docker Flow Swarm Listener asks for API 1.37 (its client is created for 1.37 and
 * negotiation only lowers it), and Docker 29 refuses anything below 1.40 (1.44 in 29.0-29.2)
 * unless the daemon's minimum is lowered: the stack would deploy and its listener would never
 * route anything. Such a stack fails here, in preview as in up, before anything is made.
 *
 * The docker provider has no lookup of the engine's versions, so the program asks the engine
 * itself, over the host's endpoint: unix:// and tcp:// (with the host's TLS material or
 * certPath). An ssh:// endpoint, or an engine that does not answer, gets a warning instead.
 */
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { DockerTls, HostConfig } from "./config";

/** The API version the Docker Flow Swarm Listener asks for (its service/docker.go). */
export const DOCKER_FLOW_LISTENER_API = "1.37";

export interface EngineVersions {
  /** The newest API version it speaks. */
  api: string;
  /** The oldest API version it accepts. */
  min: string;
  /** Its own version (e.g. 29.1.0). */
  version: string;
}

/** An endpoint the program cannot ask from here (ssh://, npipe://): never a transient failure. */
export class EndpointNotAskable extends Error {}

/** How the program reaches an engine's /version; tests replace it (setEngineProbe). */
export type EngineProbe = (endpoint: string, tls?: TlsMaterial) => Promise<EngineVersions>;

interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

let probe: EngineProbe = askEngine;
/** One question per endpoint and run: the preflight and the broker's healthcheck share it. */
const asked = new Map<string, Promise<EngineVersions>>();

/** Replaces how engines are asked (unit tests, which have no engine). */
export function setEngineProbe(p: EngineProbe): void {
  probe = p;
  asked.clear();
}

function versionsOf(endpoint: string, tls?: TlsMaterial): Promise<EngineVersions> {
  let v = asked.get(endpoint);
  if (!v) {
    v = probe(endpoint, tls);
    asked.set(endpoint, v);
  }
  return v;
}

/** A host's Docker endpoint: its own, else DOCKER_HOST, else the local socket. */
function endpointOf(h: HostConfig): string {
  return h.docker ?? process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
}

/** The API version a healthcheck start interval needs (Docker 25). */
export const START_INTERVAL_API = "1.44";

/**
 * `broker.healthStartInterval` for one host: `true`/`false` as written; `"auto"`: on where the
 * host's engine speaks API 1.44 or later, off where it does not or where its endpoint cannot be
 * asked from here (ssh://). Never in swarm mode (the provider's service healthcheck has no start
 * interval). An engine that can be asked but does not answer fails the deployment, naming the
 * key: taking "off" then would replace a running broker (a new healthcheck is a new container)
 * on a passing timeout.
 */
export function startInterval(
  h: HostConfig,
  setting: boolean | "auto",
  swarm: boolean,
  tls: pulumi.Input<DockerTls> | undefined,
): pulumi.Input<boolean> {
  if (swarm) return false;
  if (setting !== "auto") return setting;
  const endpoint = endpointOf(h);
  const on = pulumi.output(tls).apply(async (t) => {
    let v: EngineVersions;
    try {
      v = await versionsOf(endpoint, materialOf(t, h.certPath));
    } catch (e) {
      if (e instanceof EndpointNotAskable) return false;
      passOrFail([
        `mqtt-edge:broker.healthStartInterval: "auto" could not ask the engine of host ` +
          `${h.name} at ${endpoint} its Docker API version (${errorText(e)}). Retry once it ` +
          `answers, or set true (every engine speaks API 1.44+, Docker 25 and later) or false.`,
      ]);
      return false;
    }
    return !apiAbove(START_INTERVAL_API, v.api);
  });
  // Derived from the engine's answer, not from the TLS material it was asked with.
  return pulumi.unsecret(on);
}

function materialOf(t: DockerTls | undefined, certPath: string | undefined) {
  return t ? { ca: t.caMaterial, cert: t.certMaterial, key: t.keyMaterial } : certFiles(certPath);
}

/** "1.40" > "1.37": compares API versions numerically. */
export function apiAbove(a: string, b: string): boolean {
  const [am, an] = a.split(".").map(Number);
  const [bm, bn] = b.split(".").map(Number);
  return am !== bm ? am > bm : an > bn;
}

/**
 * The preflight over every host's engine, for a swarm stack in `dockerflow` mode; none otherwise.
 * Rejects, naming `mqtt-edge:swarm.proxy`, when an engine refuses the listener's API version.
 */
export function enginePreflight(
  hosts: HostConfig[],
  proxy: string | undefined,
  dockerTls: Record<string, pulumi.Output<DockerTls>>,
): pulumi.Output<pulumi.Resource[]> | undefined {
  if (proxy !== "dockerflow") return undefined;
  const checks = hosts.map((h) =>
    pulumi.output(dockerTls[h.name]).apply(async (tls) => {
      const endpoint = endpointOf(h);
      let v: EngineVersions;
      try {
        v = await versionsOf(endpoint, materialOf(tls, h.certPath));
      } catch (e) {
        void pulumi.log.warn(
          `host ${h.name}: could not ask the engine at ${endpoint} which Docker API versions it ` +
            `accepts (${errorText(e)}). swarm.proxy dockerflow: ` +
            `the Swarm Listener speaks API ${DOCKER_FLOW_LISTENER_API}, which Docker 29 refuses ` +
            `unless its daemon runs with DOCKER_MIN_API_VERSION=${DOCKER_FLOW_LISTENER_API}.`,
        );
        return undefined;
      }
      return listenerRefusal(h.name, endpoint, v);
    }),
  );
  return pulumi
    .all(checks)
    .apply((results) => passOrFail(results.filter((r): r is string => r !== undefined)));
}

/**
 * A preflight's verdict: nothing to wait for, or its problems as one error. Logged on their own
 * first: the rejection reaches the engine through every resource and invoke that waits for the
 * preflight, each wrapped in "error serializing property ...". (The zones' preflight too.)
 */
export function passOrFail(problems: string[]): pulumi.Resource[] {
  if (problems.length === 0) return [];
  const message = problems.join("\n");
  void pulumi.log.error(message);
  throw new pulumi.RunError(message);
}

/** Why Docker Flow's listener cannot work with engine `v`, or undefined when it can. */
export function listenerRefusal(
  host: string,
  endpoint: string,
  v: EngineVersions,
): string | undefined {
  if (!apiAbove(v.min, DOCKER_FLOW_LISTENER_API)) return undefined;
  return (
    `mqtt-edge:swarm.proxy: "dockerflow" cannot work on host ${host}: its Swarm Listener ` +
    `speaks Docker API ${DOCKER_FLOW_LISTENER_API}, and the engine at ${endpoint} ` +
    `(Docker ${v.version}) accepts ${v.min} to ${v.api}, so the listener would be refused ` +
    `and route nothing. Use proxy: "traefik", or start that engine's daemon with ` +
    `DOCKER_MIN_API_VERSION=${DOCKER_FLOW_LISTENER_API} (or "min-api-version": ` +
    `"${DOCKER_FLOW_LISTENER_API}" in daemon.json).`
  );
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function certFiles(dir: string | undefined): TlsMaterial | undefined {
  if (!dir) return undefined;
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return { ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") };
}

/** GET /version of the engine at `endpoint` (unix:// or tcp://), within 10 s. */
function askEngine(endpoint: string, tls?: TlsMaterial): Promise<EngineVersions> {
  const u = new URL(endpoint);
  let options: http.RequestOptions;
  let get: typeof http.get = http.get;
  if (u.protocol === "unix:") {
    options = { socketPath: u.pathname, path: "/version" };
  } else if (u.protocol === "tcp:") {
    const secure = Boolean(tls?.cert);
    options = {
      host: u.hostname,
      port: Number(u.port) || (secure ? 2376 : 2375),
      path: "/version",
      ...(secure ? { ca: tls!.ca, cert: tls!.cert, key: tls!.key } : {}),
    };
    if (secure) get = https.get as unknown as typeof http.get;
  } else {
    return Promise.reject(
      new EndpointNotAskable(`${u.protocol}// endpoints cannot be asked from here`),
    );
  }
  return new Promise((resolve, reject) => {
    const req = get({ ...options, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => {
        try {
          const j = JSON.parse(body) as {
            ApiVersion?: string;
            MinAPIVersion?: string;
            Version?: string;
          };
          if (res.statusCode !== 200 || !j.ApiVersion || !j.MinAPIVersion) {
            throw new Error(`GET /version: HTTP ${res.statusCode} ${body.slice(0, 120)}`);
          }
          resolve({ api: j.ApiVersion, min: j.MinAPIVersion, version: j.Version ?? "?" });
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 10 s")));
    req.on("error", reject);
  });
}
