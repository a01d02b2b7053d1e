/**
 * Stands in for the Pulumi docker provider, which cannot be obtained here (the Go module proxy
 * refuses it, so `pulumi up` cannot run): takes exactly what the program declared — the
 * registrations recorded under Pulumi mocks by tests/unit/harness.ts — and realizes the swarm
 * part on a real Docker swarm, the way the provider (kreuzwerker/terraform-provider-docker, which
 * @pulumi/docker wraps) would:
 *
 * - docker.Network       `docker network create --driver --attachable --internal --label`;
 *                        removal retried while endpoints are still attached (as the provider).
 * - docker.Volume        `docker volume create --label`; removal retried while in use.
 * - docker.ServiceConfig `docker config create NAME -`, the base64 `data` decoded (the provider
 *                        decodes it too) and given on stdin.
 * - docker.Secret        `docker secret create NAME -`, decoded `data` on stdin, never in argv.
 * - docker.Service       POST /services/create with the swarm.ServiceSpec the provider's
 *                        createServiceSpec() builds, its schema defaults included (secret and
 *                        config files uid/gid "0" and mode 0444, update_config parallelism 1,
 *                        delay 0s, failure_action pause, monitor 5s, order stop-first, ports tcp
 *                        and ingress, isolation "default", healthcheck durations 0s). The API and
 *                        not `docker service create`: the CLI can only express a CMD-SHELL
 *                        healthcheck (`--health-cmd`), the connector declares the exec form
 *                        ["CMD", "cloudflared", ...] and its image has no shell. Then, with
 *                        convergeConfig, it waits like the provider: every replica slot's task
 *                        in state `running` (a task with a healthcheck is `starting` until it is
 *                        healthy) within the timeout; a service that does not converge is deleted
 *                        and its create fails with "did not converge", as the provider does.
 *
 * Secret and config references go by id (secretId/configId): the ids the mocks returned are
 * mapped to the real ones created here. Resources are created in dependency order (the recorded
 * dependencies, components expanded to their children), independent ones concurrently, as the
 * engine would; destroy goes in reverse.
 *
 * The one deviation from the declared specs: a service whose image is the Docker Flow stand-in
 * (mqtt-edge-e2e/dockerflow-standin, one image playing four roles) gets `ROLE=<role>` added to its
 * environment, derived from its name suffix (socket-proxy, swarm-listener, proxy,
 * letsencrypt-companion -> letsencrypt). The real images need no such variable.
 *
 * Any input key this module does not know fails loudly: a declared field is never silently dropped.
 */
import { durationNs } from "./realize";
import { execFileSync } from "node:child_process";
import { request } from "node:http";
import type { Registration } from "../unit/harness";

export const TYPES = {
  network: "docker:index/network:Network",
  volume: "docker:index/volume:Volume",
  config: "docker:index/serviceConfig:ServiceConfig",
  secret: "docker:index/secret:Secret",
  service: "docker:index/service:Service",
} as const;
const REALIZED: string[] = Object.values(TYPES);

export const STANDIN_IMAGE = "mqtt-edge-e2e/dockerflow-standin:1";

// ---- docker CLI and Engine API --------------------------------------------------------------

export function docker(args: string[], input?: string | Buffer): string {
  try {
    return execFileSync("docker", args, {
      encoding: "utf8",
      input,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      timeout: 120_000,
    }).trim();
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`docker ${args.join(" ")}: ${(err.stderr ?? "").trim() || err.message}`);
  }
}

export function dockerJson<T = any>(args: string[]): T {
  return JSON.parse(docker(args)) as T;
}

function socketPath(): string {
  const host = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  if (!host.startsWith("unix://"))
    throw new Error(`swarm-realize needs a unix:// DOCKER_HOST, got ${host}`);
  return host.slice("unix://".length);
}

let apiPrefix: string | undefined;

