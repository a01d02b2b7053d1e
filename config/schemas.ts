/**
 * The zod schemas of the structured keys, with the defaults of config/defaults.ts. Unknown keys
 * are refused so a typo does not silently fall back to a default.
 *
 * Each key also carries its documentation as zod metadata (`.meta()`): `description` is the
 * meaning column of the README's config tables, `example` and `unset` (what leaving out a key
 * without a default means) fill two more; `title` names a top-level key in Pulumi.yaml.
 * `npm run docs:config` (scripts/config-docs.ts) writes them into the README and Pulumi.yaml, the
 * defaults taken from the schemas; tests/unit/docs.test.ts fails when those files differ. The
 * metadata changes no validation.
 */
import { z } from "zod";
import { imageProblem } from "../shared/images";
import {
  BRIDGE_DEFAULTS,
  BROKER_DEFAULTS,
  DEFAULT_IMAGES,
  defaultAnonymousAcl,
  defaultBrokerConstraints,
  defaultRenewCron,
  defaultUsers,
  MANAGER_CONSTRAINT,
  SWARM_DEFAULTS,
  TUNNEL_DEFAULTS,
} from "./defaults";
import { PROBE_TOPICS } from "./rules/broker";
import { LOCAL_HOST } from "./rules/hosts";
import type { AclRule } from "./types";
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

declare module "zod" {
  interface GlobalMeta {
    /** The README's example column (Markdown). */
    example?: string;
    /** What leaving the key out means, for a key without a default value (Markdown). */
    unset?: string;
  }
}

/** ACL rules as the docs show them: `readwrite clients/client/#`. */
function aclText(acl: AclRule[]): string {
  return acl.map((r) => `\`${r.access} ${r.topic}\``).join(", ");
}

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

/**
 * A time as RFC 3339 in UTC to the second ("" when it is none). Written unquoted in a stack's
 * YAML, a timestamp reaches the program in Go's format ("2027-01-31 00:00:00 +0000 UTC": Pulumi
 * reads it as a YAML timestamp), so that form is taken too. Seconds, with no fraction, are how
 * Cloudflare answers times, so the value reads back as it was sent.
 */
function rfc3339Seconds(v: string): string {
  const go = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) ([+-]\d{2})(\d{2}) \S+$/.exec(v);
  const text = go ? `${go[1]}T${go[2]}${go[3]}:${go[4]}` : v;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text)) return "";
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? "" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

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

/** An ACL rule's keys, for the descriptions of the keys that hold rules. */
const ACL_RULE_TEXT = `rules of \`access\` (${aclRuleSchema.shape.access.options
  .map((a) => `\`${a}\``)
  .join(", ")}) and \`topic\``;

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
  {
    publish: publishSchema.prefault(TUNNEL_DEFAULTS.metricsPublish).meta({
      description: "Where connector 1's metrics server is published; connector i at port + i - 1.",
      example: '`"127.0.0.1:9100"`',
    }),
  },
  { error: `expected an object such as { publish: "${TUNNEL_DEFAULTS.metricsPublish}" }` },
);

