/**
 * The pack as the Pulumi engine runs it: `index.ts` started as a process, spoken to over the
 * analyzer gRPC protocol with properties in the engine's wire format (secret markers, unknowns).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as pulumi from "@pulumi/pulumi";
import * as analyzerGrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { mqttEdgePolicies } from "../policies";
import { TYPE, UNKNOWN_STRING } from "./harness";

const PACK_DIR = path.resolve(__dirname, "..");
/** The engine's marker for a secret value on the wire. */
const secret = (value: unknown) => ({
  [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
  value,
});

let pack: ChildProcess;
let client: analyzerGrpc.AnalyzerClient;

async function startPack(): Promise<number> {
  pack = spawn(process.execPath, ["--import", "tsx", "index.ts"], {
    cwd: PACK_DIR,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  pack.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error(`pack did not start: ${stderr}`)), 60_000);
    pack.stdout!.on("data", (d) => {
      stdout += d;
      const m = /^(\d+)\s*$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    pack.on("exit", (code) => reject(new Error(`pack exited with ${code}: ${stderr}`)));
  });
}

function unary<Res>(
  invoke: (callback: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

interface Diagnostic {
  policy: string;
  message: string;
  level: analyzerPb.EnforcementLevel;
}

async function analyze(
  type: string,
  properties: Record<string, unknown>,
  additionalSecretOutputs: string[] = [],
): Promise<Diagnostic[]> {
  return (await analyzeFully(type, properties, additionalSecretOutputs)).diagnostics;
}

/** The diagnostics and the names of the policies the pack called not applicable. */
async function analyzeFully(
  type: string,
  properties: Record<string, unknown>,
  additionalSecretOutputs: string[] = [],
): Promise<{ diagnostics: Diagnostic[]; notApplicable: string[] }> {
  const opts = new analyzerPb.AnalyzerResourceOptions();
  opts.setAdditionalsecretoutputsList(additionalSecretOutputs);
  const req = new analyzerPb.AnalyzeRequest();
  req.setType(type);
  req.setName("res");
  req.setUrn(`urn:pulumi:dev::mqtt-edge::${type}::res`);
  req.setProperties(Struct.fromJavaScript(properties as Record<string, never>));
  req.setOptions(opts);
  const res = await unary<analyzerPb.AnalyzeResponse>((cb) => client.analyze(req, cb));
  return {
    diagnostics: res.getDiagnosticsList().map((d) => ({
      policy: d.getPolicyname(),
      message: d.getMessage(),
      level: d.getEnforcementlevel(),
    })),
    notApplicable: res.getNotApplicableList().map((n) => n.getPolicyName()),
  };
}

describe("the policy pack over the analyzer protocol", () => {
  before(async () => {
    const port = await startPack();
    client = new analyzerGrpc.AnalyzerClient(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    );
  });
  after(() => {
    client?.close();
    pack?.kill();
  });

  it("serves the mqtt-edge pack with every policy mandatory", async () => {
    const info = await unary<analyzerPb.AnalyzerInfo>((cb) =>
      client.getAnalyzerInfo(new Empty(), cb),
    );
    assert.equal(info.getName(), "mqtt-edge");
    const policies = info.getPoliciesList();
    assert.deepEqual(
      policies.map((p) => p.getName()).sort(),
      mqttEdgePolicies()
        .map((p) => p.name)
        .sort(),
    );
    for (const p of policies) {
      assert.equal(p.getEnforcementlevel(), analyzerPb.EnforcementLevel.MANDATORY, p.getName());
    }
  });

  it("reports a violation for a connector with a raw token, none for the hardened one", async () => {
    const base = {
      image: "cloudflare/cloudflared:2025.11.1",
      command: ["tunnel", "--no-autoupdate", "run"],
      capabilities: { drops: ["ALL"] },
    };
    const bad = await analyze(TYPE.container, { ...base, envs: ["TUNNEL_TOKEN=eyJh"] });
    assert.deepEqual(
      bad.map((d) => d.policy),
      ["secrets-marked-secret"],
    );
    assert.equal(bad[0].level, analyzerPb.EnforcementLevel.MANDATORY);

    const good = await analyze(TYPE.container, { ...base, envs: [secret("TUNNEL_TOKEN=eyJh")] }, [
      "envs",
    ]);
    assert.deepEqual(good, []);
  });

  it("applies every Docker policy to a container as a whole", async () => {
    // The engine counts a policy as passed by a resource unless the pack called it not
    // applicable there; only the Cloudflare policies are not applicable to a container.
    const { diagnostics, notApplicable } = await analyzeFully(
      TYPE.container,
      { image: "cloudflare/cloudflared:2025.11.1", envs: [secret("TUNNEL_TOKEN=eyJh")] },
      ["envs"],
    );
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(notApplicable.sort(), [
      "cloudflare-tunnel-dns-proxied",
      "cloudflare-tunnel-remotely-managed",
    ]);
  });

  it("hides secretness from validateResource: a secret env without the option is still flagged", async () => {
    // The engine sends the secret marker; @pulumi/policy unwraps it before the policy runs, which
    // is why the secrets policy relies on additionalSecretOutputs.
    const d = await analyze(TYPE.container, {
      image: "cloudflare/cloudflared:2025.11.1",
      envs: [secret("TUNNEL_TOKEN=eyJh")],
    });
    assert.deepEqual(
      d.map((x) => x.policy),
      ["secrets-marked-secret"],
    );
  });

  it("skips an unknown mosquitto.conf during preview without an advisory", async () => {
    const d = await analyze(
      TYPE.container,
      {
        image: "eclipse-mosquitto:2.0.22",
        uploads: [
          { file: "/mosquitto/config/mosquitto.conf", content: UNKNOWN_STRING },
          { file: "/mosquitto/config/passwd", content: secret(UNKNOWN_STRING) },
        ],
      },
      ["uploads"],
    );
    assert.deepEqual(d, []);
  });

  it("reports several policies on one bad broker", async () => {
    const d = await analyze(TYPE.container, {
      image: "eclipse-mosquitto",
      privileged: true,
      ports: [{ internal: 1883, external: 1883 }],
      uploads: [{ file: "/mosquitto/config/mosquitto.conf", content: "allow_anonymous true\n" }],
    });
    assert.deepEqual(d.map((x) => x.policy).sort(), [
      "docker-images-pinned",
      "docker-no-privileged",
      "mosquitto-no-anonymous",
      "mosquitto-port-not-public",
    ]);
  });

  it("reports an unproxied tunnel record and a local tunnel", async () => {
    const dns = await analyze(TYPE.dnsRecord, {
      zoneId: "z",
      name: "mqtt.example.com",
      type: "CNAME",
      content: "6ff42ae2-765d-4adf-8112-31c55c1551ef.cfargotunnel.com",
      proxied: false,
      ttl: 1,
    });
    assert.deepEqual(
      dns.map((x) => x.policy),
      ["cloudflare-tunnel-dns-proxied"],
    );
    const tunnel = await analyze(TYPE.tunnel, { accountId: "a", name: "t", configSrc: "local" });
    assert.deepEqual(
      tunnel.map((x) => x.policy),
      ["cloudflare-tunnel-remotely-managed"],
    );
  });
});
