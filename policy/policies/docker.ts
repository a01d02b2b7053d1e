import type { EnforcementLevel, ResourceValidationPolicy } from "@pulumi/policy";
import {
  DEFAULT_ENFORCEMENT,
  SOCKET_PROXY_LABEL,
  TYPES,
  byType,
  exposesDockerSocket,
  hasLabel,
  imageProblem,
  known,
  list,
  subject,
  validateTypes,
} from "./common";

interface ContainerProps {
  image?: string;
  privileged?: boolean;
  capabilities?: { adds?: string[] };
  labels?: unknown;
  volumes?: { hostPath?: string; containerPath?: string }[];
  mounts?: { type?: string; source?: string; target?: string }[];
}

interface ServiceProps {
  labels?: unknown;
  taskSpec?: {
    containerSpec?: {
      image?: string;
      capAdds?: string[];
      labels?: unknown;
      mounts?: { type?: string; source?: string; target?: string }[];
    };
  };
}

/**
 * Capabilities that amount to root on the host or its network: a container holding one can
 * escape, reconfigure host networking or read other processes' memory.
 */
export const DANGEROUS_CAPABILITIES = [
  "ALL",
  "SYS_ADMIN",
  "NET_ADMIN",
  "SYS_MODULE",
  "SYS_PTRACE",
  "SYS_RAWIO",
  "DAC_READ_SEARCH",
] as const;

function dangerousCaps(adds: unknown): string[] {
  return list<string>(adds).filter((c) =>
    (DANGEROUS_CAPABILITIES as readonly string[]).includes(
      String(c).toUpperCase().replace(/^CAP_/, ""),
    ),
  );
}

/**
 * Images are pinned: `docker.Container.image`, `docker.Service`'s
 * `taskSpec.containerSpec.image` and `docker.RemoteImage.name` carry a tag other than `latest`
 * or a digest. An untagged reference means `latest`, which changes under a running deployment.
 */
export function dockerImagesPinned(
  enforcementLevel: EnforcementLevel = DEFAULT_ENFORCEMENT,
): ResourceValidationPolicy {
  return {
    name: "docker-images-pinned",
    description:
      "Docker images must be pinned to a version tag or a digest; " +
      '"latest" and untagged images are refused.',
    enforcementLevel,
    severity: "high",
    remediationSteps:
      "Use name:<version> (eclipse-mosquitto:2.0.22) or name@sha256:<digest>; in mqtt-edge, " +
      "set mqtt-edge:broker.image / mqtt-edge:tunnel.image.",
    validateResource: byType(
      validateTypes<ContainerProps>([TYPES.container], (props, args, report) => {
        check(props.image, "image", args, report);
      }),
      validateTypes<ServiceProps>([TYPES.service], (props, args, report) => {
        check(props.taskSpec?.containerSpec?.image, "taskSpec.containerSpec.image", args, report);
      }),
      validateTypes<{ name?: string }>([TYPES.remoteImage], (props, args, report) => {
        check(props.name, "name", args, report);
      }),
    ),
  };

  function check(
    image: string | undefined,
    path: string,
    args: { type: string; name: string },
    report: (m: string) => void,
  ): void {
    if (image === undefined) return;
    const problem = imageProblem(image);
    if (problem) {
      report(
        `${subject(args)}: ${path} "${image}" ${problem.found}. Pin it to a version tag ` +
          `(e.g. eclipse-mosquitto:2.0.22) or a digest (name@sha256:<64 hex>).`,
      );
    }
  }
}

/**
 * No privileged containers: `docker.Container.privileged` is never true, and neither a Container
 * (`capabilities.adds`) nor a Service (`taskSpec.containerSpec.capAdds`) adds a capability from
 * DANGEROUS_CAPABILITIES.
 */
export function dockerNoPrivileged(
  enforcementLevel: EnforcementLevel = DEFAULT_ENFORCEMENT,
): ResourceValidationPolicy {
  const capList = DANGEROUS_CAPABILITIES.join(", ");
  return {
    name: "docker-no-privileged",
    description: `Containers must not run privileged or add the capabilities ${capList}.`,
    enforcementLevel,
    severity: "critical",
    remediationSteps:
      "Remove privileged: true; drop ALL capabilities and add back only narrow ones " +
      "(e.g. NET_BIND_SERVICE).",
    validateResource: byType(
      validateTypes<ContainerProps>([TYPES.container], (props, args, report) => {
        if (props.privileged === true) {
          report(
            `${subject(args)} runs privileged (privileged: true), which gives it every ` +
              `capability and all host devices. Remove privileged and grant only the ` +
              `capabilities it needs.`,
          );
        }
        const caps = dangerousCaps(props.capabilities?.adds);
        if (caps.length) {
          report(
            `${subject(args)} adds the capabilities ${caps.join(", ")} (capabilities.adds). ` +
              `Remove them; they let a container take over the host or its network.`,
          );
        }
      }),
      validateTypes<ServiceProps>([TYPES.service], (props, args, report) => {
        const caps = dangerousCaps(props.taskSpec?.containerSpec?.capAdds);
        if (caps.length) {
          report(
            `${subject(args)} adds the capabilities ${caps.join(", ")} ` +
              `(taskSpec.containerSpec.capAdds). Remove them; they let a task take over the ` +
              `node or its network.`,
          );
        }
      }),
    ),
  };
}