export const tunnelSchema = z
  .strictObject({
    mode: z
      .enum(["managed", "token", "quick", "none"], {
        error: 'expected one of "managed", "token", "quick", "none"',
      })
      .meta({
        description:
          "`managed`: the program creates the tunnel, its config and DNS in Cloudflare. `token`: connectors run a tunnel made elsewhere with `tunnelToken`. `quick`: a TryCloudflare quick tunnel, no account. `none`: the broker alone. Required once `tunnel` is set.",
        example: "`managed`",
      }),
    accountId: z
      .string()
      .regex(CLOUDFLARE_ID, { error: "expected a Cloudflare account id (32 hex characters)" })
      .optional()
      .meta({
        description: "Cloudflare account id.",
        example: "`0123456789abcdef0123456789abcdef`",
        unset: "(managed: required)",
      }),
    zone: zoneSchema.optional().meta({
      description: "Zone of the public hostnames.",
      example: "`example.com`",
      unset: "(managed: `zone` or `zones`)",
    }),
    zones: z.array(zoneSchema).optional().meta({
      description: "Several zones; each hostname goes to the longest zone it ends with.",
      example: "`[example.com, example.org]`",
    }),
    zoneId: z
      .string()
      .regex(CLOUDFLARE_ID, { error: "expected a Cloudflare zone id (32 hex characters)" })
      .optional()
      .meta({
        description:
          "The id of `zone`: skips the lookup by name (one zone only; `zone` still names it).",
        example: "`023e105f4ecef8ad9ca31a8372d0c353`",
        unset: "looked up by name",
      }),
    hostname: hostnamesSchema.optional().meta({
      description: "Public MQTT-over-WSS hostname(s) of the first host.",
      example: "`mqtt.example.com` or a list",
      unset: "(managed: required)",
    }),
    tcpHostname: hostnameSchema.optional().meta({
      description:
        "managed mode: native MQTT over TCP for the first host, behind an Access application that admits a service token of its own. See [Native MQTT over TCP](#native-mqtt-over-tcp-through-the-tunnel).",
      example: "`mqtt-tcp.example.com`",
      unset: "none",
    }),
    replicas: z
      .number({ error: "expected a whole number of connectors" })
      .int({ error: "expected a whole number of connectors" })
      .min(1, { error: "expected at least 1 connector" })
      // Cloudflare's limit on active cloudflared replicas per tunnel, and each host has its own
      // tunnel (developers.cloudflare.com/cloudflare-one/account-limits, "Cloudflare Tunnel").
      .max(MAX_REPLICAS, {
        error: `expected at most ${MAX_REPLICAS} connectors per host (Cloudflare's limit per tunnel)`,
      })
      .default(TUNNEL_DEFAULTS.replicas)
      .meta({
        description: `cloudflared connectors per host (1-${MAX_REPLICAS}: Cloudflare allows ${MAX_REPLICAS} active replicas per tunnel, and each host has its own tunnel).`,
        example: "`2`",
      }),
    image: imageSchema.default(TUNNEL_DEFAULTS.image).meta({
      description: "Pinned; `latest` and untagged images are refused.",
    }),
    access: booleanSchema.default(TUNNEL_DEFAULTS.access).meta({
      description: "Put Cloudflare Access in front of the hostname; clients send a service token.",
      example: "`true`",
    }),
    manageZoneSettings: booleanSchema.default(TUNNEL_DEFAULTS.manageZoneSettings).meta({
      description:
        "managed mode: declare each zone's `websockets` setting as `on` (a `cloudflare.ZoneSetting`, kept on destroy) instead of refusing to deploy to a zone where it is off. See [Zone settings](#zone-settings-websockets-and-bot-fight-mode).",
      example: "`true`",
    }),
    secretVersion: z
      .union([z.string(), z.number()])
      .transform(String)
      .default(TUNNEL_DEFAULTS.secretVersion)
      .meta({
        description:
          "Change it to rotate the tunnel secret: set in place on the same tunnel (its DNS records stay), a new token, the connectors replaced.",
        example: '`"2"`',
      }),
    // The service tokens' lifetime: Cloudflare's `duration`, a Go duration string ("300ms",
    // "2h45m"; @pulumi/cloudflare 6.17.0 zeroTrustAccessServiceToken docs). Default one year.
    accessTokenDuration: z
      .string()
      .regex(/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/, {
        error: "expected a duration such as 8760h or 2160h30m (units ns, us, ms, s, m, h)",
      })
      .default(TUNNEL_DEFAULTS.accessTokenDuration)
      .meta({
        description:
          "managed mode, with `access` or a `tcpHostname`: how long each Access service token is valid from its creation. The expiry is in the `hosts` output; `preview` warns 30 days before. See [Access service tokens expire](#access-service-tokens-expire).",
        example: "`2160h`",
      }),
    accessSecret: z
      .strictObject({
        version: z
          .number()
          .int({ error: "expected a whole number" })
          .min(1, { error: "expected 1 or more" })
          .meta({
            description:
              "Raise it to rotate the client secret of every Access service token in place (same client id, a new secret).",
            example: "`2`",
          }),
        previousValidUntil: z
          .string()
          .transform(rfc3339Seconds)
          .refine((v) => v !== "", {
            error: "expected an RFC 3339 time such as 2027-01-31T00:00:00Z",
          })
          .optional()
          .meta({
            description:
              "Until when the previous secret is still accepted, so clients can move over.",
            example: '`"2027-01-31T00:00:00Z"`',
            unset: "the previous secret stops at once",
          }),
      })
      .optional()
      .meta({ unset: "never rotated" }),
    edge: z
      // host:port or [v6]:port; never a leading "-", which cloudflared would read as a flag.
      .array(
        z
          .string()
          .regex(/^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/, {
            error: "expected host:port",
          }),
      )
      .default(() => [])
      .meta({
        description: "Override cloudflared's edge addresses (private networks, tests).",
        example: '`["198.41.192.7:7844"]`',
      }),
    quickService: z.url({ error: "expected a URL" }).optional().meta({
      description: "quick mode: the quick-tunnel service URL (tests).",
      unset: "TryCloudflare",
    }),
    metrics: metricsSchema.optional().meta({
      description:
        "Publish each connector's metrics server (`/metrics`, `/ready`) on the Docker host. Not in swarm or `none` mode. See [Metrics and monitoring](#metrics-and-monitoring).",
      example: "`{}`",
      unset: "not published",
    }),
    // cloudflared's resident set is ~30-60 MiB with a handful of connections.
    memoryMb: memorySchema(32)
      .default(TUNNEL_DEFAULTS.memoryMb)
      .meta({ description: "Memory limit per connector, MiB (at least 32).", example: "`192`" }),
  })
  .prefault({ mode: TUNNEL_DEFAULTS.mode })
  .meta({ title: "Tunnel settings" });

