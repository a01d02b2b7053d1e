/**
 * The CrossGuard pack in policy/ under the real Pulumi engine: `pulumi preview --policy-pack
 * policy` of this repository's program, with the real provider plugins, a real Docker engine and
 * the fake Cloudflare API. Previews only; nothing is deployed.
 *
 * How the pack runs here: the CLI (v3.259 to v3.277 at least) asks the nodejs language host to start a `runtime: nodejs`
 * pack (RunPlugin), and our host (sdk v3.68.0) answers "not supported". scripts/policy-shim holds
 * a pulumi-language-nodejs that forwards everything to the real host and runs the pack itself;
 * these stacks get that directory first on PATH. It is not put on PATH for the other e2e suites:
 * the CLI warns "using pulumi-language-nodejs from $PATH", which cli.test.ts rightly refuses.
 *
 * What each policy run is judged by: the CLI's exit status, its text output (which names the
 * violated policy), and its engine event log (`--event-log`, as the Automation API uses it): one
 * policyEvent per violation, one policyAnalyzeSummaryEvent per resource the pack looked at.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { delimiter, join } from "node:path";
import { after, before, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import type { FakeCloudflareApi } from "../support/cloudflareApi";
import {
  API_TOKEN,
  deploySuite,
  E2EStack,
  IMAGES,
  managedTunnel,
  requireTools,
  ROOT,
  startFakeCloudflare,
} from "../support/e2eStack";
import { TYPES } from "../../shared/resourceTypes";

const POLICY_DIR = join(ROOT, "policy");
const SHIM_DIR = join(ROOT, "scripts", "policy-shim");
const PACK = "mqtt-edge";
const CONTAINER = TYPES.container;
const SERVICE = TYPES.service;
const SERVICE_CONFIG = TYPES.serviceConfig;
const DNS_RECORD = TYPES.dnsRecord;
const TUNNEL = TYPES.tunnel;
/** The engine's marker of a secret value (secrets themselves are masked in the event log). */
const SECRET_SIG = {
  key: pulumi.runtime.specialSigKey,
  value: pulumi.runtime.specialSecretSig,
};

/**
 * Every policy of the pack, all mandatory (policy/index.ts). Each has a test below: a config
 * that violates it, or, for the four the program cannot violate, the config errors it gives.
 */
const POLICIES = [
  "cloudflare-tunnel-dns-proxied",
  "cloudflare-tunnel-remotely-managed",
  "docker-images-pinned",
  "docker-no-privileged",
  "docker-no-raw-socket",
  "mosquitto-no-anonymous",
  "mosquitto-port-not-public",
  "secrets-marked-secret",
];

/** PATH without the shim directory, in case a caller put it there. */
const plainPath = (process.env.PATH ?? "")
  .split(delimiter)
  .filter((d) => d && d.replace(/\/+$/, "") !== SHIM_DIR)
  .join(delimiter);

interface Violation {
  policy: string;
  /** The resource's name (the last part of its URN). */
  resource: string;
  level: string;
  message: string;
}

interface PolicyRun {
  status: number;
  /** stdout and stderr of `pulumi preview`. */
  output: string;
  /** True if the engine loaded a policy pack. */
  loaded: boolean;
  violations: Violation[];
  /** Names of the resources the mqtt-edge pack analyzed. */
  analyzed: string[];
  /** By resource name: the policies the engine counted as applicable to it and passed. */
  passed: Map<string, string[]>;
  /** The inputs the engine had for each resource, by name, as the pack receives them. */
  inputs: Map<string, Record<string, any>>;
  /**
   * The pack's resource policies, as the engine knows them: it summarises remediations per
   * resource as passed or failed over every resource policy, and the pack has no remediations.
   */
  policies: string[];
}

const resourceName = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

let runs = 0;