/** One Engine API call over the DOCKER_HOST socket; throws on HTTP >= 400 with the engine's message. */
export async function engineApi<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  if (apiPrefix === undefined) {
    apiPrefix = "";
    const v = await engineApi<{ ApiVersion: string }>("GET", "/version");
    apiPrefix = `/v${v.ApiVersion}`;
  }
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        socketPath: socketPath(),
        path: apiPrefix + path,
        method,
        headers: {
          Host: "docker",
          ...(payload
            ? { "Content-Type": "application/json", "Content-Length": payload.length }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 500) >= 400) {
            let msg = text;
            try {
              msg = (JSON.parse(text) as { message: string }).message;
            } catch {
              /* not JSON */
            }
            reject(new Error(`${method} ${path}: HTTP ${res.statusCode}: ${msg.trim()}`));
            return;
          }
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch {
            resolve(text as unknown as T);
          }
        });
        res.on("error", reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on("error", reject);
    req.end(payload);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- inputs -> engine objects ------------------------------------------------------------------

type Obj = Record<string, any>;

/** Fails when `o` has keys this module does not translate (so nothing declared is dropped). */
function known(where: string, o: Obj | undefined, keys: string[]): void {
  if (!o) return;
  const extra = Object.keys(o).filter((k) => o[k] !== undefined && !keys.includes(k));
  if (extra.length)
    throw new Error(`swarm-realize: ${where} has inputs it does not realize: ${extra.join(", ")}`);
}

function labelMap(
  labels: { label: string; value: string }[] | undefined,
): Record<string, string> | undefined {
  if (!labels?.length) return undefined;
  return Object.fromEntries(labels.map((l) => [l.label, l.value]));
}

function labelArgs(labels: { label: string; value: string }[] | undefined): string[] {
  return (labels ?? []).flatMap((l) => ["--label", `${l.label}=${l.value}`]);
}

/** The stand-in's role for a service name (the only deviation from the declared spec). */
export function standinRole(serviceName: string): string {
  for (const [suffix, role] of [
    ["-socket-proxy", "socket-proxy"],
    ["-swarm-listener", "swarm-listener"],
    ["-letsencrypt-companion", "letsencrypt"],
    ["-proxy", "proxy"],
    ["-demo", "demo"],
  ] as const) {
    if (serviceName.endsWith(suffix)) return role;
  }
  throw new Error(`no stand-in role for service ${serviceName}`);
}

export interface SpecOptions {
  /** Real id of each secret/config by the id the mocks gave it. */
  ids: Map<string, string>;
  standinImage?: string;
  /** Test hook: change the spec before it is sent (used to show a mutation is caught). */
  mutate?: (serviceName: string, spec: Obj) => void;
}

/** The swarm.ServiceSpec the provider's createServiceSpec() builds from docker.Service inputs. */
export function serviceSpec(inputs: Obj, opts: SpecOptions): Obj {
  known("Service", inputs, [
    "name",
    "labels",
    "taskSpec",
    "mode",
    "endpointSpec",
    "updateConfig",
    "rollbackConfig",
    "convergeConfig",
  ]);
  const ts: Obj = inputs.taskSpec ?? {};
  known("Service.taskSpec", ts, [
    "containerSpec",
    "networksAdvanceds",
    "placement",
    "resources",
    "restartPolicy",
    "logDriver",
  ]);
  const cs: Obj = ts.containerSpec ?? {};
  known("Service.taskSpec.containerSpec", cs, [
    "image",
    "env",
    "args",
    "commands",
    "user",
    "readOnly",
    "capDrops",
    "capAdds",
    "mounts",
    "configs",
    "secrets",
    "healthcheck",
    "labels",
    "isolation",
  ]);
  const realId = (id: string, what: string) => {
    const r = opts.ids.get(id);
    if (!r)
      throw new Error(
        `swarm-realize: ${inputs.name} references ${what} id ${id}, which was not realized`,
      );
    return r;
  };

  const env: Record<string, string> = { ...(cs.env ?? {}) };
  const standin = opts.standinImage ?? STANDIN_IMAGE;
  if (cs.image === standin) env.ROLE = standinRole(inputs.name); // the documented deviation
  const containerSpec: Obj = {
    Image: cs.image,
    Labels: labelMap(cs.labels),
    Command: cs.commands,
    Args: cs.args,
    Env: Object.keys(env).length ? Object.entries(env).map(([k, v]) => `${k}=${v}`) : undefined,
    User: cs.user,
    ReadOnly: cs.readOnly ?? false,
    CapabilityAdd: cs.capAdds,
    CapabilityDrop: cs.capDrops,
    Isolation: cs.isolation ?? "default",
  };
  if (cs.mounts) {
    containerSpec.Mounts = cs.mounts.map((m: Obj) => {
      known("mount", m, ["type", "source", "target", "readOnly"]);
      return { Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly ?? false };
    });
  }
  const fileTarget = (f: Obj) => ({
    Name: f.fileName,
    UID: f.fileUid ?? "0",
    GID: f.fileGid ?? "0",
    Mode: f.fileMode ?? 0o444,
  });
  if (cs.secrets) {
    containerSpec.Secrets = cs.secrets.map((s: Obj) => {
      known("secret reference", s, [
        "secretId",
        "secretName",
        "fileName",
        "fileUid",
        "fileGid",
        "fileMode",
      ]);
      return {
        SecretID: realId(s.secretId, "secret"),
        SecretName: s.secretName,
        File: fileTarget(s),
      };
    });
  }
  if (cs.configs) {
    containerSpec.Configs = cs.configs.map((c: Obj) => {
      known("config reference", c, [
        "configId",
        "configName",
        "fileName",
        "fileUid",
        "fileGid",
        "fileMode",
      ]);
      return {
        ConfigID: realId(c.configId, "config"),
        ConfigName: c.configName,
        File: fileTarget(c),
      };
    });
  }
  if (cs.healthcheck) {
    const h: Obj = cs.healthcheck;
    known("healthcheck", h, ["tests", "interval", "timeout", "startPeriod", "retries"]);
    containerSpec.Healthcheck = {
      Test: h.tests,
      Interval: durationNs(h.interval ?? "0s"),
      Timeout: durationNs(h.timeout ?? "0s"),
      StartPeriod: durationNs(h.startPeriod ?? "0s"),
      Retries: h.retries ?? 0,
    };
  }

  const taskTemplate: Obj = { ContainerSpec: containerSpec };
  if (ts.networksAdvanceds) {
    taskTemplate.Networks = ts.networksAdvanceds.map((n: Obj) => {
      known("networksAdvanced", n, ["name", "aliases"]);
      return { Target: n.name, Aliases: n.aliases?.length ? n.aliases : undefined };
    });
  }
  if (ts.placement) {
    known("placement", ts.placement, ["constraints"]);
    taskTemplate.Placement = { Constraints: ts.placement.constraints ?? [] };
  }
  if (ts.resources) {
    known("resources", ts.resources, ["limits"]);
    known("resources.limits", ts.resources.limits, ["memoryBytes", "nanoCpus"]);
    const l = ts.resources.limits ?? {};
    taskTemplate.Resources = {
      Limits: { MemoryBytes: l.memoryBytes ?? 0, NanoCPUs: l.nanoCpus ?? 0 },
    };
  }
  if (ts.restartPolicy) {
    const r: Obj = ts.restartPolicy;
    known("restartPolicy", r, ["condition", "delay", "maxAttempts", "window"]);
    taskTemplate.RestartPolicy = {
      Condition: r.condition,
      Delay: r.delay === undefined ? undefined : durationNs(r.delay),
      MaxAttempts: r.maxAttempts,
      Window: r.window === undefined ? undefined : durationNs(r.window),
    };
  }
  if (ts.logDriver) {
    known("logDriver", ts.logDriver, ["name", "options"]);
    taskTemplate.LogDriver = { Name: ts.logDriver.name, Options: ts.logDriver.options };
  }

  const mode: Obj = inputs.mode ?? {};
  known("mode", mode, ["replicated", "global"]);
  if (mode.global) throw new Error(`swarm-realize: ${inputs.name}: global mode is not realized`);
  const spec: Obj = {
    Name: inputs.name,
    Labels: labelMap(inputs.labels),
    TaskTemplate: taskTemplate,
    Mode: { Replicated: { Replicas: mode.replicated?.replicas ?? 1 } },
  };
  const updateOrRollback = (u: Obj | undefined, what: string) => {
    if (!u) return undefined;
    known(what, u, [
      "parallelism",
      "delay",
      "failureAction",
      "monitor",
      "maxFailureRatio",
      "order",
    ]);
    return {
      Parallelism: u.parallelism ?? 1,
      Delay: durationNs(u.delay ?? "0s"),
      FailureAction: u.failureAction ?? "pause",
      Monitor: durationNs(u.monitor ?? "5s"),
      MaxFailureRatio: Number(u.maxFailureRatio ?? "0.0"),
      Order: u.order ?? "stop-first",
    };
  };
  spec.UpdateConfig = updateOrRollback(inputs.updateConfig, "updateConfig");
  spec.RollbackConfig = updateOrRollback(inputs.rollbackConfig, "rollbackConfig");
  const ep: Obj = inputs.endpointSpec ?? {};
  known("endpointSpec", ep, ["mode", "ports"]);
  spec.EndpointSpec = {
    Mode: ep.mode,
    Ports: ep.ports?.map((p: Obj) => {
      known("port", p, ["name", "protocol", "targetPort", "publishedPort", "publishMode"]);
      return {
        Name: p.name,
        Protocol: p.protocol ?? "tcp",
        TargetPort: p.targetPort,
        PublishedPort: p.publishedPort,
        PublishMode: p.publishMode ?? "ingress",
      };
    }),
  };
  opts.mutate?.(inputs.name, spec);
  return spec;
}

// ---- convergence (the provider's replicatedConsoleLogUpdater) ---------------------------------

const TASK_STATES = [
  "new",
  "allocated",
  "pending",
  "assigned",
  "accepted",
  "preparing",
  "ready",
  "starting",
  "running",
  "complete",
  "shutdown",
  "failed",
  "rejected",
  "remove",
  "orphaned",
];
const rank = (s: string) => TASK_STATES.indexOf(s) + 1;

export interface Convergence {
  converged: boolean;
  running: number;
  replicas: number;
  seconds: number;
  /** The last observed task states and errors, for reports. */
  tasks: TaskState[];
  /** When it did not converge: every task of the service so far (failed ones included). */
  history?: TaskState[];
}

export interface TaskState {
  slot: number;
  state: string;
  desired: string;
  message: string;
  err?: string;
  /** History only: the task container's health status and last healthcheck output. */
  health?: string;
}

const taskState = (t: Obj): TaskState => ({
  slot: t.Slot,
  state: t.Status.State,
  desired: t.DesiredState,
  message: t.Status.Message,
  err: t.Status.Err,
});

/** Polls like the provider's create refresh: running tasks per slot on active nodes == replicas. */
export async function waitConverged(
  serviceId: string,
  delay: string,
  timeout: string,
): Promise<Convergence> {
  const t0 = Date.now();
  const deadline = t0 + durationNs(timeout) / 1e6;
  await sleep(durationNs(delay) / 1e6);
  let last: Convergence | undefined;
  for (;;) {
    const service = await engineApi("GET", `/services/${serviceId}`);
    const replicas: number = service.Spec.Mode.Replicated.Replicas;
    const filters = encodeURIComponent(
      JSON.stringify({ service: [serviceId], "desired-state": ["running"] }),
    );
    const tasks: Obj[] = await engineApi("GET", `/tasks?filters=${filters}`);
    const nodes: Obj[] = await engineApi("GET", "/nodes");
    const active = new Set(nodes.filter((n) => n.Status.State !== "down").map((n) => n.ID));
    const bySlot = new Map<number, Obj>();
    for (const t of tasks) {
      if (!rank(t.DesiredState) || !rank(t.Status.State)) continue;
      const existing = bySlot.get(t.Slot);
      if (existing) {
        if (rank(existing.DesiredState) < rank(t.DesiredState)) continue;
        if (
          rank(existing.DesiredState) === rank(t.DesiredState) &&
          rank(existing.Status.State) <= rank(t.Status.State)
        )
          continue;
      }
      if (t.NodeID && !active.has(t.NodeID)) continue;
      bySlot.set(t.Slot, t);
    }
    let running = 0;
    for (const t of bySlot.values()) {
      if (rank(t.DesiredState) <= rank("running") && t.Status.State === "running") running++;
    }
    last = {
      converged: running === replicas,
      running,
      replicas,
      seconds: (Date.now() - t0) / 1000,
      tasks: [...bySlot.values()].map(taskState),
    };
    if (last.converged) return last;
    if (Date.now() >= deadline) {
      const all = encodeURIComponent(JSON.stringify({ service: [serviceId] }));
      last.history = [];
      for (const t of await engineApi<Obj[]>("GET", `/tasks?filters=${all}`)) {
        const h: TaskState = taskState(t);
        const cid = t.Status.ContainerStatus?.ContainerID;
        if (cid) {
          const c = await engineApi("GET", `/containers/${cid}/json`).catch(() => undefined);
          const health = c?.State?.Health;
          if (health)
            h.health = `${health.Status}: ${String(health.Log?.at(-1)?.Output ?? "").trim()}`;
        }
        last.history.push(h);
      }
      return last;
    }
    await sleep(2000);
  }
}

// ---- plan, realize, destroy ---------------------------------------------------------------------

export interface Created {
  type: string;
  /** Pulumi resource name. */
  resource: string;
  /** Physical name on the engine. */
  name: string;
  id: string;
}

export interface Failure {
  resource: string;
  name: string;
  error: string;
  convergence?: Convergence;
}

export interface Realized {
  created: Created[];
  failures: Failure[];
  /** Seconds per resource from start of its create to done (service: converged). */
  timings: Record<string, number>;
  convergence: Record<string, Convergence>;
  /** The ServiceSpec sent for each service, by service name. */
  specs: Record<string, Obj>;
  /** Real secret/config id by the id the mocks gave (`<resource name>-id`). */
  ids: Record<string, string>;
}

export interface RealizeOptions {
  standinImage?: string;
  /** Override a service's convergeConfig timeout (e.g. "90s"); the declared one by default. */
  convergeTimeout?: (serviceName: string, declared: string) => string;
  mutate?: (serviceName: string, spec: Obj) => void;
  log?: (line: string) => void;
}

/** The docker registrations to realize, each with the docker registrations it depends on. */
export function plan(regs: Registration[]): { reg: Registration; deps: Registration[] }[] {
  const byUrn = new Map(regs.map((r) => [r.urn, r]));
  const others = regs.filter((r) => r.type.startsWith("docker:") && !REALIZED.includes(r.type));
  if (others.length) {
    throw new Error(
      `swarm-realize: unexpected docker resources in a swarm stack: ${others.map((r) => `${r.type} ${r.name}`).join(", ")}`,
    );
  }
  const docker = regs.filter((r) => REALIZED.includes(r.type));
  const isDescendant = (r: Registration, ancestor: string) => {
    for (let p = r.parent; p; p = byUrn.get(p)?.parent ?? "") if (p === ancestor) return true;
    return false;
  };
  const expand = (urn: string, seen = new Set<string>()): Registration[] => {
    if (seen.has(urn)) return [];
    seen.add(urn);
    const r = byUrn.get(urn);
    if (r && REALIZED.includes(r.type)) return [r];
    if (r && !r.custom) return docker.filter((d) => isDescendant(d, urn));
    // Another provider's resource (random, cloudflare): its own docker dependencies, if any.
    return r ? r.dependencies.flatMap((d) => expand(d, seen)) : [];
  };
  return docker.map((reg) => ({
    reg,
    deps: [...new Set(reg.dependencies.flatMap((d) => expand(d)))],
  }));
}

/**
 * Creates one docker.Service registration. `wait: true` waits on its convergeConfig as the
 * provider does (and deletes it and throws when it does not converge); `wait: false` returns once
 * the service is created (what a service without convergeConfig gets).
 */
export async function createService(
  reg: Registration,
  realized: Realized,
  opts: RealizeOptions & { wait: boolean },
): Promise<Created> {
  const i = reg.inputs;
  const spec = serviceSpec(i, {
    ids: new Map(Object.entries(realized.ids)),
    standinImage: opts.standinImage,
    mutate: opts.mutate,
  });
  realized.specs[i.name] = spec;
  const res = await engineApi<{ ID: string; Warnings?: string[] }>(
    "POST",
    "/services/create",
    spec,
  );
  for (const w of res.Warnings ?? []) opts.log?.(`warning creating ${i.name}: ${w}`);
  const created: Created = { type: reg.type, resource: reg.name, name: i.name, id: res.ID };
  if (opts.wait && i.convergeConfig) {
    known("convergeConfig", i.convergeConfig, ["delay", "timeout"]);
    const declared = i.convergeConfig.timeout ?? "3m";
    const timeout = opts.convergeTimeout?.(i.name, declared) ?? declared;
    const c = await waitConverged(res.ID, i.convergeConfig.delay ?? "7s", timeout);
    realized.convergence[i.name] = c;
    if (!c.converged) {
      // The provider deletes a service that does not converge and fails its create.
      await engineApi("DELETE", `/services/${res.ID}`);
      throw Object.assign(
        new Error(`Service with ID (${res.ID}) did not converge after ${timeout}`),
        { convergence: c },
      );
    }
  }
  realized.created.push(created);
  return created;
}

/**
 * Creates every docker registration of a recorded run on the swarm, dependencies first and
 * independent ones concurrently. Failures (a service that does not converge) are collected, as
 * `pulumi up` reports them; resources depending on a failed one are not created.
 */
export async function realize(regs: Registration[], opts: RealizeOptions = {}): Promise<Realized> {
  const log = opts.log ?? (() => undefined);
  const steps = plan(regs);
  const out: Realized = {
    created: [],
    failures: [],
    timings: {},
    convergence: {},
    specs: {},
    ids: {},
  };
  const done = new Map<string, Promise<boolean>>();

  const createOne = async (reg: Registration): Promise<void> => {
    const i = reg.inputs;
    const t0 = Date.now();
    switch (reg.type) {
      case TYPES.network: {
        known("Network", i, ["name", "driver", "attachable", "internal", "labels"]);
        const id = docker([
          "network",
          "create",
          ...(i.driver ? ["--driver", i.driver] : []),
          ...(i.attachable ? ["--attachable"] : []),
          ...(i.internal ? ["--internal"] : []),
          ...labelArgs(i.labels),
          i.name,
        ]);
        out.created.push({ type: reg.type, resource: reg.name, name: i.name, id });
        break;
      }
      case TYPES.volume: {
        known("Volume", i, ["name", "labels"]);
        docker(["volume", "create", ...labelArgs(i.labels), i.name]);
        out.created.push({ type: reg.type, resource: reg.name, name: i.name, id: i.name });
        break;
      }
      case TYPES.config:
      case TYPES.secret: {
        const kind = reg.type === TYPES.config ? "config" : "secret";
        known(kind, i, ["name", "data", "labels"]);
        const data = Buffer.from(i.data, "base64");
        const id = docker([kind, "create", ...labelArgs(i.labels), i.name, "-"], data);
        out.ids[`${reg.name}-id`] = id; // the id the mocks gave it
        out.created.push({ type: reg.type, resource: reg.name, name: i.name, id });
        break;
      }
      case TYPES.service:
        await createService(reg, out, { ...opts, wait: true });
        break;
    }
    out.timings[reg.name] = (Date.now() - t0) / 1000;
    log(`created ${reg.type.split(":").pop()} ${i.name} in ${out.timings[reg.name].toFixed(1)} s`);
  };

  const run = (step: { reg: Registration; deps: Registration[] }): Promise<boolean> => {
    let p = done.get(step.reg.urn);
    if (p) return p;
    p = (async () => {
      const depsOk = await Promise.all(step.deps.map((d) => run(steps.find((s) => s.reg === d)!)));
      if (depsOk.includes(false)) {
        out.failures.push({
          resource: step.reg.name,
          name: step.reg.inputs.name,
          error: "not created: a dependency failed",
        });
        return false;
      }
      const t0 = Date.now();
      try {
        await createOne(step.reg);
        return true;
      } catch (e) {
        const err = e as Error & { convergence?: Convergence };
        out.timings[step.reg.name] = (Date.now() - t0) / 1000;
        log(`FAILED ${step.reg.name}: ${err.message}`);
        out.failures.push({
          resource: step.reg.name,
          name: step.reg.inputs.name,
          error: err.message,
          convergence: err.convergence,
        });
        return false;
      }
    })();
    done.set(step.reg.urn, p);
    return p;
  };
  await Promise.all(steps.map(run));
  return out;
}

async function retryWhile(
  what: string,
  transient: RegExp,
  fn: () => void,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fn();
      return;
    } catch (e) {
      const msg = (e as Error).message;
      if (/No such|not found/i.test(msg)) return;
      if (!transient.test(msg) || Date.now() > deadline) throw new Error(`${what}: ${msg}`);
      await sleep(2000);
    }
  }
}

