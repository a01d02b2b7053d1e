/**
 * Realizes the Docker part of a recorded program run on a real Docker engine.
 *
 * THIS STANDS IN FOR THE DOCKER PROVIDER PLUGIN, NOT FOR PULUMI. The real
 * `pulumi-resource-docker` plugin cannot be obtained on this machine, so `pulumi up` cannot run.
 * What the program declares is taken from `runProgram` (tests/unit/harness.ts: every
 * registration with its inputs, under Pulumi mocks, values resolved) and replayed against the
 * engine at DOCKER_HOST the way the provider (kreuzwerker/terraform-provider-docker, which
 * @pulumi/docker bridges) applies a create:
 *
 *   docker.Network   `docker network create` (--driver, --internal, --attachable, --label, -o)
 *   docker.Volume    `docker volume create` (--driver, --label, -o)
 *   docker.Container resourceDockerContainerCreate, step by step:
 *     1. ContainerCreate with network_mode "bridge" (the provider's default), the image,
 *        command/entrypoint, env, user, labels, healthcheck, read-only rootfs, capabilities,
 *        security opts, memory (MiB * 1024 * 1024), restart policy, log driver and options,
 *        mounts, port bindings and Init=false. This one step goes to the Engine API
 *        (POST /containers/create) rather than `docker create`: the CLI's --health-cmd always
 *        makes a CMD-SHELL test, which in a shell-less image (cloudflared) would fail where the
 *        provider's exec-form ["CMD", ...] test works, and the JSON body keeps secrets (envs)
 *        off every command line. The body is what the provider's Go client sends.
 *     2. `docker network disconnect bridge`, then `docker network connect [--alias ...]` for
 *        every entry of networks_advanced (the provider connects them all after create).
 *     3. One upload per `uploads` entry, as the provider does it: a tar stream holding one
 *        regular file whose header name is the absolute `file`, mode from `permissions`
 *        (else 0744 executable / 0644), uid/gid from `owner`/`group`, extracted by the engine
 *        at path "/" (PUT /containers/{id}/archive?path=/, here `docker cp - <container>:/`).
 *     4. `docker start` (unless start: false), then, with `wait: true`, a 1 s poll of the health
 *        status until "healthy" or `waitTimeout` seconds (default 60), as the provider does.
 *   destroy: containers `docker stop -t <destroyGraceSeconds or 0>` then `docker rm -f`
 *   (-v when removeVolumes, default true: anonymous volumes go too), volumes `docker volume rm
 *   -f`, networks `docker network rm`, in the reverse order.
 *
 * Swarm resources (Service, Secret, ServiceConfig) are not handled here.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { request } from "node:http";
import type { Recorder, Registration } from "../unit/harness";

export const TYPES = {
  network: "docker:index/network:Network",
  volume: "docker:index/volume:Volume",
  container: "docker:index/container:Container",
  provider: "pulumi:providers:docker",
} as const;

const DOCKER_TYPES: string[] = [TYPES.network, TYPES.volume, TYPES.container];

export interface RealizeOptions {
  /** Only these registrations (of the Docker types) are realized or destroyed. Default: all. */
  only?: (r: Registration) => boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface Realized {
  networks: string[];
  volumes: string[];
  containers: string[];
}

type Rec = Recorder | Registration[];
const regsOf = (rec: Rec): Registration[] => (Array.isArray(rec) ? rec : rec.registrations);

// ---- docker CLI --------------------------------------------------------------------------------