/** `pulumi preview --policy-pack policy`, with the engine's event log. */
async function previewWithPack(stack: E2EStack): Promise<PolicyRun> {
  const log = join(stack.dir, `events-${++runs}.jsonl`);
  const r = await stack.cli(["preview", "--policy-pack", POLICY_DIR, "--event-log", log]);
  const events = existsSync(log)
    ? readFileSync(log, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
  const run: PolicyRun = {
    status: r.status,
    output: `${r.stdout}${r.stderr}`,
    loaded: events.some((e) => e.policyLoadEvent),
    violations: [],
    analyzed: [],
    passed: new Map(),
    inputs: new Map(),
    policies: [],
  };
  for (const e of events) {
    if (e.policyEvent) {
      run.violations.push({
        policy: e.policyEvent.policyName,
        resource: resourceName(e.policyEvent.resourceUrn ?? ""),
        level: e.policyEvent.enforcementLevel,
        message: e.policyEvent.message,
      });
    }
    const summary = e.policyAnalyzeSummaryEvent;
    if (summary?.policyPackName === PACK) {
      run.analyzed.push(resourceName(summary.resourceUrn));
      run.passed.set(resourceName(summary.resourceUrn), summary.passed ?? []);
    }
    const remediate = e.policyRemediateSummaryEvent;
    if (remediate?.policyPackName === PACK && run.policies.length === 0) {
      run.policies = [...(remediate.passed ?? []), ...(remediate.failed ?? [])].sort();
    }
    const pre = e.resourcePreEvent?.metadata;
    if (pre?.new?.inputs) run.inputs.set(resourceName(pre.urn), pre.new.inputs);
  }
  return run;
}

/** The run's text and what went wrong, for assertion messages. */
function explain(run: PolicyRun): string {
  const lines = run.output.split("\n").filter((l) => !/using pulumi-language-nodejs/.test(l));
  return `exit ${run.status}; violations: ${JSON.stringify(run.violations, null, 1)}\n${lines.join("\n").slice(-4000)}`;
}

/** The policies that look at each resource type (the rest call themselves not applicable). */
const APPLICABLE: Record<string, string[]> = {
  [CONTAINER]: [
    "docker-images-pinned",
    "docker-no-privileged",
    "docker-no-raw-socket",
    "mosquitto-no-anonymous",
    "mosquitto-port-not-public",
    "secrets-marked-secret",
  ],
  [SERVICE]: [
    "docker-images-pinned",
    "docker-no-privileged",
    "docker-no-raw-socket",
    "mosquitto-port-not-public",
    "secrets-marked-secret",
  ],
  [SERVICE_CONFIG]: ["mosquitto-no-anonymous"],
  [DNS_RECORD]: ["cloudflare-tunnel-dns-proxied"],
  [TUNNEL]: ["cloudflare-tunnel-remotely-managed"],
};

/**
 * The pack ran and reported nothing, not even an advisory, and each of `resources` (name ->
 * type token) passed every policy that applies to its type.
 */
function assertPasses(run: PolicyRun, resources: Record<string, string>): void {
  assert.ok(run.loaded, `the policy pack was loaded\n${explain(run)}`);
  assert.equal(run.status, 0, explain(run));
  assert.deepEqual(run.violations, [], explain(run));
  assert.match(run.output, /mqtt-edge@v0\.1\.0 \(local: /);
  for (const [name, type] of Object.entries(resources)) {
    assert.ok(run.analyzed.includes(name), `the pack analyzed ${name}: ${run.analyzed.join(", ")}`);
    assert.deepEqual(run.passed.get(name), APPLICABLE[type], `policies ${name} passed`);
  }
}

/**
 * The preview failed because of `policy` alone, at the mandatory level, on exactly `resources`,
 * each message containing `detail`, and the text output names the policy.
 */
function assertViolates(
  run: PolicyRun,
  policy: string,
  resources: string[],
  detail: string | RegExp,
): void {
  assert.ok(run.loaded, `the policy pack was loaded\n${explain(run)}`);
  assert.notEqual(run.status, 0, `preview must fail\n${explain(run)}`);
  assert.deepEqual([...new Set(run.violations.map((v) => v.policy))], [policy], explain(run));
  assert.deepEqual(run.violations.map((v) => v.resource).sort(), [...resources].sort());
  for (const v of run.violations) {
    assert.equal(v.level, "mandatory");
    if (typeof detail === "string") assert.ok(v.message.includes(detail), v.message);
    else assert.match(v.message, detail);
  }
  assert.match(run.output, new RegExp(`\\[mandatory\\].*\\b${policy}\\b`), explain(run));
  assert.doesNotMatch(run.output, /invalid stack configuration/, "the program accepted the config");
}

deploySuite("the policy pack under the real engine", { timeout: 15 * 60_000 }, () => {
  let tools: ReturnType<typeof requireTools>;
  let fake: FakeCloudflareApi | undefined;
  let cloudflareBaseUrl: string;
  const stacks: E2EStack[] = [];
  /** Pulumi.dev.yaml with the local test images: quick tunnel, two users, loopback ports. */
  let devConfig: { tunnel: Record<string, unknown>; broker: Record<string, unknown> };

  /** A stack whose CLI finds the shim's language host first on PATH. */
  function newStack(name: string, shim = true): E2EStack {
    const stack = new E2EStack(name, {
      PATH: shim ? `${SHIM_DIR}${delimiter}${plainPath}` : plainPath,
      // Enables `--event-log` on the CLI (what the Automation API sets for its event stream).
      PULUMI_DEBUG_COMMANDS: "true",
    });
    stacks.push(stack);
    return stack;
  }

  /** The dev-like config with `broker` and `tunnel` keys merged in. */
  function devWith(change: {
    tunnel?: Record<string, unknown>;
    broker?: Record<string, unknown>;
  }): Record<string, unknown> {
    return {
      tunnel: { ...devConfig.tunnel, ...change.tunnel },
      broker: { ...devConfig.broker, ...change.broker },
    };
  }

  before(async () => {
    tools = requireTools();
    if (!existsSync(join(POLICY_DIR, "node_modules", "@pulumi", "policy"))) {
      throw new Error("the policy pack's dependencies are missing: npm ci --prefix policy");
    }
    const dev = parseYaml(readFileSync(join(ROOT, "Pulumi.dev.yaml"), "utf8")).config;
    devConfig = {
      tunnel: { ...dev["mqtt-edge:tunnel"], image: tools.cloudflaredImage },
      broker: { ...dev["mqtt-edge:broker"], image: IMAGES.mosquitto },
    };
    const started = await startFakeCloudflare();
    fake = started.fake;
    cloudflareBaseUrl = started.baseUrl;
  });

  after(async () => {
    for (const s of stacks) {
      await s.stack?.workspace.removeStack(s.name).catch(() => undefined);
      rmSync(s.dir, { recursive: true, force: true });
    }
    if (fake) await fake.stop();
  });

  test("without the shim, the toolchain's language host cannot start the pack", async () => {
    // If this fails because the preview passed, the language host now implements RunPlugin for
    // policy packs and scripts/policy-shim is no longer needed.
    const stack = newStack("polnoshim", false);
    await stack.configure(devConfig);
    const run = await previewWithPack(stack);
    assert.notEqual(run.status, 0, explain(run));
    assert.ok(
      run.output.includes(
        `policy pack "${POLICY_DIR}" failed to start: could not read plugin [${POLICY_DIR}]: not supported`,
      ),
      explain(run),
    );
  });

  test("the dev stack (quick tunnel, users, loopback ports) passes every policy", async () => {
    const stack = newStack("poldev");
    await stack.configure(devConfig);
    const run = await previewWithPack(stack);
    assert.deepEqual(run.policies, POLICIES, "a policy was added or removed: test it here");
    assertPasses(run, {
      "local-broker-config-writer": CONTAINER,
      "local-broker-mosquitto": CONTAINER,
      "local-connector-1": CONTAINER,
    });
    // Not vacuous: the broker publishes 1883, on loopback, and uploads a mosquitto.conf and a
    // password file, so mosquitto-port-not-public, -no-anonymous and secrets-marked-secret each
    // had something to judge.
    const broker = run.inputs.get("local-broker-mosquitto")!;
    assert.deepEqual(
      broker.ports.map((p: { internal: number; ip: string }) => [p.internal, p.ip]),
      [
        [1883, "127.0.0.1"],
        [9001, "127.0.0.1"],
      ],
    );
    // The config writer's uploads hold the password file: the engine sends them as a secret.
    const uploads = run.inputs.get("local-broker-config-writer")!.uploads;
    assert.equal(uploads?.[SECRET_SIG.key], SECRET_SIG.value, JSON.stringify(uploads));
  });

  test("a managed stack against the fake Cloudflare API passes every policy", async () => {
    const stack = newStack("polmanaged");
    await stack.configure(
      {
        tunnel: managedTunnel(tools.cloudflaredImage, {
          hostname: "mqtt-e2e.example.com",
          replicas: 2,
        }),
        broker: {
          image: IMAGES.mosquitto,
          users: [{ name: "tester", acl: [{ access: "readwrite", topic: "e2e/#" }] }],
        },
        "cloudflare:baseUrl": cloudflareBaseUrl,
      },
      { "cloudflare:apiToken": API_TOKEN },
    );
    const run = await previewWithPack(stack);
    const dns = "local-tunnel-dns-mqtt-e2e.example.com";
    assertPasses(run, {
      "local-broker-mosquitto": CONTAINER,
      "local-connector-1": CONTAINER,
      "local-connector-2": CONTAINER,
      "local-tunnel-tunnel": TUNNEL,
      [dns]: DNS_RECORD,
    });
    // The Cloudflare policies read these inputs; were the provider to rename them, the policies
    // would pass without looking at anything.
    assert.equal(run.inputs.get("local-tunnel-tunnel")?.configSrc, "cloudflare");
    assert.equal(run.inputs.get(dns)?.proxied, true);
    assert.equal(run.inputs.get(dns)?.type, "CNAME");
    // As is the Docker one for capabilities (the config writer adds CAP_CHOWN only).
    assert.deepEqual(run.inputs.get("local-broker-config-writer")?.capabilities?.adds, [
      "CAP_CHOWN",
    ]);
  });

  test("a swarm stack passes: the labelled socket proxy is the only socket mount", async () => {
    const stack = newStack("polswarm");
    await stack.configure({ ...devWith({ broker: { tcp: {}, websocket: {} } }), swarm: {} });
    const run = await previewWithPack(stack);
    const proxy = "local-frontend-socket-proxy";
    // The config's resource name carries its content hash (components/broker.ts).
    const confName = run.analyzed.find((n) => /^local-broker-conf-[0-9a-f]{12}$/.test(n));
    assert.ok(confName, run.analyzed.join(", "));
    assertPasses(run, {
      [proxy]: SERVICE,
      "local-broker-mosquitto": SERVICE,
      "local-connector-service": SERVICE,
      [confName]: SERVICE_CONFIG,
    });
    // docker-no-raw-socket had the socket to judge, and recognised the proxy by its label.
    const spec = run.inputs.get(proxy)!.taskSpec.containerSpec;
    assert.ok(
      spec.mounts.some(
        (m: { type: string; source: string }) =>
          m.type === "bind" && m.source === "/var/run/docker.sock",
      ),
      JSON.stringify(spec.mounts),
    );
    // mosquitto-no-anonymous read the swarm config's mosquitto.conf (data is base64).
    const conf = Buffer.from(run.inputs.get(confName)!.data, "base64").toString();
    assert.match(conf, /^allow_anonymous false$/m);
  });

  // One config per policy that the program accepts and the pack refuses.

  test("mosquitto-no-anonymous: allowAnonymous true", async () => {
    const stack = newStack("polanon");
    await stack.configure(devWith({ broker: { allowAnonymous: true } }));
    const run = await previewWithPack(stack);
    // The config writer is the container that uploads mosquitto.conf into the broker's volume.
    assertViolates(
      run,
      "mosquitto-no-anonymous",
      ["local-broker-config-writer"],
      'uploads /mosquitto/config/mosquitto.conf with "allow_anonymous true"',
    );
  });

  test("mosquitto-port-not-public: tcp.publish on 0.0.0.0", async () => {
    const stack = newStack("polport");
    await stack.configure(devWith({ broker: { tcp: { publish: "0.0.0.0:1883" } } }));
    const run = await previewWithPack(stack);
    assertViolates(
      run,
      "mosquitto-port-not-public",
      ["local-broker-mosquitto"],
      "publishes port 1883 on 0.0.0.0",
    );
  });

  test("the program itself refuses what would break the other six policies", async () => {
    // docker-no-privileged, docker-no-raw-socket, cloudflare-tunnel-dns-proxied and
    // cloudflare-tunnel-remotely-managed cannot be violated through this program: no config key
    // reaches `privileged`, capabilities, mounts, `proxied` or `configSrc`. docker-images-pinned
    // and secrets-marked-secret are refused by validation too: a tag "latest" in any case, and
    // an edge address that is not host:port (such as "--token", which would land on the
    // connector's command line). The program drops all
    // capabilities (adding back only CAP_CHOWN for the config writer and NET_BIND_SERVICE for
    // swarm proxies with ports), mounts the Docker socket only into the labelled socket proxy
    // (components/swarmProxy.ts), and creates tunnels with configSrc "cloudflare" and proxied
    // CNAMEs (components/tunnel.ts). The config validation refuses every attempt before a single
    // resource is registered, so the pack never sees one; this test pins that down, and fails
    // if a key like these is ever accepted (then it needs a test like the ones above).
    const stack = newStack("polrefused");
    await stack.configure(
      devWith({
        tunnel: {
          proxied: false,
          configSrc: "local",
          image: "cloudflare/cloudflared:latest",
          edge: ["--token"],
        },
        broker: {
          image: "mqtt-edge-e2e/mosquitto:LATEST",
          privileged: true,
          capabilities: { adds: ["SYS_ADMIN"] },
          volumes: [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }],
        },
      }),
    );
    const run = await previewWithPack(stack);
    assert.notEqual(run.status, 0, explain(run));
    for (const expected of [
      'mqtt-edge:tunnel: Unrecognized keys: "configSrc", "proxied"',
      'mqtt-edge:broker: Unrecognized keys: "capabilities", "privileged", "volumes"',
      'mqtt-edge:tunnel.image: expected a pinned tag, not "latest"',
      'mqtt-edge:broker.image: expected a pinned tag, not "latest"',
      'mqtt-edge:tunnel.edge[0]: expected host:port (got "--token")',
    ]) {
      assert.ok(run.output.includes(expected), `missing "${expected}"\n${explain(run)}`);
    }
    assert.ok(run.loaded, "the pack was loaded");
    assert.deepEqual(run.violations, [], "the pack reported nothing");
    assert.deepEqual(run.analyzed, ["mqtt-edge-polrefused"], "it saw only the stack itself");
  });
});
