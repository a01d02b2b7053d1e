/**
 * Golden registration dumps: every resource the program registers for the dev stack
 * (Pulumi.yaml's defaults + Pulumi.dev.yaml), the prod stack (+ Pulumi.prod.yaml) and a swarm
 * stack, with its inputs, secret markers, options and dependencies, plus the stack outputs. A
 * refactor that changes none of them leaves the files as they are; a change shows up as a diff of
 * tests/unit/registrations/*.json. Secret values are never written: each is replaced by
 * `{ "[secret]": <sha256 prefix of its value> }`, enough to tell that it changed.
 *
 * UPDATE_GOLDEN=1 npm run test:unit   rewrites the files.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import {
  containsSecret,
  managedConfig,
  runProgram,
  type ProgramRun,
  type StackConfigInput,
} from "../support/programRunner";

const ROOT = path.join(__dirname, "..", "..");
const GOLDEN = path.join(__dirname, "registrations");
const SIG_KEY = pulumi.runtime.specialSigKey;

function digest(value: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(value) ?? "undefined")
    .digest("hex")
    .slice(0, 16);
}

/** Secret markers become `{ "[secret]": hash }`; object keys are sorted for stable files. */
function redact(v: unknown): unknown {
  if (v && typeof v === "object" && SIG_KEY in v) {
    return { "[secret]": digest((v as unknown as { value: unknown }).value) };
  }
  if (Array.isArray(v)) return v.map(redact);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, redact((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** An output's value, its Outputs resolved (nested ones too), secrets replaced by markers. */
async function outputValue(o: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(o)) {
    const out = o as pulumi.Output<unknown>;
    const value = await new Promise((res) => out.apply((x) => res(x)));
    return (await pulumi.isSecret(out)) ? { "[secret]": digest(value) } : redact(value);
  }
  if (Array.isArray(o)) return Promise.all(o.map(outputValue));
  if (o && typeof o === "object") {
    const entries = Object.keys(o)
      .sort()
      .map(async (k) => [k, await outputValue((o as Record<string, unknown>)[k])]);
    return Object.fromEntries(await Promise.all(entries));
  }
  return o;
}

async function dump(run: ProgramRun): Promise<unknown> {
  const registrations = run.rec.registrations
    .map((r) => ({
      type: r.type,
      urn: r.urn,
      custom: r.custom,
      parent: r.parent,
      provider: r.provider,
      dependencies: [...r.dependencies].sort(),
      inputs: redact(r.rawInputs),
      secretInputs: Object.keys(r.rawInputs)
        .filter((k) => containsSecret(r.rawInputs[k]))
        .sort(),
      protect: r.protect,
      deleteBeforeReplace: r.deleteBeforeReplace,
      retainOnDelete: r.retainOnDelete,
      additionalSecretOutputs: [...r.additionalSecretOutputs].sort(),
      replaceWith: [...r.replaceWith].sort(),
    }))
    .sort((a, b) => a.urn.localeCompare(b.urn));
  const calls = run.rec.calls
    .map((c) => JSON.stringify(redact({ token: c.token, inputs: c.inputs })))
    .sort()
    .map((s) => JSON.parse(s));
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(run.outputs).sort(([a], [b]) => a.localeCompare(b))) {
    if (k === "edgeHosts") continue;
    outputs[k] = await outputValue(v);
  }
  return { registrations, calls, outputs };
}

/** Pulumi.yaml's declared defaults, overridden key by key by Pulumi.<stack>.yaml. */
function stackFiles(stack: string): StackConfigInput {
  const project = parseYaml(readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
  const config: StackConfigInput = {};
  for (const [k, decl] of Object.entries<{ default?: unknown }>(project.config ?? {})) {
    if (decl.default !== undefined) config[k] = decl.default;
  }
  const file = parseYaml(readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8"));
  return { ...config, ...file.config };
}

const STACKS: Record<string, () => Promise<ProgramRun>> = {
  dev: () => runProgram(stackFiles("dev"), { stack: "dev" }),
  prod: () =>
    runProgram(
      { ...stackFiles("prod"), "cloudflare:apiToken": "fake-api-token-for-tests" },
      { stack: "prod", secretKeys: ["cloudflare:apiToken"] },
    ),
  swarm: () =>
    runProgram(
      managedConfig({
        swarm: {
          enabled: true,
          letsencrypt: {
            email: "ops@example.com",
            domains: ["www.example.com", "api.example.com"],
            node: "manager-1",
            renewCron: ["0 3 * * *", "0 15 * * *"],
          },
          httpHostnames: ["www.example.com"],
        },
        tunnel: { ...(managedConfig().tunnel as object), access: true },
      }),
      { stack: "swarm" },
    ),
};

describe("registrations match the golden dumps (UPDATE_GOLDEN=1 rewrites them)", () => {
  for (const [stack, run] of Object.entries(STACKS)) {
    test(stack, async () => {
      const actual = JSON.stringify(await dump(await run()), null, 2) + "\n";
      const file = path.join(GOLDEN, `${stack}.json`);
      if (process.env.UPDATE_GOLDEN === "1") {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, actual);
        return;
      }
      assert.equal(actual, readFileSync(file, "utf8"), `${file} differs; see the diff above`);
    });
  }
});
