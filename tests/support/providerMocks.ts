/**
 * The one mock of the provider surface, for the unit tests (tests/support/programRunner.ts) and
 * the evaluation benchmarks (bench/mocks.ts): what each invoke the program makes answers, and what
 * each resource comes back with (an id from its name, its inputs, and the outputs a provider would
 * compute). An invoke the table does not answer fails its call and is kept in
 * `ProviderMocks.unexpected`, which the runners turn into an error naming the token: a new invoke
 * in the program breaks the tests and benchmarks until it is added here.
 */
import * as pulumi from "@pulumi/pulumi";
import { INVOKES, TYPES } from "../../shared/resourceTypes";

/** The wire format's marker of a secret value: `{ [SECRET_SIG_KEY]: SECRET_SIG, value }`. */
export const SECRET_SIG_KEY = pulumi.runtime.specialSigKey;
export const SECRET_SIG = pulumi.runtime.specialSecretSig;

export function isSecretMarker(v: unknown): v is { value: unknown } {
  return (
    typeof v === "object" &&
    v !== null &&
    (v as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG
  );
}

export function containsSecret(v: unknown): boolean {
  if (isSecretMarker(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecret);
  if (v && typeof v === "object") return Object.values(v).some(containsSecret);
  return false;
}

/** `v` with every secret marker replaced by the value it wraps. */
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

/** What the mocked Cloudflare API answers for zone settings, per zone id (`zone-<name>`). */
export interface ZoneState {
  /** Zone ids whose `websockets` setting is "off" (default: "on" everywhere). */
  websocketsOff?: string[];
  /** Zone ids with Bot Fight Mode on (default: off everywhere). */
  fightMode?: string[];
  /** Zone name -> its status, for zones that are not "active" (default: all active). */
  status?: Record<string, string>;
  /** Zone name -> the account it is in, for zones not in FAKE_ACCOUNT (default: none). */
  account?: Record<string, string>;
  /** Invoke tokens the API token lacks the permission for: they fail as Cloudflare's 403. */
  denied?: string[];
}

/** A zone as GET /zones lists it (`zone-<name>` its id). */
function zoneOf(name: string, zones: ZoneState) {
  return {
    id: `zone-${name}`,
    name,
    status: zones.status?.[name] ?? "active",
    account: { id: zones.account?.[name] ?? FAKE_ACCOUNT },
  };
}

/** An invoke's answer from its (unwrapped) inputs; undefined for inputs it does not expect. */
export type InvokeAnswer = (
  inputs: Record<string, any>,
  zones: ZoneState,
) => Record<string, any> | undefined;

/** Every invoke the program makes (shared/resourceTypes.ts), token -> the provider's answer. */
export const INVOKE_ANSWERS: Readonly<Record<string, InvokeAnswer>> = {
  [INVOKES.tunnelToken]: (i) => ({ ...i, token: fakeToken(i.tunnelId) }),
  // By id (tunnel.zoneId): the id is `zone-<name>` in these tests, or any other id as is.
  [INVOKES.zone]: (i, zones) => ({
    ...i,
    ...zoneOf(String(i.zoneId).replace(/^zone-/, ""), zones),
    id: i.zoneId,
  }),
  [INVOKES.zones]: (i, zones) => ({ ...i, results: [zoneOf(i.name, zones)] }),
  // The permission probes: any answer will do, the program reads only whether they failed.
  [INVOKES.tunnels]: (i) => ({ ...i, results: [] }),
  [INVOKES.dnsRecords]: (i) => ({ ...i, results: [] }),
  [INVOKES.accessApps]: (i) => ({ ...i, results: [] }),
  [INVOKES.accessServiceTokens]: (i) => ({ ...i, results: [] }),
  // The zone preflight reads only the `websockets` setting.
  [INVOKES.zoneSetting]: (i, zones) =>
    i.settingId === "websockets"
      ? {
          ...i,
          id: "websockets",
          value: zones.websocketsOff?.includes(i.zoneId) ? "off" : "on",
          editable: true,
        }
      : undefined,
  [INVOKES.botManagement]: (i, zones) => ({
    ...i,
    id: i.zoneId,
    fightMode: zones.fightMode?.includes(i.zoneId) ?? false,
  }),
};

/** Outputs a provider would compute, per resource type. */
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
      // Far ahead (Cloudflare fills in creation + duration), so no test meets the expiry warning.
      return {
        clientId: `${name}.access`,
        clientSecret: `secret-${name}`,
        expiresAt: "2099-01-01T00:00:00Z",
      };
    case TYPES.container:
      return { name: inputs.name ?? name };
    default:
      return {};
  }
}

/** One provider function call the program made. */
export interface Call {
  token: string;
  inputs: Record<string, any>;
}

export class ProviderMocks implements pulumi.runtime.Mocks {
  readonly calls: Call[] = [];
  /** Invokes the program made that `answers` has no answer for, as error messages. */
  readonly unexpected: string[] = [];
  /** Resources registered so far, components included. */
  created = 0;

  constructor(
    readonly zoneState: ZoneState = {},
    private readonly answers: Readonly<Record<string, InvokeAnswer>> = INVOKE_ANSWERS,
  ) {}

  newResource(args: pulumi.runtime.MockResourceArgs): {
    id: string | undefined;
    state: Record<string, any>;
  } {
    this.created++;
    const inputs = unwrap(args.inputs);
    return {
      id: args.custom === false ? undefined : `${args.name}-id`,
      state: { ...inputs, ...computed(args.type, args.name, inputs) },
    };
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
    const inputs = unwrap(args.inputs);
    this.calls.push({ token: args.token, inputs });
    if (this.zoneState.denied?.includes(args.token))
      // How the provider reports Cloudflare's answer to a token without the permission.
      throw new Error(
        `${args.token}: 403 Forbidden {"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}`,
      );
    const answer = this.answers[args.token]?.(inputs, this.zoneState);
    if (answer) return answer;
    const message =
      `unexpected provider call ${args.token} ${JSON.stringify(inputs)}: ` +
      "give it an answer in tests/support/providerMocks.ts (INVOKE_ANSWERS)";
    this.unexpected.push(message);
    // The program may catch the failed call, or the SDK may report it only as a failed
    // dependency: say it here too.
    console.error(message);
    throw new Error(message);
  }

  /** Throws, naming every unexpected invoke, if there was one. */
  assertNoUnexpectedCalls(): void {
    if (this.unexpected.length > 0) throw new Error(this.unexpected.join("\n"));
  }
}