const bridgeTopicSchema = z.strictObject({
  topic: topicSchema.meta({
    description: "A topic filter; the site broker's and this broker's topics are the same.",
    example: '`"sites/#"`',
  }),
  direction: z
    .enum(["out", "in", "both"], {
      error: 'expected "out" (site to this broker), "in" (this broker to the site) or "both"',
    })
    .meta({
      description:
        "`out`: from the site to this broker. `in`: from this broker to the site. `both`.",
      example: "`out`",
    }),
  qos: z
    .union([z.literal(0), z.literal(1), z.literal(2)], { error: "expected 0, 1 or 2" })
    .default(BRIDGE_DEFAULTS.qos)
    .meta({ description: "QoS of the bridged messages: 0, 1 or 2.", example: "`2`" }),
});

const bridgeSchema = z.strictObject(
  {
    user: z
      .string({ error: "expected a user name" })
      .regex(USER_NAME, { error: USER_NAME_ERROR })
      .default(BRIDGE_DEFAULTS.user)
      .meta({
        description:
          "The user the site broker connects as: a generated password (in `mqttCredentials`), and an ACL made of the bridged topics.",
        example: "`site-bridge`",
      }),
    topics: z
      .array(bridgeTopicSchema)
      .min(1, { error: "expected at least one topic to bridge" })
      .meta({
        description: "The topics to bridge, at least one.",
        example: '`[{topic: "sites/#", direction: out}]`',
      }),
  },
  { error: 'expected an object such as { topics: [{ topic: "sites/#", direction: out }] }' },
);

const userSchema = z.strictObject({
  name: z.string().regex(USER_NAME, { error: USER_NAME_ERROR }).meta({
    description: "1-64 letters, digits, `_`, `.`, `@` or `-`, starting with a letter or digit.",
    example: "`sensor`",
  }),
  acl: z
    .array(aclRuleSchema)
    .default(() => [])
    .meta({
      description: `What the user may do: ${ACL_RULE_TEXT}. Nothing without a rule.`,
      example: '`[{access: write, topic: "sensors/#"}]`',
    }),
  // Absent: the password keeps its first value. Any change (set, changed, removed) generates a
  // new password for this user alone; the broker reloads it in place.
  passwordVersion: z
    .union([z.string().min(1, { error: "expected a non-empty version" }), z.number()], {
      error: 'expected a version, e.g. 2 or "2026-12"',
    })
    .transform(String)
    .optional()
    .meta({
      description:
        "Set or change it to generate a new password for this user alone, applied in place: the user's live connections are closed and the old password is refused.",
      example: "`2`",
      unset: "none",
    }),
});

