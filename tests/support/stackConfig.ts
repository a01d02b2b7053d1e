/**
 * Stack config as tests write it, and validated as `pulumi up` would validate it: the engine
 * hands each `mqtt-edge:<key>` over as a string (JSON for structured values), and parseConfig
 * reads those. No Pulumi runtime is involved.
 */
import { ConfigError, parseConfig, type StackConfig } from "../../config";

/** Stack config as a user writes it in Pulumi.<stack>.yaml, without the project prefix. */
export type StackConfigInput = Record<string, unknown>;

/** The engine's view of `config`: full keys, string values. */
export function toEngineConfig(config: StackConfigInput): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    out[k.includes(":") ? k : `mqtt-edge:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return out;
}

/** parseConfig of `config` for stack "test"; `secretKeys` were set with `--secret`. */
export function parseStack(config: StackConfigInput, secretKeys: string[] = []): StackConfig {
  const engine = toEngineConfig(config);
  return parseConfig(
    {
      project: "mqtt-edge",
      stack: "test",
      get: (k) => engine[`mqtt-edge:${k}`],
      isSecret: (k) => secretKeys.includes(k),
    },
    Object.keys(engine),
  );
}

/** The problems parseConfig reports for `config`, as "path: message" lines; none when valid. */
export function configProblems(config: StackConfigInput, secretKeys: string[] = []): string[] {
  try {
    parseStack(config, secretKeys);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.message}`);
    throw e;
  }
  return [];
}
