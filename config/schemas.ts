/**
 * The zod schemas of the structured keys, with the defaults of config/defaults.ts. Unknown keys
 * are refused so a typo does not silently fall back to a default.
 */
import { z } from "zod";
import { imageProblem } from "../shared/images";
import {
  BRIDGE_DEFAULTS,
  BROKER_DEFAULTS,
  DEFAULT_IMAGES,
  defaultBrokerConstraints,
  defaultRenewCron,
  defaultUsers,
  MANAGER_CONSTRAINT,
  SWARM_DEFAULTS,
  TUNNEL_DEFAULTS,
} from "./defaults";
import {
  CLOUDFLARE_ID,
  CRON_FIELD,
  HOST_NAME,
  MAX_REPLICAS,
  USER_NAME,
  USER_NAME_ERROR,
  isHostname,
  parsePublish,
  topicProblem,
} from "./values";

const imageSchema = z.string().superRefine((v, ctx) => {
  const p = imageProblem(v);
  if (p) ctx.addIssue({ code: "custom", message: `expected ${p.expected}` });
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

/** A zone name (tunnel.zone, tunnel.zones[], hosts[].zone). */
const zoneSchema = z
  .string()
  .transform((v) => v.toLowerCase())
  .refine(isHostname, { error: "expected a zone name such as example.com" });

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

const booleanSchema = z.boolean({ error: "expected true or false" });

function memorySchema(min: number) {
  return z
    .number({ error: "expected a memory limit in MiB" })
    .int({ error: "expected a whole number of MiB" })
    .min(min, { error: `expected at least ${min} MiB` });
}

const metricsSchema = z.strictObject(
  { publish: publishSchema.prefault(TUNNEL_DEFAULTS.metricsPublish) },
  { error: `expected an object such as { publish: "${TUNNEL_DEFAULTS.metricsPublish}" }` },
);

export const tunnelSchema = z
  .strictObject({
    mode: z.enum(["managed", "token", "quick", "none"], {
      error: 'expected one of "managed", "token", "quick", "none"',
    }),
    accountId: z
      .string()
      .regex(CLOUDFLARE_ID, { error: "expected a Cloudflare account id (32 hex characters)" })
      .optional(),
    zone: zoneSchema.optional(),
    zones: z.array(zoneSchema).optional(),
    zoneId: z
      .string()
      .regex(CLOUDFLARE_ID, { error: "expected a Cloudflare zone id (32 hex characters)" })
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
      .default(TUNNEL_DEFAULTS.replicas),
    image: imageSchema.default(TUNNEL_DEFAULTS.image),
    access: booleanSchema.default(TUNNEL_DEFAULTS.access),
    manageZoneSettings: booleanSchema.default(TUNNEL_DEFAULTS.manageZoneSettings),
    secretVersion: z
      .union([z.string(), z.number()])
      .transform(String)
      .default(TUNNEL_DEFAULTS.secretVersion),
    edge: z
      // host:port or [v6]:port; never a leading "-", which cloudflared would read as a flag.
      .array(
        z
          .string()
          .regex(/^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/, {
            error: "expected host:port",
          }),
      )
      .default(() => []),
    quickService: z.url({ error: "expected a URL" }).optional(),
    metrics: metricsSchema.optional(),
    // cloudflared's resident set is ~30-60 MiB with a handful of connections.
    memoryMb: memorySchema(32).default(TUNNEL_DEFAULTS.memoryMb),
  })
  .prefault({ mode: TUNNEL_DEFAULTS.mode });

const bridgeTopicSchema = z.strictObject({
  topic: topicSchema,
  direction: z.enum(["out", "in", "both"], {
    error: 'expected "out" (site to this broker), "in" (this broker to the site) or "both"',
  }),
  qos: z
    .union([z.literal(0), z.literal(1), z.literal(2)], { error: "expected 0, 1 or 2" })
    .default(BRIDGE_DEFAULTS.qos),
});

const bridgeSchema = z.strictObject(
  {
    user: z
      .string({ error: "expected a user name" })
      .regex(USER_NAME, { error: USER_NAME_ERROR })
      .default(BRIDGE_DEFAULTS.user),
    topics: z.array(bridgeTopicSchema).min(1, { error: "expected at least one topic to bridge" }),
  },
  { error: 'expected an object such as { topics: [{ topic: "sites/#", direction: out }] }' },
);

const userSchema = z.strictObject({
  name: z.string().regex(USER_NAME, { error: USER_NAME_ERROR }),
  acl: z.array(aclRuleSchema).default(() => []),
  // Absent: the password keeps its first value. Any change (set, changed, removed) generates a
  // new password for this user alone; the broker reloads it in place.
  passwordVersion: z
    .union([z.string().min(1, { error: "expected a non-empty version" }), z.number()], {
      error: 'expected a version, e.g. 2 or "2026-12"',
    })
    .transform(String)
    .optional(),
});

export const brokerSchema = z
  .strictObject({
    image: imageSchema.default(BROKER_DEFAULTS.image),
    allowAnonymous: booleanSchema.default(BROKER_DEFAULTS.allowAnonymous),
    anonymousAcl: z.array(aclRuleSchema).optional(),
    persistence: booleanSchema.default(BROKER_DEFAULTS.persistence),
    websocketPort: portSchema.default(BROKER_DEFAULTS.websocketPort),
    tcp: z.strictObject({ publish: publishSchema.optional() }).optional(),
    websocket: z.strictObject({ publish: publishSchema.optional() }).optional(),
    maxConnections: z
      .number({ error: "expected a number of connections" })
      .int({ error: "expected a whole number" })
      .min(1, { error: "expected at least 1" })
      .max(1_000_000, { error: "expected at most 1000000" })
      .default(BROKER_DEFAULTS.maxConnections),
    messageSizeLimit: z
      .number({ error: "expected a size in bytes" })
      .int({ error: "expected a whole number of bytes" })
      .min(1, { error: "expected at least 1 byte" })
      .max(268435455, { error: "expected at most 268435455 bytes (MQTT's limit)" })
      .default(BROKER_DEFAULTS.messageSizeLimit),
    maxKeepalive: z
      .number({ error: "expected a number of seconds" })
      .int({ error: "expected a whole number of seconds" })
      .min(10, { error: "expected at least 10 seconds (mosquitto refuses less)" })
      .max(65535, { error: "expected at most 65535 seconds (MQTT's keep alive is 16 bits)" })
      .default(BROKER_DEFAULTS.maxKeepalive),
    memoryMb: memorySchema(16).default(BROKER_DEFAULTS.memoryMb),
    users: z.array(userSchema).optional(),
    patterns: z
      .array(
        aclRuleSchema.refine((r) => /%[uc]/.test(r.topic), {
          error: "expected a pattern topic containing %u or %c",
          path: ["topic"],
        }),
      )
      .default(() => []),
    monitorUser: z
      .string({ error: "expected a user name" })
      .regex(USER_NAME, { error: USER_NAME_ERROR })
      .optional(),
    probeUser: z
      .string({ error: "expected a user name" })
      .regex(USER_NAME, { error: USER_NAME_ERROR })
      .optional(),
    bridge: bridgeSchema.optional(),
  })
  // No users named: the default user, unless anonymous clients are allowed (they need none).
  .transform((b) => ({ ...b, users: b.users ?? (b.allowAnonymous ? [] : defaultUsers()) }))
  .prefault({});

export const hostsSchema = z.array(
  z.strictObject({
    name: z.string().regex(HOST_NAME, {
      error:
        "expected a host name of 1-31 lowercase letters, digits or '-', starting with a letter or digit",
    }),
    docker: z
      .string()
      .regex(/^(unix|tcp|ssh|npipe):\/\/\S+$/, {
        error: `expected a Docker endpoint such as unix://${SWARM_DEFAULTS.dockerSocket}, tcp://h:2376 or ssh://user@h`,
      })
      .optional(),
    certPath: z.string().min(1).optional(),
    hostname: hostnamesSchema.optional(),
    tcpHostname: hostnameSchema.optional(),
    zone: zoneSchema.optional(),
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

const letsencryptSchema = z.strictObject({
  email: z.email({ error: "expected an e-mail address" }),
  domains: z.array(hostnameSchema).min(1, { error: "expected at least one domain" }),
  node: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: "expected a swarm node hostname or id" })
    .optional(),
  renewCron: z.array(cronSchema).default(defaultRenewCron),
});

const swarmImagesSchema = z
  .strictObject({
    swarmListener: imageSchema.default(DEFAULT_IMAGES.swarmListener),
    proxy: imageSchema.default(DEFAULT_IMAGES.proxy),
    letsencrypt: imageSchema.default(DEFAULT_IMAGES.letsencrypt),
    traefik: imageSchema.default(DEFAULT_IMAGES.traefik),
    socketProxy: imageSchema.default(DEFAULT_IMAGES.socketProxy),
  })
  .prefault({});

export const swarmSchema = z.strictObject({
  enabled: booleanSchema.default(SWARM_DEFAULTS.enabled),
  proxy: z
    .enum(["dockerflow", "traefik"], { error: 'expected "dockerflow" or "traefik"' })
    .default(SWARM_DEFAULTS.proxy),
  network: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { error: "expected a Docker network name" })
    .default(SWARM_DEFAULTS.network),
  proxyReplicas: z.number().int().min(1).max(32).default(SWARM_DEFAULTS.proxyReplicas),
  letsencrypt: letsencryptSchema.optional(),
  httpHostnames: z.array(hostnameSchema).default(() => []),
  endpointMode: z
    .enum(["vip", "dnsrr"], { error: 'expected "vip" or "dnsrr"' })
    .default(SWARM_DEFAULTS.endpointMode),
  dockerSocket: z
    .string()
    .regex(/^\/[^\s]*$/, {
      error: `expected an absolute path such as ${SWARM_DEFAULTS.dockerSocket}`,
    })
    .default(SWARM_DEFAULTS.dockerSocket),
  ports: z
    .strictObject({
      http: portSchema.default(SWARM_DEFAULTS.ports.http),
      https: portSchema.default(SWARM_DEFAULTS.ports.https),
    })
    .prefault({}),
  brokerConstraints: z
    .array(
      z.string().regex(/^[A-Za-z0-9_.-]+ *(==|!=) *[A-Za-z0-9_.:-]+$/, {
        error: `expected a constraint such as "${MANAGER_CONSTRAINT}"`,
      }),
    )
    .default(defaultBrokerConstraints),
  images: swarmImagesSchema,
});

/** `protect` arrives as a boolean or, from the CLI, as the string "true" / "false". */
export const protectSchema = z
  .union([z.boolean(), z.enum(["true", "false"])])
  .transform((v) => v === true || v === "true");

export const dockerTlsSchema = z.record(
  z.string(),
  z.strictObject({
    ca: z.string().includes("BEGIN CERTIFICATE", { error: "expected a PEM CA certificate" }),
    cert: z.string().includes("BEGIN CERTIFICATE", { error: "expected a PEM client certificate" }),
    key: z.string().includes("PRIVATE KEY", { error: "expected a PEM private key" }),
  }),
);

export type TunnelInput = z.output<typeof tunnelSchema>;
export type BrokerInput = z.output<typeof brokerSchema>;
export type HostInput = z.output<typeof hostsSchema>[number];
export type SwarmInput = z.output<typeof swarmSchema>;
export type DockerTlsInput = z.output<typeof dockerTlsSchema>;
