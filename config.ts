/**
 * The config contract of mqtt-edge: every `mqtt-edge:<key>` a stack may set, validated as a whole
 * before any resource is registered. Each problem names the key path, the offending value and what
 * was expected; all problems are reported together.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

export const PROJECT = "mqtt-edge";

/** Active cloudflared replicas Cloudflare allows per tunnel (Cloudflare One account limits). */
export const MAX_REPLICAS = 25;

/** Images the program runs unless the stack names others. Pinned; never "latest". */
export const DEFAULT_IMAGES = {
  mosquitto: "eclipse-mosquitto:2.0.22",
  cloudflared: "cloudflare/cloudflared:2025.11.1",
} as const;

export type TunnelMode = "managed" | "token" | "quick" | "none";
export type Access = "read" | "write" | "readwrite" | "deny";

export interface AclRule {
  access: Access;
  topic: string;
}

export interface MqttUser {
  name: string;
  acl: AclRule[];
}

export interface TunnelConfig {
  mode: TunnelMode;
  accountId?: string;
  /** Zone names hostnames are matched against (longest suffix wins). */
  zones: string[];
  /** Explicit zone id; skips the zone lookup. Only with a single zone. */
  zoneId?: string;
  /** Hostnames served by the single default host (hosts may set their own). */
  hostnames: string[];
  replicas: number;
  image: string;
  access: boolean;
  /**
   * managed mode: declare each zone's `websockets` setting as "on" (a `cloudflare.ZoneSetting`)
   * instead of refusing to deploy to a zone where it is off.
   */
  manageZoneSettings: boolean;
  /** Change to rotate the tunnel secret (and so the token). */
  secretVersion: string;
  /** Override of cloudflared's edge addresses (`--edge`), for private or test networks. */
  edge: string[];
  /** Quick-tunnel service URL override (`--quick-service`), for tests. */
  quickService?: string;
  /**
   * Publish each connector's metrics server on the Docker host: connector i (1-based) at
   * `publish.port + i - 1` on `publish.ip`. Absent: not published.
   */
  metrics?: { publish: PortPublish };
}

/** Which way a bridged topic flows, seen from the site broker that runs the bridge. */
export type BridgeDirection = "out" | "in" | "both";

export interface BridgeTopic {
  topic: string;
  direction: BridgeDirection;
  qos: 0 | 1 | 2;
}

/**
 * A site broker's bridge to this one over native MQTT (through `tunnel.tcpHostname`): a user of
 * its own whose ACL allows exactly the bridged topics, and the `connection` block the client kit
 * renders for the site broker.
 */
export interface BridgeConfig {
  user: string;
  topics: BridgeTopic[];
}

export interface PortPublish {
  ip: string;
  port: number;
}

export interface BrokerConfig {
  image: string;
  allowAnonymous: boolean;
  anonymousAcl: AclRule[];
  persistence: boolean;
  websocketPort: number;
  tcp?: { publish?: PortPublish };
  websocket?: { publish?: PortPublish };
  maxConnections: number;
  messageSizeLimit: number;
  /** Largest keep alive (seconds) the broker grants: `max_keepalive`. */
  maxKeepalive: number;
  memoryMb: number;
  users: MqttUser[];
  patterns: AclRule[];
  /** A user that may read `$SYS/#` and nothing else; its password is generated like the others'. */
  monitorUser?: string;
  /** managed mode with a tcpHostname: the site-broker bridge user and its topics. */
  bridge?: BridgeConfig;
}

export interface HostConfig {
  name: string;
  /** Docker endpoint: unix://, tcp:// or ssh://. Absent: the ambient DOCKER_HOST. */
  docker?: string;
  /** Directory holding ca.pem, cert.pem and key.pem for a tcp:// endpoint. */
  certPath?: string;
  hostnames: string[];
  /**
   * managed mode: the public hostname of native MQTT over TCP (clients reach it with
   * `cloudflared access tcp` and an Access service token). Absent: no TCP route.
   */
  tcpHostname?: string;
  /** Explicit zone for this host's hostnames (overrides the suffix match). */
  zone?: string;
  replicas: number;
}

export interface LetsEncryptConfig {
  email: string;
  domains: string[];
  node?: string;
  renewCron: string[];
}

export interface SwarmConfig {
  enabled: boolean;
  proxy: "dockerflow" | "traefik";
  network: string;
  proxyReplicas: number;
  letsencrypt?: LetsEncryptConfig;
  /** HTTP hostnames the tunnel routes to the proxy (besides the MQTT hostname). */
  httpHostnames: string[];
  /** `vip` (default) or `dnsrr`, for engines without IPVS; dnsrr publishes ports in host mode. */
  endpointMode: "vip" | "dnsrr";
  /** The Docker socket on the managers, for the socket proxy. */
  dockerSocket: string;
  ports: { http: number; https: number };
  /** Placement constraints of the broker service (its data volume lives on that node). */
  brokerConstraints: string[];
  images: {
    swarmListener: string;
    proxy: string;
    letsencrypt: string;
    traefik: string;
    socketProxy: string;
  };
}

export interface DockerTls {
  caMaterial: string;
  certMaterial: string;
  keyMaterial: string;
}

