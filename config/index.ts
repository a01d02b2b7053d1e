/**
 * The config contract of mqtt-edge: every `mqtt-edge:<key>` a stack may set, validated as a whole
 * before any resource is registered. Each problem names the key path, the offending value and what
 * was expected; all problems are reported together.
 *
 * Where things live: defaults.ts (every default), schemas.ts (the shape of each key), rules/ (the
 * checks across fields and keys, one module per area), problems.ts (the collector and
 * ConfigError), read.ts (decoding and schema problems), types.ts (the typed result).
 */
import * as pulumi from "@pulumi/pulumi";
import { defaultAnonymousAcl } from "./defaults";
import { Problems } from "./problems";
import { type ParsedKeys, type RawConfig, checkKnownKeys, readKeys } from "./read";
import { bridgeAcl, checkBridgeRoute, checkBroker, probeAcl } from "./rules/broker";
import { checkHostnames, hostnameZones, resolveHosts, writtenHostnames } from "./rules/hosts";
import { checkSwarm } from "./rules/swarm";
import { checkConnectorMetrics, checkTokenValue, checkTunnel } from "./rules/tunnel";
import type { DockerTls, HostConfig, StackConfig } from "./types";
import { PROJECT } from "./values";

export * from "./defaults";
export { ConfigError, type ConfigProblem } from "./problems";
export type { RawConfig } from "./read";
export * from "./types";
export {
  MAX_REPLICAS,
  PROJECT,
  SWARM_PREFIX_MAX,
  inZone,
  isHostname,
  topicProblem,
  zoneFor,
} from "./values";
export { imageProblem } from "../shared/images";
export { bridgeAcl, PROBE_TOPICS, probeAcl } from "./rules/broker";

/**
 * Validates the whole stack configuration. Throws a ConfigError listing every problem; returns a
 * typed config otherwise. Secrets (tunnelToken, dockerTls) come back as secret Outputs only.
 */
export function parseConfig(raw: RawConfig, allKeys: string[] = []): StackConfig {
  const problems = new Problems();
  checkKnownKeys(allKeys, problems);
  const keys = readKeys(raw, problems);
  // The rules below may run on salvaged values; see Problems.throwIfAny.
  problems.endOfSchemas();

  const token = { value: keys.tunnelToken, secret: raw.isSecret("tunnelToken") };
  if (keys.tunnel) checkTunnel(keys.tunnel, keys.hosts, token, problems);
  checkTokenValue(token, problems.at("tunnelToken"));
  if (keys.broker) checkBroker(keys.broker, problems.at("broker"));
  const names = writtenHostnames(keys.tunnel, keys.hosts, problems);
  const zones = zonesOf(keys);
  checkHostnames(keys.tunnel, keys.hosts, names, zones, keys.swarm, problems);
  const hosts = resolveHosts(keys.tunnel, keys.hosts, names, problems);
  checkBridgeRoute(keys.broker, hosts, problems.at("broker", "bridge"));
  checkConnectorMetrics(keys.tunnel, keys.broker, hosts, problems);
  if (keys.swarm) {
    const ctx = { project: raw.project, stack: raw.stack, hosts, tunnel: keys.tunnel };
    checkSwarm(keys.swarm, { ...ctx, broker: keys.broker }, problems);
  }
  problems.throwIfAny();
  return stackConfig(raw, keys, hosts, zones);
}

/** The zone names of `tunnel.zone` or `tunnel.zones`. */
function zonesOf(keys: ParsedKeys): string[] {
  const t = keys.tunnel;
  return t ? (t.zones ?? (t.zone ? [t.zone] : [])) : [];
}

/** The typed config of a stack that passed every rule. */
function stackConfig(
  raw: RawConfig,
  keys: ParsedKeys,
  hosts: HostConfig[],
  zones: string[],
): StackConfig {
  const tunnel = keys.tunnel!;
  const broker = keys.broker!;
  const dockerTls: Record<string, pulumi.Output<DockerTls>> = {};
  for (const [host, m] of Object.entries(keys.dockerTls ?? {})) {
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
      hostnameZones:
        tunnel.mode === "managed"
          ? hostnameZones(hosts, zones, keys.swarm?.enabled ? keys.swarm.httpHostnames : [])
          : {},
      replicas: tunnel.replicas,
      image: tunnel.image,
      access: tunnel.access,
      manageZoneSettings: tunnel.manageZoneSettings,
      secretVersion: tunnel.secretVersion,
      accessTokenDuration: tunnel.accessTokenDuration,
      accessSecret: tunnel.accessSecret,
      edge: tunnel.edge,
      quickService: tunnel.quickService,
      metrics: tunnel.metrics,
      memoryMb: tunnel.memoryMb,
    },
    tunnelToken: keys.tunnelToken !== undefined ? pulumi.secret(keys.tunnelToken) : undefined,
    broker: {
      ...broker,
      // The bridge user is a user like the others (a generated password, in mqttCredentials),
      // whose ACL is derived from the bridged topics.
      // So is the probe user, whose ACL is its own topic tree.
      users: [
        ...broker.users,
        ...(broker.bridge
          ? [{ name: broker.bridge.user, acl: bridgeAcl(broker.bridge.topics) }]
          : []),
        ...(broker.probeUser ? [{ name: broker.probeUser, acl: probeAcl() }] : []),
      ],
      anonymousAcl: broker.allowAnonymous ? (broker.anonymousAcl ?? defaultAnonymousAcl()) : [],
    },
    hosts,
    swarm: keys.swarm?.enabled ? keys.swarm : undefined,
    protect: keys.protect,
    dockerTls,
  };
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
