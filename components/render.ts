/**
 * Pure renderers for what the broker and the tunnel are given: mosquitto.conf, the password file,
 * the ACL file and the tunnel's ingress rules. Plain values in, strings or objects out; no Pulumi.
 */
import { createHash, createHmac, pbkdf2Sync, timingSafeEqual } from "node:crypto";
import type { AclRule, BridgeTopic, MqttUser } from "../config";

/** Where the rendered files live inside the broker container. */
export const MOSQUITTO_PATHS = {
  config: "/mosquitto/config/mosquitto.conf",
  passwords: "/mosquitto/config/passwd",
  acl: "/mosquitto/config/acl",
  data: "/mosquitto/data/",
} as const;

/** The broker's plain MQTT listener; reachable on the private network only unless published. */
export const MQTT_TCP_PORT = 1883;

export interface MosquittoConfInput {
  allowAnonymous: boolean;
  persistence: boolean;
  websocketPort: number;
  tcpPort?: number;
  maxConnections: number;
  messageSizeLimit: number;
  /** Largest keep alive, in seconds, the broker grants (`max_keepalive`, 10-65535). */
  maxKeepalive: number;
  /** Whether a password file is uploaded (there are users). */
  passwordFile: boolean;
  /** Paths; tests point these at a temporary directory. */
  paths?: Partial<Record<keyof typeof MOSQUITTO_PATHS, string>>;
}

/** How often, in seconds, the broker publishes its `$SYS/#` statistics (retained). */
export const SYS_INTERVAL = 10;

/** mosquitto.conf for mosquitto 2.0 and 2.1. */
export function renderMosquittoConf(input: MosquittoConfInput): string {
  const paths = { ...MOSQUITTO_PATHS, ...input.paths };
  const lines = [
    "# Rendered by mqtt-edge; replaced on every deploy.",
    "per_listener_settings false",
    `allow_anonymous ${input.allowAnonymous}`,
  ];
  if (input.passwordFile) lines.push(`password_file ${paths.passwords}`);
  lines.push(`acl_file ${paths.acl}`);
  lines.push(`persistence ${input.persistence}`);
  if (input.persistence) {
    lines.push(`persistence_location ${paths.data}`, "autosave_interval 60");
  }
  lines.push(
    // stderr, not stdout: mosquitto block-buffers stdout without a terminal, so `docker logs`
    // would show nothing (eclipse/mosquitto#2354).
    "log_dest stderr",
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    "connection_messages true",
    `message_size_limit ${input.messageSizeLimit}`,
    // Small MQTT frames: Nagle's algorithm only adds latency. This affects the TCP listener; the
    // WebSocket library sets TCP_NODELAY on its connections itself (measured: bench/broker.ts).
    "set_tcp_nodelay true",
    // An MQTT 5 client asking for more gets this in CONNACK (Server Keep Alive) and pings that
    // often. An MQTT 3.1.1 client asking for more, or for 0, is accepted as asked by 2.0.11 and
    // refused (CONNACK 2) from 2.0.12 on (tests/broker/keepalive.test.ts, README).
    `max_keepalive ${input.maxKeepalive}`,
    `sys_interval ${SYS_INTERVAL}`,
    "",
    `listener ${input.tcpPort ?? MQTT_TCP_PORT}`,
    "protocol mqtt",
    `max_connections ${input.maxConnections}`,
    "",
    `listener ${input.websocketPort}`,
    "protocol websockets",
    `max_connections ${input.maxConnections}`,
    "",
  );
  return lines.join("\n");
}

function aclLine(kind: "topic" | "pattern", rule: AclRule): string {
  return `${kind} ${rule.access} ${rule.topic}`;
}

/**
 * The monitor user's rules. Mosquitto checks a user's denials first and stops at the first rule
 * that matches: `deny #` refuses every topic but the $-topics (`#` matches none of them), so no
 * pattern is reached for them, and `read $SYS/#` allows reading the statistics. Writing to $SYS
 * the broker refuses anyway. (Config validation refuses patterns on $-topics with a monitor user.)
 */
export function monitorAcl(): AclRule[] {
  return [
    { access: "deny", topic: "#" },
    { access: "read", topic: "$SYS/#" },
  ];
}

/**
 * The ACL file. Lines before the first `user` apply to anonymous clients; `pattern` lines apply to
 * every client. Mosquitto checks a user's own rules before the patterns, so `deny` wins within a
 * user's list, but a pattern's deny does not override a grant in the user's list (covered by
 * tests/broker). A user without rules may do nothing. The monitor user, if any, comes last with
 * monitorAcl().
 */
export function renderAclFile(input: {
  users: MqttUser[];
  patterns: AclRule[];
  anonymous: AclRule[];
  monitorUser?: string;
}): string {
  const lines = ["# Rendered by mqtt-edge; replaced on every deploy.", "# anonymous clients"];
  for (const rule of input.anonymous) lines.push(aclLine("topic", rule));
  if (input.patterns.length) {
    lines.push("", "# every client");
    for (const rule of input.patterns) lines.push(aclLine("pattern", rule));
  }
  for (const user of input.users) {
    lines.push("", `user ${user.name}`);
    for (const rule of user.acl) lines.push(aclLine("topic", rule));
  }
  if (input.monitorUser !== undefined) {
    lines.push("", "# monitoring: $SYS/# read-only", `user ${input.monitorUser}`);
    for (const rule of monitorAcl()) lines.push(aclLine("topic", rule));
  }
  lines.push("");
  return lines.join("\n");
}