export interface StackConfig {
  project: string;
  stack: string;
  tunnel: TunnelConfig;
  /** token mode: the connector token, always a secret. */
  tunnelToken?: pulumi.Output<string>;
  broker: BrokerConfig;
  hosts: HostConfig[];
  swarm?: SwarmConfig;
  protect: boolean;
  /** TLS material per host name for tcp:// endpoints, from secret config. */
  dockerTls: Record<string, pulumi.Output<DockerTls>>;
}

// ---------------------------------------------------------------------------------------------
// Value checks shared by the schemas.

const HOSTNAME_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
/** Names that end up inside mosquitto's password and ACL files and in Docker object names. */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
const USER_NAME_ERROR =
  "expected a user name of 1-64 letters, digits, '_', '.', '@' or '-' (no ':', whitespace or newlines, which would change the password or ACL file)";
const HOST_NAME = /^[a-z0-9][a-z0-9-]{0,30}$/;
const ACCOUNT_ID = /^[0-9a-f]{32}$/;

export function isHostname(value: string): boolean {
  if (value.length > 253 || !value.includes(".")) return false;
  return value.split(".").every((label) => HOSTNAME_LABEL.test(label));
}

/**
 * An MQTT topic filter as it may appear in an ACL line: no whitespace or control characters
 * (a newline would start a new directive in the rendered file), `#` only as the last level,
 * `+` only as a whole level.
 */
export function topicProblem(topic: string): string | undefined {
  if (topic.length === 0) return "a non-empty topic filter";
  if (Buffer.byteLength(topic, "utf8") > 65535) return "a topic filter of at most 65535 bytes";
  if (/[\s\u0000-\u001f\u007f]/.test(topic)) {
    return "a topic filter without whitespace or control characters";
  }
  const levels = topic.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      return "a topic filter with '#' only as the whole last level";
    }
    if (level.includes("+") && level !== "+") {
      return "a topic filter with '+' only as a whole level";
    }
  }
  return undefined;
}

/**
 * A pinned image reference: `name:tag` with a tag other than "latest", or `name@sha256:<digest>`.
 */
export function imageProblem(image: string): string | undefined {
  if (/\s/.test(image) || image.length === 0) return "an image reference without whitespace";
  const [ref, digest] = image.split("@");
  if (digest !== undefined) {
    return /^sha256:[0-9a-f]{64}$/.test(digest)
      ? undefined
      : "a digest of the form sha256:<64 hex>";
  }
  const lastSlash = ref.lastIndexOf("/");
  const colon = ref.indexOf(":", lastSlash + 1);
  if (colon < 0) return 'a pinned tag (name:tag), not an untagged image that means "latest"';
  const tag = ref.slice(colon + 1);
  // Tags are case-sensitive, but "LATEST" is as much a moving tag as "latest" (and the policy
  // pack refuses both).
  if (tag.toLowerCase() === "latest") return 'a pinned tag, not "latest"';
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) return "a valid tag";
  return undefined;
}

function parsePublish(value: string): PortPublish | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(value);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1].split(".").some((o) => Number(o) > 255)) return undefined;
  return { ip: m[1], port };
}

/** Where connector 1's metrics server is published when `tunnel.metrics` names no address. */
export const DEFAULT_METRICS_PUBLISH = "127.0.0.1:2000";

const CRON_FIELD = /^[0-9*,/-]+$/;

/** Longest `<project>-<stack>-<host>` whose swarm object names stay within Docker's 64. */
export const SWARM_PREFIX_MAX = 64 - "-mosquitto-passwd-".length - 12;

// ---------------------------------------------------------------------------------------------
// Schemas. Structured keys are objects; unknown keys are refused so a typo does not silently
// fall back to a default.

const imageSchema = z.string().superRefine((v, ctx) => {
  const p = imageProblem(v);
  if (p) ctx.addIssue({ code: "custom", message: `expected ${p}` });
});

const hostnameSchema = z
  .string()
  .transform((v) => v.toLowerCase())
  .refine(isHostname, {
    message: "expected a fully qualified DNS hostname such as mqtt.example.com",
  });

const hostnamesSchema = z
  .union([hostnameSchema, z.array(hostnameSchema)])
  .transform((v) => (Array.isArray(v) ? v : [v]));

const topicSchema = z.string().superRefine((v, ctx) => {
  const p = topicProblem(v);
  if (p) ctx.addIssue({ code: "custom", message: `expected ${p}` });
});

const aclRuleSchema = z.strictObject({
  access: z.enum(["read", "write", "readwrite", "deny"], {
    error: 'expected one of "read", "write", "readwrite", "deny"',
  }),
  topic: topicSchema,
});

/** The MQTT user a site broker's bridge connects as, unless `broker.bridge.user` names another. */
export const DEFAULT_BRIDGE_USER = "bridge";

const bridgeTopicSchema = z.strictObject({
  topic: topicSchema,
  direction: z.enum(["out", "in", "both"], {
    error: 'expected "out" (site to this broker), "in" (this broker to the site) or "both"',
  }),
  qos: z
    .union([z.literal(0), z.literal(1), z.literal(2)], { error: "expected 0, 1 or 2" })
    .default(1),
});