/** Runs the docker CLI; throws with its stderr. `input` goes to stdin. */
export function dockerCli(args: string[], input?: Buffer): string {
  const r = spawnSync("docker", args, { input, encoding: "buffer", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    const err = `${r.stderr?.toString() ?? ""}${r.error ? String(r.error) : ""}`.trim();
    throw new Error(`docker ${args[0]} ${args[1] ?? ""} failed (exit ${r.status}): ${err}`);
  }
  return r.stdout.toString().trim();
}

function exists(kind: "container" | "network" | "volume", name: string): boolean {
  const args = kind === "container" ? ["container", "inspect", name] : [kind, "inspect", name];
  return spawnSync("docker", args, { stdio: "ignore" }).status === 0;
}

// ---- Engine API (container create only) ---------------------------------------------------------

function engineSocket(): string {
  const host = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  if (!host.startsWith("unix://")) {
    throw new Error(
      `realize() talks to the Engine API over a unix socket; DOCKER_HOST=${host} is not one`,
    );
  }
  return host.slice("unix://".length);
}

function engineApi(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: engineSocket(),
        method,
        path,
        headers: payload
          ? { "content-type": "application/json", "content-length": payload.length }
          : undefined,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let json: any = text;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            // plain-text error
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

// ---- tar, as the provider writes it --------------------------------------------------------------

function octal(n: number, width: number): string {
  // width includes the terminating NUL, as Go's archive/tar writes numeric fields.
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function numericId(v: string | undefined, what: string): number {
  if (v === undefined || v === "") return 0;
  if (!/^\d+$/.test(v)) {
    // The provider resolves names in the database of the machine running Pulumi; the program
    // only uses numeric ids, and this stand-in refuses names rather than guess.
    throw new Error(
      `upload ${what} "${v}" is not numeric; this stand-in supports numeric ids only`,
    );
  }
  return Number(v);
}

/** One USTAR archive with one regular file, like the provider's archive/tar writer. */
export function providerTar(upload: {
  file: string;
  content?: string;
  contentBase64?: string;
  permissions?: string;
  executable?: boolean;
  owner?: string;
  group?: string;
}): Buffer {
  const data =
    upload.contentBase64 !== undefined && upload.contentBase64 !== ""
      ? Buffer.from(upload.contentBase64, "base64")
      : Buffer.from(upload.content ?? "", "utf8");
  const mode = upload.permissions
    ? parseInt(upload.permissions, 8)
    : upload.executable
      ? 0o744
      : 0o644;
  if (Number.isNaN(mode))
    throw new Error(`upload permissions "${upload.permissions}" are not octal`);
  let name = upload.file;
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf("/", 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100)
      throw new Error(`upload path too long: ${name}`);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  const h = Buffer.alloc(512, 0);
  h.write(name, 0, 100, "utf8");
  h.write(octal(mode, 8), 100, 8, "ascii");
  h.write(octal(numericId(upload.owner, "owner"), 8), 108, 8, "ascii");
  h.write(octal(numericId(upload.group, "group"), 8), 116, 8, "ascii");
  h.write(octal(data.length, 12), 124, 12, "ascii");
  h.write(octal(Math.floor(Date.now() / 1000), 12), 136, 12, "ascii");
  h.write("        ", 148, 8, "ascii");
  h.write("0", 156, 1, "ascii");
  h.write("ustar\u000000", 257, 8, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, 8, "ascii");
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512, 0);
  return Buffer.concat([h, data, pad, Buffer.alloc(1024, 0)]);
}

// ---- ordering -------------------------------------------------------------------------------------

/**
 * Docker registrations in the order the engine would create them: a resource waits for its
 * dependencies and for those of its ancestors (a component's dependsOn), where a dependency on
 * a component means every custom resource under it.
 */
export function dockerOrder(rec: Rec, only?: (r: Registration) => boolean): Registration[] {
  const regs = regsOf(rec);
  const byUrn = new Map(regs.map((r) => [r.urn, r]));
  const children = new Map<string, Registration[]>();
  for (const r of regs) {
    if (!r.parent) continue;
    const list = children.get(r.parent) ?? [];
    list.push(r);
    children.set(r.parent, list);
  }
  const customsUnder = (urn: string, out: Set<string>) => {
    for (const c of children.get(urn) ?? []) {
      if (c.custom) out.add(c.urn);
      customsUnder(c.urn, out);
    }
  };
  const depsOf = (r: Registration): Set<string> => {
    const out = new Set<string>();
    const add = (urn: string) => {
      const d = byUrn.get(urn);
      if (!d) return;
      if (d.custom) out.add(urn);
      else customsUnder(urn, out);
    };
    for (
      let cur: Registration | undefined = r;
      cur;
      cur = cur.parent ? byUrn.get(cur.parent) : undefined
    ) {
      for (const d of cur.dependencies) add(d);
    }
    return out;
  };
  const selected = regs.filter((r) => DOCKER_TYPES.includes(r.type) && (only ? only(r) : true));
  const rank = (r: Registration) => DOCKER_TYPES.indexOf(r.type);
  const ordered: Registration[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (r: Registration) => {
    if (state.get(r.urn) === "done") return;
    if (state.get(r.urn) === "visiting") throw new Error(`dependency cycle through ${r.name}`);
    state.set(r.urn, "visiting");
    for (const d of depsOf(r)) {
      const dep = byUrn.get(d);
      if (dep && selected.includes(dep)) visit(dep);
    }
    state.set(r.urn, "done");
    ordered.push(r);
  };
  // Networks, then volumes, then containers, each kind in registration order (stable).
  for (const r of [...selected].sort((a, b) => rank(a) - rank(b))) visit(r);
  return ordered;
}

function checkEndpoint(rec: Rec, r: Registration): void {
  // The provider registration's `host` is the Docker endpoint; realize() only knows DOCKER_HOST.
  const providerUrn = r.provider.split("::").slice(0, -1).join("::");
  const p = regsOf(rec).find((x) => x.urn === providerUrn && x.type === TYPES.provider);
  const host = p?.inputs.host as string | undefined;
  if (host && host !== process.env.DOCKER_HOST) {
    throw new Error(
      `${r.name} targets Docker endpoint ${host}, but realize() uses DOCKER_HOST=${process.env.DOCKER_HOST}`,
    );
  }
}

// ---- create ---------------------------------------------------------------------------------------

const labelArgs = (labels: { label: string; value: string }[] | undefined) =>
  (labels ?? []).flatMap((l) => ["--label", `${l.label}=${l.value}`]);

const labelMap = (labels: { label: string; value: string }[] | undefined) =>
  Object.fromEntries((labels ?? []).map((l) => [l.label, l.value]));

function createNetwork(r: Registration): string {
  const i = r.inputs;
  const name: string = i.name ?? r.name;
  const args = ["network", "create"];
  if (i.driver) args.push("--driver", i.driver);
  if (i.internal) args.push("--internal");
  if (i.attachable) args.push("--attachable");
  if (i.ipv6) args.push("--ipv6");
  for (const [k, v] of Object.entries((i.options ?? {}) as Record<string, string>))
    args.push("-o", `${k}=${v}`);
  for (const c of (i.ipamConfigs ?? []) as {
    subnet?: string;
    gateway?: string;
    ipRange?: string;
  }[]) {
    if (c.subnet) args.push("--subnet", c.subnet);
    if (c.gateway) args.push("--gateway", c.gateway);
    if (c.ipRange) args.push("--ip-range", c.ipRange);
  }
  args.push(...labelArgs(i.labels), name);
  dockerCli(args);
  return name;
}

function createVolume(r: Registration): string {
  const i = r.inputs;
  const name: string = i.name ?? r.name;
  const args = ["volume", "create"];
  if (i.driver) args.push("--driver", i.driver);
  for (const [k, v] of Object.entries((i.driverOpts ?? {}) as Record<string, string>))
    args.push("-o", `${k}=${v}`);
  args.push(...labelArgs(i.labels), name);
  dockerCli(args);
  return name;
}

/** Go's time.ParseDuration for the forms a healthcheck uses ("10s", "1m30s", "500ms"). */
export function durationNs(v: string | undefined): number {
  if (!v) return 0;
  const units: Record<string, number> = {
    ns: 1,
    us: 1e3,
    µs: 1e3,
    ms: 1e6,
    s: 1e9,
    m: 60e9,
    h: 3600e9,
  };
  let total = 0;
  let rest = v;
  while (rest.length) {
    const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`not a duration: ${v}`);
    total += Number(m[1]) * units[m[2]];
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/** The ContainerCreate body the provider builds from the inputs (the fields the program can set). */
export function containerCreateBody(r: Registration): {
  name: string;
  body: Record<string, unknown>;
} {
  const i = r.inputs;
  const name: string = i.name ?? r.name;
  const config: Record<string, unknown> = {
    Image: i.image,
    Hostname: i.hostname ?? "",
    Domainname: i.domainname ?? "",
    Tty: i.tty ?? false,
    OpenStdin: i.stdinOpen ?? false,
    Labels: labelMap(i.labels),
  };
  if (i.stopSignal) config.StopSignal = i.stopSignal;
  if (i.stopTimeout !== undefined) config.StopTimeout = i.stopTimeout;
  if (i.envs?.length) config.Env = i.envs;
  if (i.command?.length) {
    if ((i.command as string[]).some((c) => c === ""))
      throw new Error(`${r.name}: values for command may not be empty`);
    config.Cmd = i.command;
  }
  if (i.entrypoints?.length) config.Entrypoint = i.entrypoints;
  if (i.user) config.User = i.user;
  if (i.workingDir) config.WorkingDir = i.workingDir;
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of (i.ports ?? []) as {
    internal: number;
    external?: number;
    ip?: string;
    protocol?: string;
  }[]) {
    const key = `${p.internal}/${p.protocol ?? "tcp"}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({
      HostIp: p.ip ?? "0.0.0.0",
      HostPort: p.external ? String(p.external) : "",
    });
  }
  if (Object.keys(exposed).length) config.ExposedPorts = exposed;
  if (i.healthcheck) {
    const h = i.healthcheck;
    config.Healthcheck = {
      Test: h.tests,
      Interval: durationNs(h.interval),
      Timeout: durationNs(h.timeout),
      StartPeriod: durationNs(h.startPeriod),
      Retries: h.retries ?? 0,
    };
  }
  const mounts = (
    (i.mounts ?? []) as { type: string; target: string; source?: string; readOnly?: boolean }[]
  ).map((m) => ({
    Type: m.type,
    Target: m.target,
    Source: m.source ?? "",
    ReadOnly: m.readOnly ?? false,
  }));
  const hostConfig: Record<string, unknown> = {
    Privileged: i.privileged ?? false,
    PublishAllPorts: i.publishAllPorts ?? false,
    RestartPolicy: { Name: i.restart ?? "no", MaximumRetryCount: i.maxRetryCount ?? 0 },
    Mounts: mounts,
    AutoRemove: i.rm ?? false,
    ReadonlyRootfs: i.readOnly ?? false,
    LogConfig: { Type: i.logDriver ?? "json-file", Config: i.logOpts ?? {} },
    Init: i.init ?? false,
    NetworkMode: i.networkMode ?? "bridge",
  };
  if (Object.keys(bindings).length) hostConfig.PortBindings = bindings;
  if (i.capabilities) {
    hostConfig.CapAdd = i.capabilities.adds ?? [];
    hostConfig.CapDrop = i.capabilities.drops ?? [];
  }
  if (i.securityOpts?.length) hostConfig.SecurityOpt = i.securityOpts;
  if (i.memory) hostConfig.Memory = i.memory * 1024 * 1024;
  if (i.memorySwap)
    hostConfig.MemorySwap = i.memorySwap > 0 ? i.memorySwap * 1024 * 1024 : i.memorySwap;
  if (i.tmpfs) hostConfig.Tmpfs = i.tmpfs;
  if (i.groupAdds?.length) hostConfig.GroupAdd = i.groupAdds;
  return { name, body: { ...config, HostConfig: hostConfig, NetworkingConfig: {} } };
}

async function waitHealthy(name: string, timeoutS: number): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const state = JSON.parse(dockerCli(["inspect", "--format", "{{json .State}}", name]));
    if (!state.Health) {
      throw new Error(
        `${name}: you have supplied a 'wait' argument, but the container does not have a healthcheck defined`,
      );
    }
    if (state.Health.Status === "healthy") return;
    if (Date.now() > deadline) {
      const last = state.Health.Log?.at(-1);
      throw new Error(
        `${name}: container failed to be in a healthy state in ${timeoutS} s (status ${state.Health.Status}, ` +
          `running ${state.Running}, restarting ${state.Restarting}, last check: ${JSON.stringify(last ?? null)})\n` +
          `logs:\n${spawnSync("docker", ["logs", "--tail", "30", name], { encoding: "utf8" }).stderr}`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function createContainer(r: Registration, log: (l: string) => void): Promise<string> {
  const i = r.inputs;
  const { name, body } = containerCreateBody(r);
  // 1. create
  const res = await engineApi("POST", `/containers/create?name=${encodeURIComponent(name)}`, body);
  if (res.status !== 201) {
    throw new Error(
      `${r.name}: Unable to create container: ${res.status} ${JSON.stringify(res.json)}`,
    );
  }
  // 2. networks: leave the default bridge, join every networks_advanced entry
  const networks = (i.networksAdvanced ?? []) as {
    name: string;
    aliases?: string[];
    ipv4Address?: string;
  }[];
  if (networks.length) {
    const d = spawnSync("docker", ["network", "disconnect", "bridge", name], { encoding: "utf8" });
    if (d.status !== 0 && !/is not connected to the network bridge/.test(d.stderr)) {
      throw new Error(`${r.name}: Unable to disconnect the default network: ${d.stderr}`);
    }
    for (const n of networks) {
      const args = ["network", "connect"];
      for (const a of n.aliases ?? []) args.push("--alias", a);
      if (n.ipv4Address) args.push("--ip", n.ipv4Address);
      dockerCli([...args, n.name, name]);
    }
  }
  // 3. uploads: one tar per file, extracted at "/" (what the provider sends to the engine)
  for (const u of (i.uploads ?? []) as Parameters<typeof providerTar>[0][]) {
    try {
      dockerCli(["cp", "-", `${name}:/`], providerTar(u));
    } catch (e) {
      throw new Error(
        `${r.name}: Unable to upload volume content (${u.file}): ${(e as Error).message}`,
      );
    }
  }
  // 4. start, wait
  if (i.start ?? true) {
    dockerCli(["start", name]);
    if (i.wait) {
      log(`waiting for ${name} to be healthy`);
      await waitHealthy(name, i.waitTimeout ?? 60);
    }
  }
  return name;
}

/** Creates the Docker resources of a recorded run on the engine at DOCKER_HOST. */
export async function realize(rec: Rec, opts: RealizeOptions = {}): Promise<Realized> {
  const log = opts.log ?? (() => {});
  const out: Realized = { networks: [], volumes: [], containers: [] };
  for (const r of dockerOrder(rec, opts.only)) {
    checkEndpoint(rec, r);
    if (r.type === TYPES.network) {
      out.networks.push(createNetwork(r));
    } else if (r.type === TYPES.volume) {
      out.volumes.push(createVolume(r));
    } else {
      out.containers.push(await createContainer(r, log));
    }
    log(`created ${r.type.split(":").at(-1)} ${r.inputs.name ?? r.name}`);
  }
  return out;
}

/** Removes what `realize` created for this run (by its physical names), in reverse order. */
export function destroy(rec: Rec, opts: RealizeOptions = {}): string[] {
  const removed: string[] = [];
  const problems: string[] = [];
  for (const r of [...dockerOrder(rec, opts.only)].reverse()) {
    const name: string = r.inputs.name ?? r.name;
    try {
      if (r.type === TYPES.container) {
        if (!exists("container", name)) continue;
        // The provider: ContainerStop with destroy_grace_seconds (0 when unset), then
        // ContainerRemove(force, RemoveVolumes = remove_volumes, default true).
        dockerCli(["stop", "-t", String(r.inputs.destroyGraceSeconds ?? 0), name]);
        dockerCli(["rm", "-f", ...((r.inputs.removeVolumes ?? true) ? ["-v"] : []), name]);
      } else if (r.type === TYPES.volume) {
        if (!exists("volume", name)) continue;
        dockerCli(["volume", "rm", "-f", name]);
      } else {
        if (!exists("network", name)) continue;
        dockerCli(["network", "rm", name]);
      }
      removed.push(name);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (problems.length) throw new Error(`destroy left things behind:\n  ${problems.join("\n  ")}`);
  return removed;
}

/** `docker inspect` of one object, parsed. */
export function inspect<T = any>(name: string): T {
  return JSON.parse(execFileSync("docker", ["inspect", name], { encoding: "utf8" }))[0] as T;
}
