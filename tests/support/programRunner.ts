/**
 * Runs the program under Pulumi mocks and records every registration: type, name, parent,
 * provider, dependencies and inputs (with secret markers kept), as the engine would see them.
 * Any provider function call the program is not expected to make fails the run.
 */
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_IMAGES, loadConfig } from "../../config";
import { deployStack, type StackOutputs } from "../../program";
import { INVOKES, TYPES } from "../../shared/resourceTypes";
import { type StackConfigInput, toEngineConfig } from "./stackConfig";

/** The Pulumi wire format's marker for a secret value. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface Registration {
  type: string;
  name: string;
  urn: string;
  custom: boolean;
  parent: string;
  provider: string;
  dependencies: string[];
  /** Per input, the resources its value came from: what the engine replaces dependents by. */
  propertyDependencies: Record<string, string[]>;
  /** Inputs with secrets still wrapped in the wire format's secret marker. */
  rawInputs: Record<string, unknown>;
  /** Inputs with secret markers removed. */
  inputs: Record<string, any>;
  /** Top-level inputs that hold a secret anywhere inside them. */
  secretInputs: Set<string>;
  protect: boolean;
  deleteBeforeReplace: boolean;
  additionalSecretOutputs: string[];
  /** URNs whose replacement replaces this resource too. */
  replaceWith: string[];
  retainOnDelete: boolean;
}

export interface Call {
  token: string;
  inputs: Record<string, any>;
}

function isSecretMarker(v: unknown): v is { value: unknown } {
  return (
    typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG
  );
}