const portSchema = z
  .number({ error: "expected a port number" })
  .int({ error: "expected an integer port" })
  .min(1, { error: "expected a port between 1 and 65535" })
  .max(65535, { error: "expected a port between 1 and 65535" });

const publishSchema = z.string().transform((v, ctx) => {
  const p = parsePublish(v);
  if (!p) {
    ctx.addIssue({ code: "custom", message: 'expected "<ipv4>:<port>", such as "127.0.0.1:1883"' });
    return z.NEVER;
  }
  return p;
});

const tunnelSchema = z
  .strictObject({
    mode: z.enum(["managed", "token", "quick", "none"], {
      error: 'expected one of "managed", "token", "quick", "none"',
    }),
    accountId: z
      .string()
      .regex(ACCOUNT_ID, { error: "expected a Cloudflare account id (32 hex characters)" })
      .optional(),
    zone: z
      .string()
      .transform((v) => v.toLowerCase())
      .refine(isHostname, { error: "expected a zone name such as example.com" })
      .optional(),
    zones: z
      .array(
        z
          .string()
          .transform((v) => v.toLowerCase())
          .refine(isHostname, { error: "expected a zone name such as example.com" }),
      )
      .optional(),
    zoneId: z
      .string()
      .regex(ACCOUNT_ID, { error: "expected a Cloudflare zone id (32 hex characters)" })
      .optional(),
    hostname: hostnamesSchema.optional(),
    tcpHostname: hostnameSchema.optional(),
    replicas: z
      .number({ error: "expected a whole number of connectors" })
      .int({ error: "expected a whole number of connectors" })
      .min(1, { error: "expected at least 1 connector" })
      // Cloudflare's limit on active cloudflared replicas per tunnel, and each host has its own
      // tunnel (developers.cloudflare.com/cloudflare-one/account-limits, "Cloudflare Tunnel").
      .max(MAX_REPLICAS, {
        error: `expected at most ${MAX_REPLICAS} connectors per host (Cloudflare's limit per tunnel)`,
      })
      .default(1),
    image: imageSchema.default(DEFAULT_IMAGES.cloudflared),
    access: z.boolean({ error: "expected true or false" }).default(false),
    manageZoneSettings: z.boolean({ error: "expected true or false" }).default(false),
    secretVersion: z.union([z.string(), z.number()]).transform(String).default("1"),
    edge: z
      // host:port or [v6]:port; never a leading "-", which cloudflared would read as a flag.
      .array(
        z
          .string()
          .regex(/^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/, {
            error: "expected host:port",
          }),
      )
      .default([]),
    quickService: z.url({ error: "expected a URL" }).optional(),
    metrics: z
      .strictObject(
        { publish: publishSchema.prefault(DEFAULT_METRICS_PUBLISH) },
        { error: `expected an object such as { publish: "${DEFAULT_METRICS_PUBLISH}" }` },
      )
      .optional(),
  })
  .prefault({ mode: "quick" });

const brokerSchema = z
  .strictObject({
    image: imageSchema.default(DEFAULT_IMAGES.mosquitto),
    allowAnonymous: z.boolean({ error: "expected true or false" }).default(false),
    anonymousAcl: z.array(aclRuleSchema).optional(),
    persistence: z.boolean({ error: "expected true or false" }).default(true),
    websocketPort: portSchema.default(9001),
    tcp: z.strictObject({ publish: publishSchema.optional() }).optional(),
    websocket: z.strictObject({ publish: publishSchema.optional() }).optional(),
    maxConnections: z
      .number({ error: "expected a number of connections" })
      .int({ error: "expected a whole number" })
      .min(1, { error: "expected at least 1" })
      .max(1_000_000, { error: "expected at most 1000000" })
      .default(1000),
    messageSizeLimit: z
      .number({ error: "expected a size in bytes" })
      .int({ error: "expected a whole number of bytes" })
      .min(1, { error: "expected at least 1 byte" })
      .max(268435455, { error: "expected at most 268435455 bytes (MQTT's limit)" })
      .default(262144),
    maxKeepalive: z
      .number({ error: "expected a number of seconds" })
      .int({ error: "expected a whole number of seconds" })
      .min(10, { error: "expected at least 10 seconds (mosquitto refuses less)" })
      .max(65535, { error: "expected at most 65535 seconds (MQTT's keep alive is 16 bits)" })
      .default(60),
    memoryMb: z
      .number({ error: "expected a memory limit in MiB" })
      .int({ error: "expected a whole number of MiB" })
      .min(16, { error: "expected at least 16 MiB" })
      .default(256),
    users: z
      .array(
        z.strictObject({
          name: z.string().regex(USER_NAME, { error: USER_NAME_ERROR }),
          acl: z.array(aclRuleSchema).default([]),
        }),
      )
      .default([]),
    patterns: z
      .array(
        aclRuleSchema.refine((r) => /%[uc]/.test(r.topic), {
          error: "expected a pattern topic containing %u or %c",
          path: ["topic"],
        }),
      )
      .default([]),
    monitorUser: z
      .string({ error: "expected a user name" })
      .regex(USER_NAME, { error: USER_NAME_ERROR })
      .optional(),
    bridge: z
      .strictObject(
        {
          user: z
            .string({ error: "expected a user name" })
            .regex(USER_NAME, { error: USER_NAME_ERROR })
            .default(DEFAULT_BRIDGE_USER),
          topics: z
            .array(bridgeTopicSchema)
            .min(1, { error: "expected at least one topic to bridge" }),
        },
        { error: 'expected an object such as { topics: [{ topic: "sites/#", direction: out }] }' },
      )
      .optional(),
  })
  .prefault({});

