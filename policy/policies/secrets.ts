import type { EnforcementLevel, ResourceValidationPolicy } from "@pulumi/policy";
import { DEFAULT_ENFORCEMENT, TYPES, byType, known, list, subject, validateTypes } from "./common";

/**
 * Environment variable names that hold credentials: TUNNEL_TOKEN and anything ending in TOKEN,
 * SECRET, PASSWORD, PASSWD, API_KEY, PRIVATE_KEY or CREDENTIALS (not `*_FILE`, which is a path).
 */
export const SECRET_ENV = /(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIALS?)$/i;

/** Uploaded files that hold credentials: password files, keys, tokens. */
export const SECRET_FILE =
  /(^|\/)(passwd|[^/]*\.passwd|[^/]*(password|secret|token|credentials)[^/]*|[^/]*\.key)$/i;

interface ContainerProps {
  envs?: string[];
  uploads?: { file?: string }[];
  command?: string[];
  entrypoints?: string[];
}

interface ServiceProps {
  taskSpec?: {
    containerSpec?: { env?: Record<string, string>; commands?: string[]; args?: string[] };
  };
}

/** Names of the entries of a `NAME=value` list that look like credentials; unknown entries skipped. */
function secretEnvNames(envs: unknown): string[] {
  const names: string[] = [];
  const entries = list<string>(envs);
  for (let i = 0; i < entries.length; i++) {
    const entry = known(() => entries[i]);
    if (typeof entry !== "string") continue;
    const name = entry.split("=")[0];
    if (SECRET_ENV.test(name)) names.push(name);
  }
  return names;
}

/** True if a command line passes a token as an argument (`--token x`, `--token=x`). */
function tokenOnCommandLine(argv: unknown): boolean {
  const entries = list<string>(argv);
  for (let i = 0; i < entries.length; i++) {
    const arg = known(() => entries[i]);
    if (typeof arg === "string" && /^--?token(=|$)/.test(arg)) return true;
  }
  return false;
}

/**
 * Secrets are marked secret. The policy SDK hands `validateResource` and `validateStack` the
 * props with secret markers already removed (the engine sends them; @pulumi/policy 1.21 strips
 * them before a validation runs, and only a remediation sees `Secret` wrappers), so a policy
 * cannot ask whether a value is secret. What it can see is the resource option that guarantees
 * it: `additionalSecretOutputs`. The Docker SDK marks nothing secret by itself, so:
 * - a Container whose `envs` hold a credential (TUNNEL_TOKEN=..., *_PASSWORD=...) lists "envs";
 * - a Container uploading a password, key or token file (mosquitto's passwd) lists "uploads";
 * - a Service whose `taskSpec.containerSpec.env` holds a credential lists "taskSpec" (better:
 *   use a docker.Secret, which the SDK always marks secret);
 * - no Container or Service passes `--token` on its command line, which `docker inspect` and
 *   `ps` show to anyone on the host.
 * Cloudflare's tunnelSecret and service token clientSecret are marked by the SDK itself.
 */
export function secretsMarkedSecret(
  enforcementLevel: EnforcementLevel = DEFAULT_ENFORCEMENT,
): ResourceValidationPolicy {
  return {
    name: "secrets-marked-secret",
    description:
      "Credentials passed to containers must be marked secret: a resource that carries a token " +
      "or password in envs, uploads or env lists that property in additionalSecretOutputs, and " +
      "no token is passed on a command line.",
    enforcementLevel,
    severity: "high",
    remediationSteps:
      'Wrap the value in pulumi.secret() and add { additionalSecretOutputs: ["envs"] } ' +
      '(or "uploads", "taskSpec") to the resource options.',
    validateResource: byType(
      validateTypes<ContainerProps>([TYPES.container], (props, args, report) => {
        const secretOutputs = args.opts.additionalSecretOutputs ?? [];
        if (!secretOutputs.includes("envs")) {
          const names = secretEnvNames(props.envs);
          if (names.length) {
            report(
              `${subject(args)} passes ${names.join(", ")} in envs, but "envs" is not in its ` +
                `additionalSecretOutputs, so the value can land in plain text in the state and in ` +
                `\`pulumi preview --diff\`. Wrap it in pulumi.secret() and add ` +
                `additionalSecretOutputs: ["envs"].`,
            );
          }
        }
        if (!secretOutputs.includes("uploads")) {
          const files = list<{ file?: string }>(props.uploads)
            .map((u) => known(() => u.file))
            .filter((f): f is string => typeof f === "string" && SECRET_FILE.test(f));
          if (files.length) {
            report(
              `${subject(args)} uploads ${files.join(", ")}, but "uploads" is not in its ` +
                `additionalSecretOutputs, so the file content can land in plain text in the ` +
                `state. Wrap the content in pulumi.secret() and add ` +
                `additionalSecretOutputs: ["uploads"].`,
            );
          }
        }
        if (tokenOnCommandLine(props.command) || tokenOnCommandLine(props.entrypoints)) {
          report(
            `${subject(args)} passes --token on its command line, which docker inspect and ps ` +
              `show to anyone on the host. Pass it as the secret env TUNNEL_TOKEN instead.`,
          );
        }
      }),
      validateTypes<ServiceProps>([TYPES.service], (props, args, report) => {
        const spec = props.taskSpec?.containerSpec;
        const secretOutputs = args.opts.additionalSecretOutputs ?? [];
        if (!secretOutputs.includes("taskSpec") && spec?.env) {
          const names = Object.keys(spec.env).filter((n) => SECRET_ENV.test(n));
          if (names.length) {
            report(
              `${subject(args)} passes ${names.join(", ")} in taskSpec.containerSpec.env, but ` +
                `"taskSpec" is not in its additionalSecretOutputs. Put the value in a ` +
                `docker.Secret mounted into the task (or mark it secret and add ` +
                `additionalSecretOutputs: ["taskSpec"]).`,
            );
          }
        }
        if (tokenOnCommandLine(spec?.commands) || tokenOnCommandLine(spec?.args)) {
          report(
            `${subject(args)} passes --token on its command line, which docker service inspect ` +
              `shows to anyone with access to the swarm. Use a docker.Secret and TUNNEL_TOKEN_FILE ` +
              `or the TUNNEL_TOKEN env instead.`,
          );
        }
      }),
    ),
  };
}
