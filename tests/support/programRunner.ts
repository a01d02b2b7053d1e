/**
 * Runs the program under Pulumi mocks and records every registration: type, name, parent,
 * provider, dependencies and inputs (with secret markers kept), as the engine would see them.
 * The provider's answers are tests/support/providerMocks.ts's; any provider function call the
 * program is not expected to make fails the run, naming it.
 */
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_IMAGES, loadConfig } from "../../config";
import { type EngineVersions, setEngineProbe } from "../../engines";
import { deployStack, type StackOutputs } from "../../program";
import { TYPES } from "../../shared/resourceTypes";
import {
  containsSecret,
  FAKE_ACCOUNT,
  type InvokeAnswer,
  ProviderMocks,
  unwrap,
  type ZoneState,
} from "./providerMocks";
import { type StackConfigInput, toEngineConfig } from "./stackConfig";

export {
  type Call,
  containsSecret,
  FAKE_ACCOUNT,
  fakeToken,
  unwrap,
  type ZoneState,
} from "./providerMocks";

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

/** The provider mocks, keeping every registration as the engine would see it. */
export class Recorder extends ProviderMocks {
  readonly registrations: Registration[] = [];
  /** The Docker endpoints the engines' preflight asked, in order. */
  enginesAsked: string[] = [];

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

export interface RunOptions {
  stack?: string;
  /** Config keys stored as secrets (without the project prefix). */
  secretKeys?: string[];
  preview?: boolean;
  zones?: ZoneState;
  /** The invokes' answers (default: providerMocks.ts's INVOKE_ANSWERS). */
  invokes?: Readonly<Record<string, InvokeAnswer>>;
  /**
   * What every Docker engine answers the engines' preflight (engines.ts), or the error asking it
   * fails with (default: Debian's 20.10, API 1.12 to 1.41). No engine is asked.
   */
  engine?: EngineVersions | Error;
}

/** Debian's dockerd 20.10.24, as GET /version answers. */
export const DEBIAN_ENGINE: EngineVersions = { api: "1.41", min: "1.12", version: "20.10.24" };

/** Runs the program for one stack; rejects if it made an invoke the mocks do not answer. */
export async function runProgram(
  config: StackConfigInput,
  opts: RunOptions = {},
): Promise<ProgramRun> {
  const rec = new Recorder(opts.zones, opts.invokes);
  const engine = opts.engine ?? DEBIAN_ENGINE;
  rec.enginesAsked = [];
  setEngineProbe(async (endpoint) => {
    rec.enginesAsked.push(endpoint);
    if (engine instanceof Error) throw engine;
    return engine;
  });
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
  rec.assertNoUnexpectedCalls();
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