const hostsSchema = z.array(
  z.strictObject({
    name: z.string().regex(HOST_NAME, {
      error:
        "expected a host name of 1-31 lowercase letters, digits or '-', starting with a letter or digit",
    }),
    docker: z
      .string()
      .regex(/^(unix|tcp|ssh|npipe):\/\/\S+$/, {
        error:
          "expected a Docker endpoint such as unix:///var/run/docker.sock, tcp://h:2376 or ssh://user@h",
      })
      .optional(),
    certPath: z.string().min(1).optional(),
    hostname: hostnamesSchema.optional(),
    tcpHostname: hostnameSchema.optional(),
    zone: z
      .string()
      .transform((v) => v.toLowerCase())
      .refine(isHostname, { error: "expected a zone name such as example.com" })
      .optional(),
    replicas: z.number().int().min(1).max(MAX_REPLICAS).optional(),
  }),
);

const cronSchema = z.string().refine(
  (v) => {
    const f = v.trim().split(/\s+/);
    return f.length === 5 && f.every((x) => CRON_FIELD.test(x));
  },
  { error: 'expected a 5-field cron expression such as "0 3 * * *"' },
);

const swarmSchema = z.strictObject({
  enabled: z.boolean({ error: "expected true or false" }).default(true),
  proxy: z
    .enum(["dockerflow", "traefik"], { error: 'expected "dockerflow" or "traefik"' })
    .default("dockerflow"),
  network: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { error: "expected a Docker network name" })
    .default("main"),
  proxyReplicas: z.number().int().min(1).max(32).default(2),
  letsencrypt: z
    .strictObject({
      email: z.email({ error: "expected an e-mail address" }),
      domains: z.array(hostnameSchema).min(1, { error: "expected at least one domain" }),
      node: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: "expected a swarm node hostname or id" })
        .optional(),
      renewCron: z.array(cronSchema).default(["0 3 * * *", "0 15 * * *"]),
    })
    .optional(),
  httpHostnames: z.array(hostnameSchema).default([]),
  endpointMode: z.enum(["vip", "dnsrr"], { error: 'expected "vip" or "dnsrr"' }).default("vip"),
  dockerSocket: z
    .string()
    .regex(/^\/[^\s]*$/, { error: "expected an absolute path such as /var/run/docker.sock" })
    .default("/var/run/docker.sock"),
  ports: z
    .strictObject({ http: portSchema.default(80), https: portSchema.default(443) })
    .prefault({}),
  brokerConstraints: z
    .array(
      z.string().regex(/^[A-Za-z0-9_.-]+ *(==|!=) *[A-Za-z0-9_.:-]+$/, {
        error: 'expected a constraint such as "node.role == manager"',
      }),
    )
    .default(["node.role == manager"]),
  images: z
    .strictObject({
      swarmListener: imageSchema.default("dockerflow/docker-flow-swarm-listener:19.03.2-18"),
      proxy: imageSchema.default("dockerflow/docker-flow-proxy:19.12.08-88"),
      letsencrypt: imageSchema.default("hamburml/docker-flow-letsencrypt:0.0.10"),
      traefik: imageSchema.default("traefik:v3.5.3"),
      socketProxy: imageSchema.default("tecnativa/docker-socket-proxy:v0.4.1"),
    })
    .prefault({}),
});

const booleanString = z
  .union([z.boolean(), z.enum(["true", "false"])])
  .transform((v) => v === true || v === "true");

const dockerTlsSchema = z.record(
  z.string(),
  z.strictObject({
    ca: z.string().includes("BEGIN CERTIFICATE", { error: "expected a PEM CA certificate" }),
    cert: z.string().includes("BEGIN CERTIFICATE", { error: "expected a PEM client certificate" }),
    key: z.string().includes("PRIVATE KEY", { error: "expected a PEM private key" }),
  }),
);

// ---------------------------------------------------------------------------------------------