export const brokerSchema = z
  .strictObject({
    image: imageSchema
      .default(BROKER_DEFAULTS.image)
      .meta({ description: "Pinned Mosquitto 2.x image." }),
    allowAnonymous: booleanSchema.default(BROKER_DEFAULTS.allowAnonymous).meta({
      description:
        "Let clients connect without a user name; `broker.anonymousAcl` says what they may do.",
      example: "`true`",
    }),
    anonymousAcl: z
      .array(aclRuleSchema)
      .optional()
      .meta({
        description: `What anonymous clients may do: ${ACL_RULE_TEXT}. Only with \`allowAnonymous: true\`.`,
        example: '`[{access: read, topic: "public/#"}]`',
        unset: `${aclText(defaultAnonymousAcl())} with \`allowAnonymous: true\``,
      }),
    persistence: booleanSchema.default(BROKER_DEFAULTS.persistence).meta({
      description:
        "Named data volume; retained messages and sessions survive a broker replacement.",
    }),
    websocketPort: portSchema
      .default(BROKER_DEFAULTS.websocketPort)
      .meta({ description: "The WebSocket listener cloudflared proxies to." }),
    tcp: z
      .strictObject({
        publish: publishSchema.optional().meta({
          description: "Publish 1883 on the Docker host. It stays internal otherwise.",
          example: '`"127.0.0.1:1883"`',
          unset: "not published",
        }),
      })
      .optional(),
    websocket: z
      .strictObject({
        publish: publishSchema.optional().meta({
          description: "Publish the WebSocket listener on the Docker host.",
          example: '`"127.0.0.1:9001"`',
          unset: "not published",
        }),
      })
      .optional(),
    maxConnections: z
      .number({ error: "expected a number of connections" })
      .int({ error: "expected a whole number" })
      .min(1, { error: "expected at least 1" })
      .max(1_000_000, { error: "expected at most 1000000" })
      .default(BROKER_DEFAULTS.maxConnections)
      .meta({
        description:
          "Per listener. Mosquitto 2.0 enforces it on the TCP listener only; its WebSocket listener (the tunnel's path) accepts past it (tests/broker).",
      }),
    messageSizeLimit: z
      .number({ error: "expected a size in bytes" })
      .int({ error: "expected a whole number of bytes" })
      .min(1, { error: "expected at least 1 byte" })
      .max(268435455, { error: "expected at most 268435455 bytes (MQTT's limit)" })
      .default(BROKER_DEFAULTS.messageSizeLimit)
      .meta({
        description:
          "Bytes; larger publishes are dropped (an MQTT 5 QoS 1 sender gets PUBACK 149, which MQTT.js 5 treats as a protocol error).",
      }),
    maxKeepalive: z
      .number({ error: "expected a number of seconds" })
      .int({ error: "expected a whole number of seconds" })
      .min(10, { error: "expected at least 10 seconds (mosquitto refuses less)" })
      .max(65535, { error: "expected at most 65535 seconds (MQTT's keep alive is 16 bits)" })
      .default(BROKER_DEFAULTS.maxKeepalive)
      .meta({
        description:
          "Seconds (10-65535): the largest keep alive the broker grants (`max_keepalive`). See [Keep alive behind Cloudflare](#keep-alive-behind-cloudflare).",
        example: "`30`",
      }),
    memoryMb: memorySchema(16)
      .default(BROKER_DEFAULTS.memoryMb)
      .meta({ description: "Container memory limit, MiB (at least 16)." }),
    healthStartInterval: z
      .union([booleanSchema, z.literal("auto")], { error: 'expected true, false or "auto"' })
      .default(BROKER_DEFAULTS.healthStartInterval)
      .meta({
        description:
          '`true`: the healthcheck probes every 250 ms until healthy, so a deploy waits about 1 s for a fresh broker instead of 3 s; it needs Docker API 1.44 (Docker 25+), and on an older engine (Debian\'s Docker 20.10: API 1.41) the docker provider refuses to create the broker ("specify health-check start interval" requires API version 1.44). `"auto"`: on for each host whose engine answers `GET /version` with API 1.44 or later, off where it does not or cannot be asked (`ssh://`). Container mode only: the docker provider gives a swarm service\'s healthcheck no start interval. See [Engines](#engines).',
        example: "`false`",
      }),
    users: z
      .array(userSchema)
      .optional()
      .meta({
        description:
          "The MQTT users; their passwords are generated (`mqttCredentials`). Added, removed and changed users reach the running broker without a restart.",
        example: "see below",
        unset: `${defaultUsers()
          .map((u) => `user \`${u.name}\` (${aclText(u.acl)})`)
          .join(", ")}; none with \`allowAnonymous: true\``,
      }),
    patterns: z
      .array(
        aclRuleSchema.refine((r) => /%[uc]/.test(r.topic), {
          error: "expected a pattern topic containing %u or %c",
          path: ["topic"],
        }),
      )
      .default(() => [])
      .meta({
        description: `ACL patterns for every client: ${ACL_RULE_TEXT}, the topic containing \`%u\` (user name) or \`%c\` (client id).`,
        example: '`[{access: readwrite, topic: "clients/%u/#"}]`',
      }),
    monitorUser: z
      .string({ error: "expected a user name" })
      .regex(USER_NAME, { error: USER_NAME_ERROR })
      .optional()
      .meta({
        description:
          "A user that may read `$SYS/#` and nothing else; its password is generated and in `mqttCredentials`.",
        example: "`monitor`",
        unset: "none",
      }),
    probeUser: z
      .string({ error: "expected a user name" })
      .regex(USER_NAME, { error: USER_NAME_ERROR })
      .optional()
      .meta({
        description: `The user \`npm run probe\` connects as: it may publish and subscribe under \`${PROBE_TOPICS}/#\` and nothing else; its password is generated and in \`mqttCredentials\`. See [Is it up?](#is-it-up).`,
        example: "`probe`",
        unset: "none",
      }),
    bridge: bridgeSchema.optional().meta({
      description:
        "A site broker's bridge over `tcpHostname`: a user for it, and a `bridge` block in `clientKits`. See [Native MQTT over TCP](#native-mqtt-over-tcp-through-the-tunnel).",
      example: '`{topics: [{topic: "sites/#", direction: out}]}`',
      unset: "none",
    }),
  })
  // No users named: the default user, unless anonymous clients are allowed (they need none).
  .transform((b) => ({ ...b, users: b.users ?? (b.allowAnonymous ? [] : defaultUsers()) }))
  .prefault({})
  .meta({ title: "Mosquitto settings" });

