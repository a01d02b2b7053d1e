/**
 * Calls a policy's validateResource the way the policy SDK's analyzer server does: props behind
 * the SDK's own unknown-checking proxy, the same args bag, `notApplicable` throwing, and an
 * UnknownValueError turned into the advisory the engine would print. Collects every violation.
 */
import * as policySdk from "@pulumi/policy";
import * as proxyModule from "@pulumi/policy/proxy";
import type {
  Policy,
  PolicyResourceOptions,
  ResourceValidationArgs,
  ResourceValidationPolicy,
} from "@pulumi/policy";

// The SDK exports these at runtime; its typings mark them internal.
const sdk = policySdk as unknown as {
  unknownCheckingProxy<T>(value: T): T;
  UnknownValueError: new () => Error;
};
const proxy = proxyModule as unknown as {
  unknownStringValue: string;
  unknownArrayValue: string;
  unknownBooleanValue: string;
};

/** What the engine sends for a string that is unknown during preview. */
export const UNKNOWN_STRING = proxy.unknownStringValue;
export const UNKNOWN_ARRAY = proxy.unknownArrayValue;
export const UNKNOWN_BOOLEAN = proxy.unknownBooleanValue;

/** The project's one table of type tokens. */
export { TYPES as TYPE } from "../../shared/resourceTypes";

export interface Resource {
  type: string;
  props: Record<string, unknown>;
  name?: string;
  opts?: Partial<PolicyResourceOptions>;
}

export interface Outcome {
  violations: string[];
  /** Reasons given by validations that did not apply to the resource type. */
  notApplicable: string[];
  /** Messages of validations that read an unknown value (an advisory in a real preview). */
  unknown: string[];
}

class NotApplicable extends Error {}

export async function validate(policy: Policy, resource: Resource): Promise<Outcome> {
  const p = policy as ResourceValidationPolicy;
  if (!p.validateResource) throw new Error(`${policy.name} has no validateResource`);
  const validations = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource];
  const name = resource.name ?? "res";
  const outcome: Outcome = { violations: [], notApplicable: [], unknown: [] };
  for (const validation of validations) {
    const props = sdk.unknownCheckingProxy(structuredClone(resource.props));
    const args: ResourceValidationArgs = {
      type: resource.type,
      props,
      urn: `urn:pulumi:test::mqtt-edge::${resource.type}::${name}`,
      name,
      opts: {
        protect: false,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
        ...resource.opts,
      },
      stackTags: new Map(),
      isType: () => false,
      asType: () => undefined,
      getConfig: <T extends object>() => ({}) as T,
      notApplicable: (reason?: string): never => {
        throw new NotApplicable(reason);
      },
    };
    try {
      await validation(args, (message) => outcome.violations.push(message));
    } catch (e) {
      if (e instanceof NotApplicable) outcome.notApplicable.push(e.message);
      else if (e instanceof sdk.UnknownValueError) outcome.unknown.push(e.message);
      else throw e;
    }
  }
  return outcome;
}

/** The violations of an applicable, fully known resource; fails if the policy could not run. */
export async function violations(policy: Policy, resource: Resource): Promise<string[]> {
  const outcome = await validate(policy, resource);
  const validations = (policy as ResourceValidationPolicy).validateResource;
  const total = Array.isArray(validations) ? validations.length : 1;
  if (outcome.notApplicable.length === total) {
    throw new Error(`${policy.name} does not apply to ${resource.type}`);
  }
  if (outcome.unknown.length) throw new Error(`unexpected unknown: ${outcome.unknown.join("; ")}`);
  return outcome.violations;
}