/** A config problem, one per offending key path. */
export interface ConfigProblem {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(public readonly problems: ConfigProblem[]) {
    super(
      `invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  ${p.path}: ${p.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** Raw config as the Pulumi engine hands it over: key -> string (JSON for structured values). */
export interface RawConfig {
  project: string;
  stack: string;
  get(key: string): string | undefined;
  isSecret(key: string): boolean;
}

function show(value: unknown): string {
  if (value === undefined) return "missing";
  const s = JSON.stringify(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function keyPath(key: string, path: PropertyKey[]): string {
  let s = `${PROJECT}:${key}`;
  for (const k of path) s += typeof k === "number" ? `[${k}]` : `.${String(k)}`;
  return s;
}

/**
 * The value a failed parse would have had without its offending parts, so that the checks across
 * keys still run and report their problems in the same pass. Removes the value at each issue's
 * path (or its parent, if removing it is not enough) until the rest parses; nothing it finds is
 * reported, and the result is never deployed (any problem stops the run).
 */
function salvage<T>(
  schema: z.ZodType<T>,
  input: unknown,
  issues: readonly z.core.$ZodIssue[],
): T | undefined {
  if (input === null || typeof input !== "object") return undefined;
  const copy = structuredClone(input) as Record<PropertyKey, unknown>;
  const removed = new Set<string>();
  let pending = issues;
  for (let round = 0; round < 20; round++) {
    for (const issue of pending) {
      let path = issue.path.slice();
      if (issue.code === "unrecognized_keys") path = [...path, issue.keys[0]];
      while (path.length && removed.has(JSON.stringify(path))) path = path.slice(0, -1);
      if (path.length === 0) return undefined;
      removed.add(JSON.stringify(path));
      const parent = valueAt(copy, path.slice(0, -1)) as Record<PropertyKey, unknown> | unknown[];
      const last = path[path.length - 1];
      if (Array.isArray(parent) && typeof last === "number") parent.splice(last, 1);
      else if (parent && typeof parent === "object")
        delete (parent as Record<PropertyKey, unknown>)[last];
    }
    const again = schema.safeParse(copy);
    if (again.success) return again.data;
    pending = again.error.issues;
  }
  return undefined;
}

/** Structured values arrive as JSON; scalars as plain strings. */
function decode(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

const KNOWN_KEYS = ["tunnel", "tunnelToken", "broker", "hosts", "swarm", "protect", "dockerTls"];

/**
 * Validates the whole stack configuration. Throws a ConfigError listing every problem; returns a
 * typed config otherwise. Secrets (tunnelToken, dockerTls) come back as secret Outputs only.
 */
export function parseConfig(raw: RawConfig, allKeys: string[] = []): StackConfig {
  const problems: ConfigProblem[] = [];

  for (const full of allKeys) {
    const [ns, key] = full.split(":");
    if (ns === PROJECT && key && !KNOWN_KEYS.includes(key.split(".")[0])) {
      problems.push({
        path: full,
        message: `unknown key; expected one of ${KNOWN_KEYS.map((k) => `${PROJECT}:${k}`).join(", ")}`,
      });
    }
  }

  function parse<T>(key: string, schema: z.ZodType<T>, secret = false): T | undefined {
    const input = decode(raw.get(key));
    const result = schema.safeParse(input);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      const at = valueAt(input, issue.path);
      const shown = secret ? "(secret)" : show(at);
      problems.push({
        path: keyPath(key, issue.path),
        message: `${issue.message.replace(/^Invalid input: (expected )?/, "expected ")} (got ${shown})`,
      });
    }
    return salvage(schema, input, result.error.issues);
  }

  const tunnelIn = parse("tunnel", tunnelSchema);
  const brokerIn = parse("broker", brokerSchema);
  const hostsIn = parse("hosts", hostsSchema.optional());
  const swarmIn = parse("swarm", swarmSchema.optional());
  const protect = parse("protect", booleanString.optional()) ?? false;
  const dockerTlsIn = parse("dockerTls", dockerTlsSchema.optional(), true);
  if (dockerTlsIn !== undefined && !raw.isSecret("dockerTls")) {
    problems.push({
      path: `${PROJECT}:dockerTls`,
      message:
        "expected a secret value (set it with `pulumi config set --secret`); it holds private keys",
    });
  }

  const tokenRaw = raw.get("tunnelToken");
  // Problems found by the schemas; the checks across keys below may run on salvaged values.
  const schemaProblems = problems.length;

  if (tunnelIn) {
    const t = tunnelIn;
    const p = (k: string, message: string) =>
      problems.push({ path: keyPath("tunnel", [k]), message });
    if (t.mode === "managed") {
      if (!t.accountId)
        p("accountId", "required in managed mode (the Cloudflare account id, 32 hex characters)");
      if (!t.zone && !t.zones?.length && !t.zoneId) {
        p("zone", "required in managed mode (the zone name, such as example.com, or zoneId)");
      }
      const anyHostname =
        (t.hostname?.length ?? 0) > 0 || (hostsIn ?? []).some((h) => h.hostname?.length);
      if (!anyHostname)
        p(
          "hostname",
          "required in managed mode (the public MQTT hostname, such as mqtt.example.com)",
        );
    } else {
      for (const k of [
        "accountId",
        "zone",
        "zones",
        "zoneId",
        "access",
        "manageZoneSettings",
        "tcpHostname",
      ] as const) {
        if (t[k] !== undefined && t[k] !== false)
          p(k, `only used in managed mode (mode is ${show(t.mode)})`);
      }
    }
    if (t.mode === "token") {
      if (tokenRaw === undefined) {
        problems.push({
          path: `${PROJECT}:tunnelToken`,
          message:
            "required in token mode; set it with `pulumi config set --secret tunnelToken <token>`",
        });
      }
    }
    if (t.mode !== "token" && tokenRaw !== undefined) {
      problems.push({
        path: `${PROJECT}:tunnelToken`,
        message: `only used in token mode (mode is ${show(t.mode)})`,
      });
    }
    if (t.mode !== "quick" && t.quickService) p("quickService", "only used in quick mode");
    if (t.zone && t.zones?.length) p("zones", "set either zone or zones, not both");
    if (t.zoneId && (t.zones?.length ?? 0) > 1) p("zoneId", "only with a single zone");
    if ((t.mode === "quick" || t.mode === "none") && t.hostname?.length) {
      p("hostname", `not used in ${t.mode} mode: a public hostname needs managed mode`);
    }
  }
  if (tokenRaw !== undefined && !raw.isSecret("tunnelToken")) {
    problems.push({
      path: `${PROJECT}:tunnelToken`,
      message:
        "expected a secret value; it was stored in plain text. Run `pulumi config set --secret tunnelToken <token>`",
    });
  } else if (tokenRaw !== undefined && !/^[A-Za-z0-9+/=_-]{32,}$/.test(tokenRaw)) {
    problems.push({
      path: `${PROJECT}:tunnelToken`,
      message: "expected a tunnel token (base64 text from the Cloudflare dashboard) (got (secret))",
    });
  }

  const zones = tunnelIn ? (tunnelIn.zones ?? (tunnelIn.zone ? [tunnelIn.zone] : [])) : [];

  if (brokerIn) {
    const b = brokerIn;
    const p = (path: PropertyKey[], message: string) =>
      problems.push({ path: keyPath("broker", path), message });
    if (!b.allowAnonymous && b.users.length === 0) {
      p(
        ["users"],
        "expected at least one user when allowAnonymous is false (nobody could connect)",
      );
    }
    if (!b.allowAnonymous && b.anonymousAcl !== undefined) {
      p(["anonymousAcl"], "only used when allowAnonymous is true");
    }
    const seen = new Map<string, number>();
    b.users.forEach((u, i) => {
      const prev = seen.get(u.name);
      if (prev !== undefined)
        p(["users", i, "name"], `duplicate user ${show(u.name)} (also users[${prev}])`);
      else seen.set(u.name, i);
    });
    if (b.bridge !== undefined) {
      const also = seen.get(b.bridge.user);
      if (also !== undefined || b.bridge.user === b.monitorUser)
        p(
          ["bridge", "user"],
          `duplicate user ${show(b.bridge.user)} (also ${also !== undefined ? `users[${also}]` : "monitorUser"}); the bridge user's ACL allows the bridged topics only, so it needs a name of its own`,
        );
    }
    if (b.monitorUser !== undefined) {
      const also = seen.get(b.monitorUser);
      if (also !== undefined)
        p(
          ["monitorUser"],
          `duplicate user ${show(b.monitorUser)} (also users[${also}]); the monitor user may read $SYS/# only, so it needs a name of its own`,
        );
      // The ACL denies the monitor user every other topic with `deny #`, which matches no
      // $-topic: a pattern on a $-topic would be the one grant that still reached it.
      b.patterns.forEach((r, i) => {
        if (r.topic.startsWith("$"))
          p(
            ["patterns", i, "topic"],
            `expected a topic that does not start with '$' when monitorUser is set (patterns apply to every user, and the monitor user may read $SYS/# only) (got ${show(r.topic)})`,
          );
      });
    }
    const tcpPort = 1883;
    if (b.websocketPort === tcpPort)
      p(
        ["websocketPort"],
        `expected a port other than ${tcpPort}, the internal MQTT listener (got ${b.websocketPort})`,
      );
    const pubs = [b.tcp?.publish, b.websocket?.publish].filter((x): x is PortPublish => !!x);
    if (pubs.length === 2 && pubs[0].port === pubs[1].port && pubs[0].ip === pubs[1].ip) {
      p(
        ["websocket", "publish"],
        `expected a different host port than tcp.publish (both ${pubs[0].ip}:${pubs[0].port})`,
      );
    }
  }

  let hosts: HostConfig[] = [];
  if (tunnelIn && hostsIn !== undefined) {
    if (hostsIn.length === 0)
      problems.push({
        path: `${PROJECT}:hosts`,
        message: "expected at least one host, or leave the key unset for the local Docker host",
      });
    const names = new Map<string, number>();
    hostsIn.forEach((h, i) => {
      const prev = names.get(h.name);
      if (prev !== undefined)
        problems.push({
          path: keyPath("hosts", [i, "name"]),
          message: `duplicate host ${show(h.name)} (also hosts[${prev}])`,
        });
      else names.set(h.name, i);
      if (h.certPath && !h.docker?.startsWith("tcp://")) {
        problems.push({
          path: keyPath("hosts", [i, "certPath"]),
          message: "only used with a tcp:// docker endpoint",
        });
      }
    });
    hosts = hostsIn.map((h) => ({
      name: h.name,
      docker: h.docker,
      certPath: h.certPath,
      hostnames: h.hostname ?? [],
      tcpHostname: h.tcpHostname,
      zone: h.zone,
      replicas: h.replicas ?? tunnelIn.replicas,
    }));
    // The tunnel-level hostnames belong to the first host unless that host names its own.
    if (tunnelIn.hostname?.length) {
      if (hosts.length && hosts[0].hostnames.length === 0) hosts[0].hostnames = tunnelIn.hostname;
    }
    if (tunnelIn.tcpHostname && hosts.length && !hosts[0].tcpHostname) {
      hosts[0].tcpHostname = tunnelIn.tcpHostname;
    }
  } else if (tunnelIn) {
    hosts = [
      {
        name: "local",
        hostnames: tunnelIn.hostname ?? [],
        tcpHostname: tunnelIn.tcpHostname,
        replicas: tunnelIn.replicas,
      },
    ];
  }

  if (brokerIn?.bridge && !hosts.some((h) => h.tcpHostname)) {
    problems.push({
      path: keyPath("broker", ["bridge"]),
      message:
        "only used with tunnel.tcpHostname (or hosts[].tcpHostname) in managed mode: a site broker's bridge speaks native MQTT, which reaches the broker through the tunnel's TCP route",
    });
  }

  const metrics = tunnelIn?.metrics?.publish;
  if (metrics) {
    const at = keyPath("tunnel", ["metrics", "publish"]);
    if (tunnelIn?.mode === "none")
      problems.push({
        path: keyPath("tunnel", ["metrics"]),
        message: 'only used when connectors run (mode is "none")',
      });
    // Connector i (1-based) is published at port + i - 1.
    const most = Math.max(1, ...hosts.map((h) => h.replicas));
    const last = metrics.port + most - 1;
    if (last > 65535)
      problems.push({
        path: at,
        message: `expected room for ${most} host ports, one per connector (port + i - 1), but ${metrics.port} + ${most - 1} is past 65535`,
      });
    for (const k of ["tcp", "websocket"] as const) {
      const other = brokerIn?.[k]?.publish;
      const sameIp =
        other && (other.ip === metrics.ip || [other.ip, metrics.ip].includes("0.0.0.0"));
      if (other && sameIp && other.port >= metrics.port && other.port <= last)
        problems.push({
          path: at,
          message: `expected host ports ${metrics.port}-${last} (one per connector) apart from broker.${k}.publish (${other.ip}:${other.port})`,
        });
    }
  }

  if (tunnelIn?.mode === "managed") {
    const owner = new Map<string, string>();
    hosts.forEach((h, i) => {
      if (h.hostnames.length === 0 && hosts.length > 1) {
        problems.push({
          path: keyPath("hosts", [i, "hostname"]),
          message: "required in managed mode: each host has its own tunnel and public hostname",
        });
      }
      const named = h.hostnames.map((name, j) => ({ name, j, key: "hostname" }));
      if (h.tcpHostname) named.push({ name: h.tcpHostname, j: 0, key: "tcpHostname" });
      named.forEach(({ name, j, key }) => {
        // Where the name was written: hosts[i] or the tunnel (whose names go to the first host).
        const own = key === "hostname" ? !!hostsIn : hostsIn?.[i]?.tcpHostname !== undefined;
        const path = own ? keyPath("hosts", [i, key]) : keyPath("tunnel", [key]);
        const prev = owner.get(name);
        if (prev !== undefined) {
          problems.push({
            path,
            message: `duplicate hostname ${show(name)} (also used by ${prev})`,
          });
        } else owner.set(name, `host ${h.name}`);
        if (h.zone) {
          if (!inZone(name, h.zone))
            problems.push({ path, message: `${show(name)} is not inside zone ${show(h.zone)}` });
        } else if (zones.length && !zoneFor(name, zones)) {
          problems.push({
            path:
              own || key !== "hostname" ? path : path + (h.hostnames.length > 1 ? `[${j}]` : ""),
            message: `${show(name)} is not inside zone ${zones.length === 1 ? show(zones[0]) : `any of ${show(zones)}`}`,
          });
        }
      });
    });
    for (const name of swarmIn?.httpHostnames ?? []) {
      if (owner.has(name))
        problems.push({
          path: keyPath("swarm", ["httpHostnames"]),
          message: `duplicate hostname ${show(name)} (also used by ${owner.get(name)})`,
        });
      else if (zones.length && !zoneFor(name, zones))
        problems.push({
          path: keyPath("swarm", ["httpHostnames"]),
          message: `${show(name)} is not inside zone ${show(zones.length === 1 ? zones[0] : zones)}`,
        });
    }
    hosts.forEach((h, i) => {
      if (h.zone && zones.length && !zones.includes(h.zone)) {
        problems.push({
          path: keyPath("hosts", [i, "zone"]),
          message: `expected one of the configured zones ${show(zones)} (got ${show(h.zone)})`,
        });
      }
    });
  } else if (hostsIn) {
    hostsIn.forEach((h, i) => {
      for (const key of ["hostname", "tcpHostname"] as const) {
        if (h[key] !== undefined)
          problems.push({
            path: keyPath("hosts", [i, key]),
            message: `only used in managed mode (mode is ${show(tunnelIn?.mode)})`,
          });
      }
    });
  }

  if (swarmIn?.enabled) {
    // Docker refuses secret and config names over 64 characters; the longest the program makes
    // is the password secret, <project>-<stack>-<host>-mosquitto-passwd-<12 hex>.
    for (const h of hosts) {
      const prefix = `${raw.project}-${raw.stack}-${h.name}`;
      if (prefix.length > SWARM_PREFIX_MAX) {
        problems.push({
          path: `${PROJECT}:swarm`,
          message: `stack "${raw.stack}" with host "${h.name}" makes swarm object names too long: "${prefix}" is ${prefix.length} characters, at most ${SWARM_PREFIX_MAX} fit Docker's 64-character limit (shorten the stack or host name)`,
        });
      }
    }
    if (hosts.length > 1) {
      problems.push({
        path: `${PROJECT}:swarm`,
        message: "swarm mode deploys to one swarm manager endpoint; expected at most one host",
      });
    }
    for (const k of ["tcp", "websocket"] as const) {
      if (brokerIn?.[k]?.publish) {
        problems.push({
          path: keyPath("broker", [k, "publish"]),
          message:
            "not available in swarm mode: a swarm publishes ports on every address of every node; reach the broker through the tunnel or the overlay network",
        });
      }
    }
    if (tunnelIn?.metrics) {
      problems.push({
        path: keyPath("tunnel", ["metrics"]),
        message:
          "not available in swarm mode: a swarm publishes one port for all replicas of a service, on every address of every node, so no connector's metrics could be told apart",
      });
    }
    if (swarmIn.httpHostnames.length && tunnelIn?.mode !== "managed") {
      problems.push({
        path: keyPath("swarm", ["httpHostnames"]),
        message: "only used in managed tunnel mode",
      });
    }
  }

  if (problems.length) {
    // A check across keys that ran on a salvaged value can repeat a schema problem in other words
    // (an invalid user removed, then "no users"): keep the schema's, which names the cause.
    const schemaPaths = problems.slice(0, schemaProblems).map((p) => p.path);
    const related = (a: string, b: string) =>
      a === b ||
      a.startsWith(`${b}.`) ||
      a.startsWith(`${b}[`) ||
      b.startsWith(`${a}.`) ||
      b.startsWith(`${a}[`);
    throw new ConfigError([
      ...problems.slice(0, schemaProblems),
      ...problems.slice(schemaProblems).filter((p) => !schemaPaths.some((s) => related(s, p.path))),
    ]);
  }

  const tunnel = tunnelIn!;
  const broker = brokerIn!;
  const dockerTls: Record<string, pulumi.Output<DockerTls>> = {};
  for (const [host, m] of Object.entries(dockerTlsIn ?? {})) {
    dockerTls[host] = pulumi.secret({ caMaterial: m.ca, certMaterial: m.cert, keyMaterial: m.key });
  }
  return {
    project: raw.project,
    stack: raw.stack,
    tunnel: {
      mode: tunnel.mode,
      accountId: tunnel.accountId,
      zones,
      zoneId: tunnel.zoneId,
      hostnames: tunnel.hostname ?? [],
      replicas: tunnel.replicas,
      image: tunnel.image,
      access: tunnel.access,
      manageZoneSettings: tunnel.manageZoneSettings,
      secretVersion: tunnel.secretVersion,
      edge: tunnel.edge,
      quickService: tunnel.quickService,
      metrics: tunnel.metrics,
    },
    tunnelToken: tokenRaw !== undefined ? pulumi.secret(tokenRaw) : undefined,
    broker: {
      ...broker,
      // The bridge user is a user like the others (a generated password, in mqttCredentials),
      // whose ACL is derived from the bridged topics.
      users: broker.bridge
        ? [...broker.users, { name: broker.bridge.user, acl: bridgeAcl(broker.bridge.topics) }]
        : broker.users,
      anonymousAcl: broker.allowAnonymous
        ? (broker.anonymousAcl ?? [{ access: "readwrite", topic: "#" }])
        : [],
    },
    hosts,
    swarm: swarmIn?.enabled ? swarmIn : undefined,
    protect,
    dockerTls,
  };
}