export const hostsSchema = z
  .array(
    z.strictObject({
      name: z
        .string()
        .regex(HOST_NAME, {
          error:
            "expected a host name of 1-31 lowercase letters, digits or '-', starting with a letter or digit",
        })
        .meta({
          description:
            "1-31 lowercase letters, digits or `-`; names the host's resources and its entry in the `hosts` output.",
          example: "`edge-a`",
        }),
      docker: z
        .string()
        .regex(/^(unix|tcp|ssh|npipe):\/\/\S+$/, {
          error: `expected a Docker endpoint such as unix://${SWARM_DEFAULTS.dockerSocket}, tcp://h:2376 or ssh://user@h`,
        })
        .optional()
        .meta({
          description: "`unix://`, `tcp://`, `ssh://` or `npipe://` endpoint.",
          example: "`ssh://deploy@edge-a.internal`",
          unset: "`DOCKER_HOST`",
        }),
      certPath: z.string().min(1).optional().meta({
        description: "Directory with `ca.pem`, `cert.pem`, `key.pem` for `tcp://`.",
        example: "`~/.docker/edge-a`",
      }),
      hostname: hostnamesSchema.optional().meta({
        description: "The host's public hostname(s) (managed).",
        example: "`mqtt-a.example.com`",
      }),
      tcpHostname: hostnameSchema.optional().meta({
        description: "The host's native-MQTT hostname (managed).",
        example: "`mqtt-tcp-a.example.com`",
      }),
      zone: zoneSchema.optional().meta({
        description: "Explicit zone for this host's hostnames.",
        example: "`example.org`",
        unset: "suffix match",
      }),
      replicas: z.number().int().min(1).max(MAX_REPLICAS).optional().meta({
        description: "Connectors on this host.",
        example: "`3`",
        unset: "`tunnel.replicas`",
      }),
    }),
  )
  .meta({
    description:
      "Docker hosts; each gets its own networks, broker, connectors and (managed) tunnel. See [A fleet of Docker hosts](#a-fleet-of-docker-hosts).",
    example: "see below",
    unset: `one host \`${LOCAL_HOST}\` on the ambient Docker endpoint`,
  });

