import * as policySdk from "@pulumi/policy";
import type {
  EnforcementLevel,
  ReportViolation,
  ResourceValidation,
  ResourceValidationArgs,
} from "@pulumi/policy";

/**
 * Type tokens of the resources the policies look at: the project's one table (shared/, plain
 * TypeScript with no imports, so the pack still depends on neither the Docker nor the Cloudflare
 * SDK).
 */
export { TYPES } from "../../shared/resourceTypes";

/** Every policy in this pack blocks a deployment unless a stack's policy config says otherwise. */
export const DEFAULT_ENFORCEMENT: EnforcementLevel = "mandatory";

/** Docker label that exempts the Docker socket proxy from the raw-socket rule. */
export const SOCKET_PROXY_LABEL = { key: "dev.mqtt-edge.role", value: "socket-proxy" } as const;

/** The props a policy reads, as they arrive on the wire: plain JSON, secrets unwrapped. */
export type Props = Record<string, unknown>;

type Validation<P> = (props: P, args: ResourceValidationArgs, report: ReportViolation) => void;

/** A validation for some resource types; `byType` combines several into one. */
export interface TypedValidation extends ResourceValidation {
  readonly types: readonly string[];
  /** The validation itself, without the type check. */
  readonly run: (args: ResourceValidationArgs, report: ReportViolation) => void;
}

function notApplicableUnless(types: readonly string[], args: ResourceValidationArgs): void {
  if (!types.includes(args.type)) {
    args.notApplicable(`applies to ${types.map(shortType).join(", ")} only`);
  }
}

/**
 * A validation that runs only for the given resource types, like `validateResourceOfType` but
 * keyed by type token. Other types are reported as not applicable.
 */
export function validateTypes<P = Props>(
  types: readonly string[],
  validate: Validation<P>,
): TypedValidation {
  const run = (args: ResourceValidationArgs, report: ReportViolation) =>
    validate(args.props as P, args, report);
  const validation = (args: ResourceValidationArgs, report: ReportViolation) => {
    notApplicableUnless(types, args);
    run(args, report);
  };
  return Object.assign(validation, { types, run });
}

/**
 * Several type-specific validations as one policy validation: runs the ones for the resource's
 * type and reports the policy not applicable only when there is none.
 *
 * Not an array of validations: the policy SDK runs each entry of an array and records "not
 * applicable" for the policy as soon as one entry says so, and the engine counts a policy as
 * passed by a resource only if no entry did. A Container that satisfied docker-images-pinned
 * would then show it as not applicable (its Service and RemoteImage entries do not apply), and
 * `pulumi preview` reports no container as having passed any Docker policy.
 */
export function byType(...validations: TypedValidation[]): TypedValidation {
  const types = [...new Set(validations.flatMap((v) => v.types))];
  const run = (args: ResourceValidationArgs, report: ReportViolation) => {
    for (const v of validations) if (v.types.includes(args.type)) v.run(args, report);
  };
  const validation = (args: ResourceValidationArgs, report: ReportViolation) => {
    notApplicableUnless(types, args);
    run(args, report);
  };
  return Object.assign(validation, { types, run });
}

/** `docker:index/container:Container` -> `docker.Container`. */
export function shortType(type: string): string {
  const [pkg, , name] = type.split(":");
  return name ? `${pkg}.${name}` : type;
}

/** How a violation names the resource: type and Pulumi resource name. */
export function subject(args: { type: string; name: string }): string {
  return `${shortType(args.type)} "${args.name}"`;
}

// The policy SDK throws UnknownValueError when a policy reads a value that is unknown during
// preview. It is exported at runtime but stripped from the typings.
const UnknownValueError = (policySdk as unknown as { UnknownValueError?: new () => Error })
  .UnknownValueError;

/**
 * Reads a value that may be unknown during preview; `undefined` if it is. Without this, the SDK
 * turns the whole validation into an advisory "can't run during preview" note.
 */
export function known<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    if (UnknownValueError && e instanceof UnknownValueError) return undefined;
    throw e;
  }
}

/** A list prop: the array, or an empty one when absent. */
export function list<T>(value: unknown): T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}

/** True if a Docker label list (`[{label, value}]`) or map has `key=value`. */
export function hasLabel(labels: unknown, key: string, value: string): boolean {
  if (Array.isArray(labels)) {
    return labels.some((l) => l && typeof l === "object" && l.label === key && l.value === value);
  }
  if (labels && typeof labels === "object") {
    return (labels as Record<string, unknown>)[key] === value;
  }
  return false;
}

/** The project's one image rule (shared/images.ts), also applied by the config validation. */
export { imageProblem } from "../../shared/images";

/** The repository of an image reference, lower-cased: `eclipse-mosquitto:2.0.22` -> `eclipse-mosquitto`. */
export function imageRepository(image: string): string {
  const noDigest = image.split("@")[0];
  const colon = noDigest.indexOf(":", noDigest.lastIndexOf("/") + 1);
  return (colon < 0 ? noDigest : noDigest.slice(0, colon)).toLowerCase();
}

/** Host paths that give a container the Docker socket: the socket itself or a directory above it. */
export function exposesDockerSocket(hostPath: string): boolean {
  const path = hostPath.replace(/\/+/g, "/").replace(/(.)\/$/, "$1");
  if (path.endsWith("/docker.sock")) return true;
  // Rootless Docker keeps its socket in /run/user/<uid>.
  return ["/", "/var", "/var/run", "/run"].includes(path) || /^\/run\/user(\/\d+)?$/.test(path);
}