/** Removes what realize() created, in reverse order (services first), as `pulumi destroy` would. */
export async function destroy(
  realized: Realized,
  log: (line: string) => void = () => undefined,
): Promise<void> {
  const order = [TYPES.service, TYPES.secret, TYPES.config, TYPES.network, TYPES.volume];
  const items = [...realized.created]
    .reverse()
    .sort((a, b) => order.indexOf(a.type as never) - order.indexOf(b.type as never));
  const errors: string[] = [];
  for (const c of items) {
    try {
      switch (c.type) {
        case TYPES.service:
          await engineApi("DELETE", `/services/${c.id}`).catch((e: Error) => {
            if (!/No such|not found/i.test(e.message)) throw e;
          });
          break;
        case TYPES.secret:
          await retryWhile(`secret ${c.name}`, /in use/i, () => docker(["secret", "rm", c.id]));
          break;
        case TYPES.config:
          await retryWhile(`config ${c.name}`, /in use/i, () => docker(["config", "rm", c.id]));
          break;
        case TYPES.network:
          await retryWhile(`network ${c.name}`, /active endpoints/i, () =>
            docker(["network", "rm", c.id]),
          );
          break;
        case TYPES.volume:
          await retryWhile(`volume ${c.name}`, /in use/i, () => docker(["volume", "rm", c.name]));
          break;
      }
      log(`removed ${c.type.split(":").pop()} ${c.name}`);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (errors.length) throw new Error(`destroy left errors:\n  ${errors.join("\n  ")}`);
}

/** Everything on the engine that belongs to a stack: by label and by physical-name prefix. */
export function stackObjects(stack: string, prefix: string): string[] {
  const lines = (s: string) => s.split("\n").filter(Boolean);
  const filter = `label=dev.mqtt-edge.stack=${stack}`;
  const found = new Set<string>();
  for (const kind of ["service", "network", "secret", "config", "volume"]) {
    const ls = (extra: string[]) => lines(docker([kind, "ls", ...extra, "--format", "{{.Name}}"]));
    for (const n of ls(["--filter", filter])) found.add(`${kind} ${n}`);
    for (const n of ls([])) if (n.startsWith(prefix)) found.add(`${kind} ${n}`);
  }
  return [...found].sort();
}