const cronSchema = z.string().refine(
  (v) => {
    const f = v.trim().split(/\s+/);
    return f.length === 5 && f.every((x) => CRON_FIELD.test(x));
  },
  { error: 'expected a 5-field cron expression such as "0 3 * * *"' },
);

/** One or more PEM certificates and nothing else but whitespace. */
const PEM_CERTIFICATES =
  /^\s*(-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+$/;

const letsencryptSchema = z.strictObject({
  email: z
    .email({ error: "expected an e-mail address" })
    .meta({ description: "the ACME account's e-mail address" }),
  domains: z
    .array(hostnameSchema)
    .min(1, { error: "expected at least one domain" })
    .meta({ description: "the certificates' domains, at least one" }),
  node: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: "expected a swarm node hostname or id" })
    .optional()
    .meta({
      description: "the swarm node (its hostname) the companion, or Traefik with ACME, stays on",
      unset: "a manager",
    }),
  renewCron: z
    .array(cronSchema)
    .default(defaultRenewCron)
    .meta({ description: "when the companion renews (`dockerflow`): 5-field cron expressions" }),
  server: z
    .url({ protocol: /^https$/, error: "expected the https:// URL of an ACME directory" })
    .optional()
    .meta({
      description:
        "the ACME directory to ask (Let's Encrypt's staging: https://acme-staging-v02.api.letsencrypt.org/directory, or a private CA's)",
      unset: "Let's Encrypt's production directory",
    }),
  caCertificate: z
    .string()
    .regex(PEM_CERTIFICATES, {
      error: "expected PEM text: one or more BEGIN/END CERTIFICATE blocks",
    })
    .optional()
    .meta({
      description:
        "PEM of the CA that signed `server`'s HTTPS certificate (a private CA): the only CA the ACME client then trusts",
      unset: "the images' own CA bundle",
    }),
  certificatesDuration: z.number().int().min(1).max(87600).optional().meta({
    description:
      "the certificates' lifetime in hours, by which Traefik plans renewals (`traefik`): under 24, checked every minute and renewed 20 minutes before expiry; 24 to 143, every 10 minutes, 6 hours before; 2160, daily, 30 days before. Set it for a CA whose certificates live less than 90 days",
    unset: "2160 (Traefik's default: Let's Encrypt's 90 days)",
  }),
});

/** The images of the swarm stack's services, each pinned. */
function swarmImage(image: string, service: string) {
  return imageSchema.default(image).meta({ description: `the ${service} image (pinned)` });
}

const swarmImagesSchema = z
  .strictObject({
    swarmListener: swarmImage(DEFAULT_IMAGES.swarmListener, "Docker Flow Swarm Listener"),
    proxy: swarmImage(DEFAULT_IMAGES.proxy, "Docker Flow Proxy"),
    letsencrypt: swarmImage(DEFAULT_IMAGES.letsencrypt, "Let's Encrypt companion"),
    traefik: swarmImage(DEFAULT_IMAGES.traefik, "Traefik"),
    socketProxy: swarmImage(DEFAULT_IMAGES.socketProxy, "Docker socket proxy"),
  })
  .prefault({});