export function containsSecret(v: unknown): boolean {
  if (isSecretMarker(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecret);
  if (v && typeof v === "object") return Object.values(v).some(containsSecret);
  return false;
}

export function unwrap(v: unknown): any {
  if (isSecretMarker(v)) return unwrap(v.value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  }
  return v;
}

export const FAKE_ACCOUNT = "0123456789abcdef0123456789abcdef";

/** A tunnel token as Cloudflare issues it: base64 JSON of account tag, tunnel id and secret. */
export function fakeToken(tunnelId: string): string {
  return Buffer.from(
    JSON.stringify({ a: FAKE_ACCOUNT, t: tunnelId, s: Buffer.alloc(32, 7).toString("base64") }),
  ).toString("base64");
}

/** Computed outputs a provider would add, per resource type. */
function computed(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
  switch (type) {
    case TYPES.password:
      return { result: `pw-${name}-${"x".repeat(24)}` };
    case TYPES.bytes:
      return {
        base64: Buffer.alloc(inputs.length ?? 32, 1).toString("base64"),
        hex: "01".repeat(inputs.length ?? 32),
      };
    case TYPES.accessToken:
      return { clientId: `${name}.access`, clientSecret: `secret-${name}` };
    case TYPES.container:
      return { name: inputs.name ?? name };
    default:
      return {};
  }
}

/** What the mocked Cloudflare API answers for zone settings, per zone id (`zone-<name>`). */
export interface ZoneState {
  /** Zone ids whose `websockets` setting is "off" (default: "on" everywhere). */
  websocketsOff?: string[];
  /** Zone ids with Bot Fight Mode on (default: off everywhere). */
  fightMode?: string[];
}

export class Recorder implements pulumi.runtime.Mocks {
  readonly registrations: Registration[] = [];
  readonly calls: Call[] = [];

  constructor(readonly zoneState: ZoneState = {}) {}

  newResource(args: pulumi.runtime.MockResourceArgs): {
    id: string | undefined;
    state: Record<string, any>;
  } {
    const inputs = unwrap(args.inputs);
    return {
      id: args.custom === false ? undefined : `${args.name}-id`,
      state: { ...inputs, ...computed(args.type, args.name, inputs) },
    };
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
    const inputs = unwrap(args.inputs);
    this.calls.push({ token: args.token, inputs });
    switch (args.token) {
      case INVOKES.tunnelToken:
        return { ...inputs, token: fakeToken(inputs.tunnelId) };
      case INVOKES.zone:
        return { ...inputs, id: inputs.zoneId, status: "active", account: { id: FAKE_ACCOUNT } };
      case INVOKES.zones:
        return {
          ...inputs,
          results: [
            {
              id: `zone-${inputs.name}`,
              name: inputs.name,
              status: "active",
              account: { id: FAKE_ACCOUNT },
            },
          ],
        };
      case INVOKES.tunnels:
      case INVOKES.dnsRecords:
      case INVOKES.accessApps:
      case INVOKES.accessServiceTokens:
        return { ...inputs, results: [] };
      case INVOKES.zoneSetting:
        if (inputs.settingId !== "websockets") break;
        return {
          ...inputs,
          id: "websockets",
          value: this.zoneState.websocketsOff?.includes(inputs.zoneId) ? "off" : "on",
          editable: true,
        };
      case INVOKES.botManagement:
        return {
          ...inputs,
          id: inputs.zoneId,
          fightMode: this.zoneState.fightMode?.includes(inputs.zoneId) ?? false,
        };
    }
    throw new Error(`unexpected provider call ${args.token} ${JSON.stringify(inputs)}`);
  }

  ofType(type: string): Registration[] {
    return this.registrations.filter((r) => r.type === type);
  }

  byName(name: string): Registration {
    const r = this.registrations.find((x) => x.name === name);
    if (!r)
      throw new Error(
        `no resource named ${name}; have ${this.registrations.map((x) => x.name).join(", ")}`,
      );
    return r;
  }

  byUrn(urn: string): Registration | undefined {
    return this.registrations.find((x) => x.urn === urn);
  }
}

/** The project's one table of type tokens (shared/resourceTypes.ts). */
export const T = TYPES;

export { type StackConfigInput, toEngineConfig } from "./stackConfig";

export interface ProgramRun {
  rec: Recorder;
  outputs: StackOutputs;
}

type MonitorLike = { registerResource(req: any, cb: any): unknown };

/**
 * Runs the program for one stack. `secretKeys` are the config keys stored as secrets
 * (without the project prefix).
 */
export async function runProgram(
  config: StackConfigInput,
  opts: { stack?: string; secretKeys?: string[]; preview?: boolean; zones?: ZoneState } = {},
): Promise<ProgramRun> {
  const rec = new Recorder(opts.zones);
  await pulumi.runtime.setMocks(rec, "mqtt-edge", opts.stack ?? "dev", opts.preview ?? false);
  const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike;
  const register = monitor.registerResource.bind(monitor);
  let pending = 0;
  monitor.registerResource = (req: any, cb: any) => {
    const raw = req.getObject()?.toJavaScript() ?? {};
    const secretInputs = new Set(Object.keys(raw).filter((k) => containsSecret(raw[k])));
    pending++;
    return register(req, (err: unknown, resp: any) => {
      rec.registrations.push({
        type: req.getType(),
        name: req.getName(),
        urn: resp?.getUrn?.() ?? "",
        custom: req.getCustom(),
        parent: req.getParent(),
        provider: req.getProvider(),
        dependencies: req.getDependenciesList(),
        propertyDependencies: Object.fromEntries(
          (req.getPropertydependenciesMap?.()?.entries?.()
            ? [...req.getPropertydependenciesMap().entries()]
            : []
          ).map(([k, v]: [string, any]) => [k, v.getUrnsList() as string[]]),
        ),
        rawInputs: raw,
        inputs: unwrap(raw),
        secretInputs,
        protect: req.getProtect?.() ?? false,
        deleteBeforeReplace: req.getDeletebeforereplace?.() ?? false,
        additionalSecretOutputs: req.getAdditionalsecretoutputsList?.() ?? [],
        replaceWith: req.getReplaceWithList?.() ?? [],
        retainOnDelete: req.getRetainondelete?.() ?? false,
      });
      pending--;
      cb(err, resp);
    });
  };
  pulumi.runtime.setAllConfig(
    toEngineConfig(config),
    (opts.secretKeys ?? []).map((k) => (k.includes(":") ? k : `mqtt-edge:${k}`)),
  );
  const outputs = deployStack(loadConfig());
  await settle(() => pending, rec);
  return { rec, outputs };
}

/** Waits until registrations stop arriving (outputs resolve in several turns of the loop). */
async function settle(pending: () => number, rec: Recorder): Promise<void> {
  let stable = 0;
  let last = -1;
  for (let i = 0; i < 10000 && stable < 20; i++) {
    await new Promise((r) => setImmediate(r));
    const n = rec.registrations.length;
    if (n === last && pending() === 0) stable++;
    else stable = 0;
    last = n;
  }
}

/** Resolves an Output's value and whether it is secret (test-only; never used by the program). */
export async function resolve<T>(
  o: pulumi.Output<T> | undefined,
): Promise<{ value: T; secret: boolean }> {
  if (!o) throw new Error("output is undefined");
  const value = await new Promise<T>((res) => o.apply((v) => res(v)));
  return { value, secret: await pulumi.isSecret(o) };
}

/** The config every test starts from: a valid managed-mode stack. */
export function managedConfig(overrides: StackConfigInput = {}): StackConfigInput {
  return {
    tunnel: {
      mode: "managed",
      accountId: FAKE_ACCOUNT,
      zone: "example.com",
      hostname: "mqtt.example.com",
      replicas: 2,
      image: DEFAULT_IMAGES.cloudflared,
    },
    broker: {
      image: DEFAULT_IMAGES.mosquitto,
      users: [
        { name: "sensor", acl: [{ access: "write", topic: "sensors/#" }] },
        { name: "dashboard", acl: [{ access: "read", topic: "#" }] },
      ],
      patterns: [{ access: "readwrite", topic: "clients/%u/#" }],
    },
    ...overrides,
  };
}
