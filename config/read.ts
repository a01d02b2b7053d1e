/**
 * Reading the raw keys: each decoded and run through its schema, schema problems recorded with
 * the key path and the offending value, and a salvaged value returned so that the rules across
 * keys still run in the same pass.
 */
import { z } from "zod";
import { PROTECT_DEFAULT } from "./defaults";
import { type Problems, keyPath, show } from "./problems";
import {
  type BrokerInput,
  type DockerTlsInput,
  type HostInput,
  type SwarmInput,
  type TunnelInput,
  brokerSchema,
  dockerTlsSchema,
  hostsSchema,
  protectSchema,
  swarmSchema,
  tunnelSchema,
} from "./schemas";
import { PROJECT } from "./values";

/** Raw config as the Pulumi engine hands it over: key -> string (JSON for structured values). */
export interface RawConfig {
  project: string;
  stack: string;
  get(key: string): string | undefined;
  isSecret(key: string): boolean;
}

/** Every key, parsed; a key that failed its schema is what could be salvaged of it. */
export interface ParsedKeys {
  tunnel?: TunnelInput;
  broker?: BrokerInput;
  hosts?: HostInput[];
  swarm?: SwarmInput;
  protect: boolean;
  dockerTls?: DockerTlsInput;
  /** token mode: the raw token, read only to validate it. */
  tunnelToken?: string;
}

export const KNOWN_KEYS = [
  "tunnel",
  "tunnelToken",
  "broker",
  "hosts",
  "swarm",
  "protect",
  "dockerTls",
];

/** Refuses `mqtt-edge:*` keys the contract does not have. */
export function checkKnownKeys(allKeys: string[], problems: Problems): void {
  for (const full of allKeys) {
    const [ns, key] = full.split(":");
    if (ns === PROJECT && key && !KNOWN_KEYS.includes(key.split(".")[0])) {
      problems.addAt(
        full,
        `unknown key; expected one of ${KNOWN_KEYS.map((k) => `${PROJECT}:${k}`).join(", ")}`,
      );
    }
  }
}

/** Parses every key; schema problems go to `problems`. */
export function readKeys(raw: RawConfig, problems: Problems): ParsedKeys {
  const parse = <T>(key: string, schema: z.ZodType<T>, secret = false): T | undefined =>
    parseKey(raw, problems, key, schema, secret);
  const keys: ParsedKeys = {
    tunnel: parse("tunnel", tunnelSchema),
    broker: parse("broker", brokerSchema),
    hosts: parse("hosts", hostsSchema.optional()),
    swarm: parse("swarm", swarmSchema.optional()),
    protect: parse("protect", protectSchema.optional()) ?? PROTECT_DEFAULT,
    dockerTls: parse("dockerTls", dockerTlsSchema.optional(), true),
    tunnelToken: raw.get("tunnelToken"),
  };
  if (keys.dockerTls !== undefined && !raw.isSecret("dockerTls")) {
    problems.addAt(
      `${PROJECT}:dockerTls`,
      "expected a secret value (set it with `pulumi config set --secret`); it holds private keys",
    );
  }
  return keys;
}

function parseKey<T>(
  raw: RawConfig,
  problems: Problems,
  key: string,
  schema: z.ZodType<T>,
  secret: boolean,
): T | undefined {
  const input = decode(raw.get(key));
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    const shown = secret ? "(secret)" : show(valueAt(input, issue.path));
    problems.addAt(
      keyPath(key, issue.path),
      `${issue.message.replace(/^Invalid input: (expected )?/, "expected ")} (got ${shown})`,
    );
  }
  return salvage(schema, input, result.error.issues);
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

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
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