/**
 * PBKDF2-SHA512 iterations. mosquitto_passwd 2.0 writes 101, 2.1 writes 1000. The broker runs the
 * full count on every CONNECT; the passwords here are generated with ~190 bits of entropy, so the
 * count adds no practical protection and 101 keeps connection storms cheap.
 */
export const HASH_ITERATIONS = 101;
/**
 * 12 bytes: the only salt length both mosquitto 2.0 and 2.1 read. 2.0's mosquitto_passwd writes
 * 12 bytes and 2.1's 64; Debian's 2.0.11, checked by hand, accepts 12-byte salts at any iteration
 * count tried (101, 1000, 10000) and refuses 16- and 64-byte ones. tests/broker/passwords.test.ts
 * checks that mosquitto_passwd's lines and ours verify against each other.
 */
export const SALT_BYTES = 12;

/** One `$7$` password line: `name:$7$<iterations>$<base64 salt>$<base64 sha512 pbkdf2>`. */
export function hashPasswordLine(
  name: string,
  password: string,
  salt: Buffer,
  iterations = HASH_ITERATIONS,
): string {
  if (salt.length !== SALT_BYTES) throw new Error(`salt must be ${SALT_BYTES} bytes`);
  const hash = pbkdf2Sync(password, salt, iterations, 64, "sha512");
  return `${name}:$7$${iterations}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/**
 * A salt that is stable for a given (seed, user) pair, so the rendered file does not change between
 * deploys (a random salt would show a diff on every preview), yet differs per user, per host and,
 * because the seed includes the password, per password. It is as unpredictable as the password.
 */
export function deriveSalt(seed: string, user: string): Buffer {
  return createHmac("sha256", seed)
    .update(`mosquitto-salt\0${user}`)
    .digest()
    .subarray(0, SALT_BYTES);
}

/** The password file: one `$7$` line per user, in the given order. */
export function renderPasswordFile(
  entries: { name: string; password: string }[],
  seed: string,
): string {
  return (
    entries
      .map((e) =>
        hashPasswordLine(e.name, e.password, deriveSalt(`${seed}\0${e.password}`, e.name)),
      )
      .join("\n") + "\n"
  );
}

/** Checks a password against one `$6$`/`$7$` line as mosquitto does (used by tests and tools). */
export function verifyPasswordLine(line: string, password: string): boolean {
  const m = /^[^:]+:\$(6|7)\$(?:(\d+)\$)?([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(line.trim());
  if (!m) return false;
  const salt = Buffer.from(m[3], "base64");
  const expected = Buffer.from(m[4], "base64");
  let actual: Buffer;
  if (m[1] === "6") {
    // $6$: a single SHA-512 over password then salt (mosquitto 1.x format).
    actual = createHash("sha512").update(password).update(salt).digest();
  } else {
    const iterations = Number(m[2] ?? HASH_ITERATIONS);
    actual = pbkdf2Sync(password, salt, iterations, expected.length, "sha512");
  }
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export interface IngressRule {
  hostname?: string;
  service: string;
  originRequest?: { httpHostHeader?: string; connectTimeout?: number; noTlsVerify?: boolean };
}

/**
 * The tunnel's ingress: each public MQTT hostname to the broker's WebSocket listener, the TCP
 * hostname (if any) to its plain MQTT listener, each HTTP hostname to the proxy, then the
 * catch-all 404 that cloudflared requires as the last rule.
 */
export function buildIngress(input: {
  mqttHostnames: string[];
  brokerService: string;
  /** Native MQTT: `cloudflared access tcp` clients reach `tcpService` through this hostname. */
  tcpHostname?: string;
  tcpService?: string;
  httpHostnames?: string[];
  httpService?: string;
}): IngressRule[] {
  const rules: IngressRule[] = input.mqttHostnames.map((hostname) => ({
    hostname,
    service: input.brokerService,
  }));
  if (input.tcpHostname) {
    if (!input.tcpService?.startsWith("tcp://")) {
      throw new Error("a tcpHostname needs a tcp:// tcpService");
    }
    rules.push({ hostname: input.tcpHostname, service: input.tcpService });
  }
  if (input.httpHostnames?.length) {
    if (!input.httpService) throw new Error("httpHostnames need an httpService");
    for (const hostname of input.httpHostnames) {
      rules.push({ hostname, service: input.httpService });
    }
  }
  rules.push({ service: "http_status:404" });
  return rules;
}

/**
 * Where the client kit's `cloudflared access tcp` listens on the client's machine. Not 1883: a
 * site broker that bridges through it usually serves its own devices on 1883.
 */
export const ACCESS_TCP_LOCAL = { host: "127.0.0.1", port: 11883 } as const;

/** cloudflared reads an Access service token from these (cmd/cloudflared/access/cmd.go). */
export const SERVICE_TOKEN_ENV = {
  id: "TUNNEL_SERVICE_TOKEN_ID",
  secret: "TUNNEL_SERVICE_TOKEN_SECRET",
} as const;

/** The keep alive a bridge asks for: a minute, or less when the broker grants less. */
export function bridgeKeepalive(maxKeepalive: number): number {
  return Math.min(60, maxKeepalive);
}

export interface BridgeBlockInput {
  /** The mosquitto `connection` name; also names the bridge in the site broker's log. */
  connectionName: string;
  /** The public TCP hostname, for the comment: the bridge itself dials ACCESS_TCP_LOCAL. */
  hostname: string;
  user: string;
  password: string;
  topics: BridgeTopic[];
  /** The central broker's `max_keepalive`: a 3.1.1 bridge asking for more is refused (2.0.12+). */
  maxKeepalive: number;
}

/**
 * A `connection` block for a site broker's mosquitto.conf: it forwards the site's `out` topics
 * to this broker and brings its `in` topics back, over native MQTT through `cloudflared access
 * tcp` on ACCESS_TCP_LOCAL. Holds the bridge user's password.
 */
export function renderBridgeBlock(input: BridgeBlockInput): string {
  const lines = [
    `# mqtt-edge: bridge to ${input.hostname} through \`cloudflared access tcp\` on ${ACCESS_TCP_LOCAL.host}:${ACCESS_TCP_LOCAL.port}.`,
    "# It holds the bridge user's password: keep the file readable by mosquitto only (0600).",
    `connection ${input.connectionName}`,
    `address ${ACCESS_TCP_LOCAL.host}:${ACCESS_TCP_LOCAL.port}`,
    "bridge_protocol_version mqttv311",
    `remote_username ${input.user}`,
    `remote_password ${input.password}`,
    `keepalive_interval ${bridgeKeepalive(input.maxKeepalive)}`,
    // Queued QoS 1/2 messages survive a dropped tunnel connection on both sides.
    "cleansession false",
    // The bridge's state ($SYS/broker/connection/<name>/state) stays on the site broker: the
    // bridge user may not write $SYS topics here.
    "notifications true",
    "notifications_local_only true",
    "restart_timeout 5 60",
  ];
  for (const t of input.topics) lines.push(`topic ${t.topic} ${t.direction} ${t.qos}`);
  lines.push("");
  return lines.join("\n");
}