export const swarmSchema = z
  .strictObject({
    enabled: booleanSchema.default(SWARM_DEFAULTS.enabled).meta({
      description: "`false`: no swarm, as without `swarm` (the other keys are kept, unused)",
    }),
    proxy: z
      .enum(["dockerflow", "traefik"], { error: 'expected "dockerflow" or "traefik"' })
      .default(SWARM_DEFAULTS.proxy)
      .meta({
        description:
          "`dockerflow` (seed 002, unmaintained since about 2020) or `traefik` (swarm provider, built-in ACME)",
      }),
    network: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { error: "expected a Docker network name" })
      .default(SWARM_DEFAULTS.network)
      .meta({ description: "suffix of the overlay network routed services join" }),
    proxyReplicas: z.number().int().min(1).max(32).default(SWARM_DEFAULTS.proxyReplicas).meta({
      description: "proxy replicas (Traefik with ACME runs one: one writer of `acme.json`)",
    }),
    letsencrypt: letsencryptSchema.optional().meta({
      description:
        "certificates from Let's Encrypt: the companion with `dockerflow`, Traefik's ACME with `traefik`",
      unset: "none",
    }),
    httpHostnames: z
      .array(hostnameSchema)
      .default(() => [])
      .meta({ description: "extra public hostnames the tunnel sends to the proxy" }),
    endpointMode: z
      .enum(["vip", "dnsrr"], { error: 'expected "vip" or "dnsrr"' })
      .default(SWARM_DEFAULTS.endpointMode)
      .meta({
        description:
          "`dnsrr` (with host-mode ports) for engines without IPVS; host-mode ports allow one proxy task per node, so `proxyReplicas` must not exceed the manager count",
      }),
    dockerSocket: z
      .string()
      .regex(/^\/[^\s]*$/, {
        error: `expected an absolute path such as ${SWARM_DEFAULTS.dockerSocket}`,
      })
      .default(SWARM_DEFAULTS.dockerSocket)
      .meta({ description: "the socket the socket proxy mounts on managers" }),
    ports: z
      .strictObject({
        http: portSchema.default(SWARM_DEFAULTS.ports.http).meta({
          description: "published HTTP port of the proxy; its control port 8080 is never published",
        }),
        https: portSchema
          .default(SWARM_DEFAULTS.ports.https)
          .meta({ description: "published HTTPS port of the proxy" }),
      })
      .prefault({}),
    brokerConstraints: z
      .array(
        z.string().regex(/^[A-Za-z0-9_.-]+ *(==|!=) *[A-Za-z0-9_.:-]+$/, {
          error: `expected a constraint such as "${MANAGER_CONSTRAINT}"`,
        }),
      )
      .default(defaultBrokerConstraints)
      .meta({ description: "where the broker (and its volume) lives" }),
    images: swarmImagesSchema,
  })
  .meta({
    description:
      "Docker Swarm mode; its keys are in [Running on a Docker Swarm](#running-on-a-docker-swarm).",
    unset: "off",
  });

/** `protect` arrives as a boolean or, from the CLI, as the string "true" / "false". */
export const protectSchema = z
  .union([z.boolean(), z.enum(["true", "false"])])
  .transform((v) => v === true || v === "true")
  .meta({
    description: "Protect tunnels, DNS records and data volumes from deletion.",
    example: "`true`",
  });

export const dockerTlsSchema = z
  .record(
    z.string(),
    z.strictObject({
      ca: z.string().includes("BEGIN CERTIFICATE", { error: "expected a PEM CA certificate" }),
      cert: z
        .string()
        .includes("BEGIN CERTIFICATE", { error: "expected a PEM client certificate" }),
      key: z.string().includes("PRIVATE KEY", { error: "expected a PEM private key" }),
    }),
  )
  .meta({
    description:
      "`{<host>: {ca, cert, key}}` PEM material for `tcp://` hosts; refused unless secret.",
    example: "set with `--secret`",
  });

/**
 * `tunnelToken` is read as the raw string and checked by config/rules/tunnel.ts; this schema
 * validates nothing and only carries the key's documentation.
 */
export const tunnelTokenDoc = z.string().meta({
  description: "token mode only; refused unless stored as a secret.",
  example: "set with `--secret`",
  unset: "(token mode: required)",
});

export type TunnelInput = z.output<typeof tunnelSchema>;
export type BrokerInput = z.output<typeof brokerSchema>;
export type HostInput = z.output<typeof hostsSchema>[number];
export type SwarmInput = z.output<typeof swarmSchema>;
export type DockerTlsInput = z.output<typeof dockerTlsSchema>;