/**
 * Whether Docker labels mark the socket proxy; undefined while they are unknown (during preview,
 * a label list computed from another resource's outputs is unknown as a whole, as the broker's
 * config-hash label is on create). Reading it without `known` would turn the whole validation
 * into the SDK's "can't run during preview" advisory, so no mount would be checked at all.
 */
function isSocketProxy(labels: () => unknown): boolean | undefined {
  return known(() => hasLabel(labels(), SOCKET_PROXY_LABEL.key, SOCKET_PROXY_LABEL.value));
}

/** The extra sentence for a socket mount whose exemption cannot be checked yet. */
function unknownLabels(proxy: boolean | undefined): string {
  return proxy === undefined
    ? " Its labels are not known during preview, so it cannot be recognised as the socket proxy."
    : "";
}

/**
 * No raw Docker socket: a container that can reach /var/run/docker.sock is root on the host.
 * Only the socket proxy may mount it; it is recognised by the label
 * `dev.mqtt-edge.role=socket-proxy` on the Container, or on the Service or its container spec.
 * Looks at Container `volumes[].hostPath` and bind `mounts[].source`, and Service bind
 * `taskSpec.containerSpec.mounts[].source`; a directory above the socket (/var/run, /run) counts.
 * Labels that are unknown during preview exempt nothing: a socket mount is then refused (the
 * policy fails closed), and a resource without one passes whatever its labels turn out to be.
 */
export function dockerNoRawSocket(
  enforcementLevel: EnforcementLevel = DEFAULT_ENFORCEMENT,
): ResourceValidationPolicy {
  const label = `${SOCKET_PROXY_LABEL.key}=${SOCKET_PROXY_LABEL.value}`;
  const advice =
    `Reach the Docker API through the socket proxy (tcp://<proxy>:2375, read-only endpoints) ` +
    `instead; only a container labelled ${label} may mount the socket.`;
  return {
    name: "docker-no-raw-socket",
    description:
      `The Docker socket (/var/run/docker.sock) must not be mounted into containers or services, ` +
      `except into the socket proxy, which carries the label ${label}.`,
    enforcementLevel,
    severity: "critical",
    remediationSteps: advice,
    validateResource: byType(
      validateTypes<ContainerProps>([TYPES.container], (props, args, report) => {
        const proxy = isSocketProxy(() => props.labels);
        if (proxy === true) return;
        const why = unknownLabels(proxy);
        for (const v of list<{ hostPath?: string }>(props.volumes)) {
          if (v.hostPath && exposesDockerSocket(v.hostPath)) {
            report(
              `${subject(args)} mounts the host path ${v.hostPath} (volumes[].hostPath), ` +
                `which exposes the Docker socket.${why} ${advice}`,
            );
          }
        }
        for (const m of list<{ type?: string; source?: string }>(props.mounts)) {
          if (m.type === "bind" && m.source && exposesDockerSocket(m.source)) {
            report(
              `${subject(args)} bind-mounts ${m.source} (mounts[].source), ` +
                `which exposes the Docker socket.${why} ${advice}`,
            );
          }
        }
      }),
      validateTypes<ServiceProps>([TYPES.service], (props, args, report) => {
        const spec = props.taskSpec?.containerSpec;
        const onService = isSocketProxy(() => props.labels);
        const onSpec = isSocketProxy(() => spec?.labels);
        if (onService === true || onSpec === true) return;
        const why = unknownLabels(
          onService === undefined || onSpec === undefined ? undefined : false,
        );
        for (const m of list<{ type?: string; source?: string }>(spec?.mounts)) {
          if (m.type === "bind" && m.source && exposesDockerSocket(m.source)) {
            report(
              `${subject(args)} bind-mounts ${m.source} ` +
                `(taskSpec.containerSpec.mounts[].source), which exposes the Docker socket.${why} ` +
                advice,
            );
          }
        }
      }),
    ),
  };
}