export interface ClientKitInput {
  hostname: string;
  /** The cloudflared image the compose service runs (the connectors' pinned image). */
  image: string;
  serviceToken: { clientId: string; clientSecret: string };
  bridge?: BridgeBlockInput;
}

/** What a client outside Cloudflare needs to speak native MQTT to the broker through the tunnel. */
export interface ClientKit {
  /** The public TCP hostname (an Access application: service tokens only). */
  hostname: string;
  /** Where `cloudflared access tcp` listens for MQTT clients (and the bridge) on the client. */
  localAddress: string;
  /** The command line; the service token comes from `dotenv`'s variables, never from argv. */
  command: string;
  /** `.env` lines: the Access service token, for the command's environment or compose. */
  dotenv: string;
  /** A docker compose file running `command` as a service; reads the token from `.env`. */
  compose: string;
  /** A mosquitto.conf `connection` block for a site broker (with `broker.bridge` only). */
  bridge?: string;
}

export function renderClientKit(input: ClientKitInput): ClientKit {
  const local = `${ACCESS_TCP_LOCAL.host}:${ACCESS_TCP_LOCAL.port}`;
  const args = ["access", "tcp", "--hostname", input.hostname];
  const env = [
    `${SERVICE_TOKEN_ENV.id}=${input.serviceToken.clientId}`,
    `${SERVICE_TOKEN_ENV.secret}=${input.serviceToken.clientSecret}`,
  ];
  const compose = [
    "# mqtt-edge: native MQTT through the tunnel. Put `dotenv` in .env beside this file.",
    "services:",
    "  mqtt-edge-access:",
    `    image: ${input.image}`,
    // Inside the container it listens on every address; the host publishes it on loopback only.
    `    command: [${[...args, "--url", `0.0.0.0:${ACCESS_TCP_LOCAL.port}`].map((a) => JSON.stringify(a)).join(", ")}]`,
    // The token reaches cloudflared's environment from the file, never its command line.
    "    env_file: [.env]",
    "    ports:",
    `      - "${local}:${ACCESS_TCP_LOCAL.port}"`,
    "    restart: unless-stopped",
    "    read_only: true",
    "    cap_drop: [ALL]",
    "    security_opt: [no-new-privileges:true]",
    "",
  ];
  return {
    hostname: input.hostname,
    localAddress: local,
    command: ["cloudflared", ...args, "--url", local].join(" "),
    dotenv: env.join("\n") + "\n",
    compose: compose.join("\n"),
    ...(input.bridge && { bridge: renderBridgeBlock(input.bridge) }),
  };
}