/**
 * What the bridge user may do on this broker: a site bridge publishes its `out` topics here
 * (write) and subscribes to its `in` topics (read).
 */
export function bridgeAcl(topics: BridgeTopic[]): AclRule[] {
  const access = { out: "write", in: "read", both: "readwrite" } as const;
  return topics.map((t) => ({ access: access[t.direction], topic: t.topic }));
}

export function inZone(hostname: string, zone: string): boolean {
  return hostname === zone || hostname.endsWith(`.${zone}`);
}

/** The zone a hostname belongs to: the longest configured zone it is inside (as DockFlare does). */
export function zoneFor(hostname: string, zones: string[]): string | undefined {
  return zones.filter((z) => inZone(hostname, z)).sort((a, b) => b.length - a.length)[0];
}

/** The SDK keeps this helper out of its type declarations; it reads the engine's secret-key list. */
const runtimeWithSecrets = pulumi.runtime as unknown as { isConfigSecret(key: string): boolean };

/** Reads the stack's config through the Pulumi SDK and validates it. */
export function loadConfig(): StackConfig {
  return parseConfig(
    {
      project: pulumi.getProject(),
      stack: pulumi.getStack(),
      // Secret values are read raw only to validate them; they leave parseConfig as secret Outputs.
      get: (key) => pulumi.runtime.getConfig(`${PROJECT}:${key}`),
      isSecret: (key) => runtimeWithSecrets.isConfigSecret(`${PROJECT}:${key}`),
    },
    Object.keys(pulumi.runtime.allConfig()),
  );
}
