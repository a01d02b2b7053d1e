import type { EnforcementLevel, ResourceValidationPolicy } from "@pulumi/policy";
import {
  DEFAULT_ENFORCEMENT,
  TYPES,
  byType,
  imageRepository,
  known,
  list,
  subject,
  validateTypes,
} from "./common";

/** The plain MQTT listener of the broker. */
export const MQTT_PORT = 1883;

/** Host addresses that mean "every interface". */
const WILDCARD_ADDRESSES = ["", "0.0.0.0", "::", "[::]"];

interface Upload {
  file?: string;
  content?: string;
  contentBase64?: string;
  source?: string;
}

interface ContainerProps {
  image?: string;
  uploads?: Upload[];
  networkMode?: string;
  ports?: { internal?: number; external?: number; ip?: string; protocol?: string }[];
}

interface ServiceProps {
  taskSpec?: { containerSpec?: { image?: string } };
  endpointSpec?: {
    ports?: { targetPort?: number; publishedPort?: number; publishMode?: string }[];
  };
}

function isMosquitto(image: string | undefined): boolean {
  return image !== undefined && imageRepository(image).includes("mosquitto");
}

/** Lines of a mosquitto.conf that enable anonymous clients (on any listener). */
export function anonymousLines(conf: string): string[] {
  return conf
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /^allow_anonymous\s+true(\s|$)/.test(l));
}

/** Mosquitto before 2.0 let anonymous clients in unless `allow_anonymous false` was set. */
function anonymousByDefault(image: string, conf: string): boolean {
  const tag = image.split("@")[0].slice(imageRepository(image).length + 1);
  return /^1(\.|$)/.test(tag) && !/^\s*allow_anonymous\s+false(\s|$)/m.test(conf);
}

function decodeBase64(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
}

/**
 * The broker is not anonymous: a Container running a mosquitto image whose uploaded
 * mosquitto.conf (the upload whose `file` ends in `mosquitto.conf`) says
 * `allow_anonymous true`, or a swarm `docker.ServiceConfig` whose data says it, is a violation.
 * Mosquitto 1.x images are anonymous unless the file says `allow_anonymous false`. A config whose
 * content is unknown (preview) or comes from a `source` file is skipped.
 */
export function mosquittoNoAnonymous(
  enforcementLevel: EnforcementLevel = DEFAULT_ENFORCEMENT,
): ResourceValidationPolicy {
  const advice =
    "Set allow_anonymous false and give clients a password_file (mqtt-edge: " +
    "mqtt-edge:broker.allowAnonymous: false, the default).";
  return {
    name: "mosquitto-no-anonymous",
    description:
      "The Mosquitto broker must not accept anonymous clients (allow_anonymous true in mosquitto.conf).",
    enforcementLevel,
    severity: "critical",
    remediationSteps: advice,
    validateResource: byType(
      validateTypes<ContainerProps>([TYPES.container], (props, args, report) => {
        const image = known(() => props.image);
        if (!isMosquitto(image)) return;
        for (const upload of list<Upload>(props.uploads)) {
          const file = known(() => upload.file);
          if (!file?.endsWith("mosquitto.conf")) continue;
          const conf =
            known(() => upload.content) ?? decodeBase64(known(() => upload.contentBase64));
          if (conf === undefined) continue;
          if (anonymousLines(conf).length) {
            report(
              `${subject(args)} (${image}) uploads ${file} with "allow_anonymous true": anyone who ` +
                `reaches the broker can publish and subscribe. ${advice}`,
            );
          } else if (anonymousByDefault(image!, conf)) {
            report(
              `${subject(args)} runs Mosquitto 1.x (${image}), which accepts anonymous clients ` +
                `unless ${file} says "allow_anonymous false". Use eclipse-mosquitto:2.x or add it.`,
            );
          }
        }
      }),
      validateTypes<{ name?: string; data?: string; dataRaw?: string }>(
        [TYPES.serviceConfig],
        (props, args, report) => {
          const conf = known(() => props.dataRaw) ?? decodeBase64(known(() => props.data));
          if (conf === undefined) return;
          if (anonymousLines(conf).length) {
            report(
              `${subject(args)} (${props.name ?? "?"}) is a mosquitto.conf with ` +
                `"allow_anonymous true": anyone who reaches the broker can publish and subscribe. ` +
                advice,
            );
          }
        },
      ),
    ),
  };
}

/**
 * MQTT port 1883 is never published on every interface: a Container `ports[]` entry with
 * `internal: 1883` and no `ip` (or 0.0.0.0 / ::) is a violation, as is a host-network mosquitto
 * container; a Service `endpointSpec.ports[]` entry with `targetPort: 1883` always is, since swarm
 * publishes on every address of every node. Publishing on 127.0.0.1 (or another single address)
 * is allowed.
 */
export function mosquittoPortNotPublic(
  enforcementLevel: EnforcementLevel = DEFAULT_ENFORCEMENT,
): ResourceValidationPolicy {
  return {
    name: "mosquitto-port-not-public",
    description:
      `MQTT port ${MQTT_PORT} must not be published on all host addresses; ` +
      "it is reached through the tunnel or on 127.0.0.1.",
    enforcementLevel,
    severity: "high",
    remediationSteps:
      'Publish on a single address (mqtt-edge:broker.tcp.publish: "127.0.0.1:1883") or not at all.',
    validateResource: byType(
      validateTypes<ContainerProps>([TYPES.container], (props, args, report) => {
        for (const p of list<NonNullable<ContainerProps["ports"]>[number]>(props.ports)) {
          if (Number(p.internal) !== MQTT_PORT) continue;
          const ip = p.ip ?? "";
          if (WILDCARD_ADDRESSES.includes(ip)) {
            report(
              `${subject(args)} publishes port ${MQTT_PORT} on ${ip || "all addresses (no ip)"} ` +
                `as host port ${p.external ?? "(random)"}: plain MQTT would be open to every ` +
                `network the host is on. Set ports[].ip to 127.0.0.1 (mqtt-edge: ` +
                `broker.tcp.publish: "127.0.0.1:${MQTT_PORT}") or remove the port.`,
            );
          }
        }
        const image = known(() => props.image);
        if (props.networkMode === "host" && isMosquitto(image)) {
          report(
            `${subject(args)} runs ${image} with networkMode "host", so its listener on port ` +
              `${MQTT_PORT} binds every host address. Use a bridge network and publish on ` +
              `127.0.0.1 if at all.`,
          );
        }
      }),
      validateTypes<ServiceProps>([TYPES.service], (props, args, report) => {
        for (const p of list<{ targetPort?: number; publishedPort?: number }>(
          props.endpointSpec?.ports,
        )) {
          if (Number(p.targetPort) !== MQTT_PORT) continue;
          report(
            `${subject(args)} publishes target port ${MQTT_PORT} (endpointSpec.ports[], published ` +
              `as ${p.publishedPort ?? "a random port"}): swarm publishes on every address of ` +
              `every node. Remove it and reach the broker over the overlay network or the tunnel.`,
          );
        }
      }),
    ),
  };
}
