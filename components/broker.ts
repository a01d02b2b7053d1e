import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { BrokerConfig, PortPublish } from "../config";
import { TYPES } from "../shared/resourceTypes";
import { contentHash } from "./contentHash";
import {
  CONTAINER_SPEC_DEFAULTS,
  SECURITY_OPTS,
  SERVICE_TASK_DEFAULTS,
  hardenedContainer,
} from "./hardening";
import { listeningCheck } from "./healthchecks";
import { labelList } from "./labels";
import { type SwarmPlacement, swarmSecretFile } from "./swarm";
import {
  MOSQUITTO_PATHS,
  MQTT_TCP_PORT,
  renderAclFile,
  renderMosquittoConf,
  renderPasswordFile,
} from "./render";

/** uid/gid of the `mosquitto` user in the eclipse-mosquitto image. */
export const MOSQUITTO_UID = 1883;
/** The broker's DNS alias on its network: what the tunnel's ingress and the connectors dial. */
export const BROKER_ALIAS = "mosquitto";
/** Memory of the one-shot container that hands the broker's files to mosquitto. */
const WRITER_MEMORY_MB = 32;
/** Marker the writer hands over last: its content names the file set now in the volume. */
const GENERATION_FILE = "/mosquitto/config/generation";

/**
 * How a change of users, passwords or ACLs reaches a running broker without restarting it
 * (container mode). Mosquitto re-reads its files on SIGHUP and then checks every connected
 * client against them: a removed user, or one whose password changed, is disconnected at once,
 * and an ACL change applies to the connections that stay (tests/broker/reload.test.ts).
 *
 * The pinned provider (@pulumi/docker 5.0.0) has no exec and no kill, and changing anything of
 * a container's spec replaces it. A one-shot signaller sharing the broker's PID namespace would
 * need the broker to exist before it, and CAP_KILL; the writer is that one-shot container, and the
 * broker needs the writer's files before it starts. So the signal comes from inside:
 * the broker's PID 1 is this busybox `sh` loop, which starts mosquitto, forwards SIGTERM/SIGINT
 * to it (and exits with its status), and once a second reads the generation marker; when the marker changes, it sends
 * mosquitto SIGHUP. The writer (below) is replaced with every new file set and uploads the marker
 * with the files, mode 0600 like them, and chowns it last: until then uid 1883 cannot read it, so
 * a half-handed-over set is never reloaded. What it costs: a shell and one `cat` a second beside
 * mosquitto, up to a second between `pulumi up` ending and the reload, and a reload that
 * `pulumi up` does not wait for (the broker logs "mqtt-edge: reloading ..." when it happens).
 * Anything mosquitto reads only at start (mosquitto.conf: listeners, limits, persistence) is in
 * the broker's config-hash label, so a change to it still replaces the broker.
 */
export function reloaderScript(marker: string = GENERATION_FILE): string {
  return [
    `m=${marker}`,
    'seen=$(cat "$m" 2>/dev/null)',
    '"$@" & pid=$!',
    `trap 'kill -TERM "$pid"; wait "$pid"; exit $?' TERM INT`,
    'while kill -0 "$pid" 2>/dev/null; do',
    "  sleep 1 & wait $!",
    '  now=$(cat "$m" 2>/dev/null) || continue',
    '  if [ "$now" != "$seen" ]; then',
    "    seen=$now",
    '    echo "mqtt-edge: reloading passwords and ACL (file set $now)" >&2',
    '    kill -HUP "$pid"',
    "  fi",
    "done",
    'wait "$pid"',
  ].join("\n");
}
const RELOADER_SCRIPT = reloaderScript();

/**
 * A hash of the password file (alone or with the other rendered files), unsecreted: the one value
 * this program takes out of secrecy on purpose. It is tainted as secret only because the file is
 * derived from the generated passwords, but it is provably not secret: the file holds no password,
 * only PBKDF2-SHA512 hashes of them (random ~190-bit passwords, each with a salt derived from the
 * password itself, see render.ts), and this is the first 48 bits of a SHA-256 over that file. It
 * reveals less than the file, which reveals nothing usable. Left secret, it made the broker's whole
 * `labels` list and the swarm password secret's name (and with it the service's task spec) show as
 * [secret] in every preview. Nothing else may be passed through here.
 */
function passwordFileHash(hash: pulumi.Output<string>): pulumi.Output<string> {
  return pulumi.unsecret(hash);
}

/**
 * Healthy once the WebSocket listener (what cloudflared proxies to) accepts connections.
 * `startInterval`: the engine has API 1.44+ (`broker.healthStartInterval`).
 */
function healthcheck(
  websocketPort: number,
  startInterval: pulumi.Input<boolean>,
): pulumi.Output<docker.types.input.ContainerHealthcheck> {
  return pulumi.output(startInterval).apply((on) => ({
    tests: listeningCheck(websocketPort),
    // Docker runs the first probe one interval after start, and `pulumi up` waits for it: 3 s
    // instead of 10 s took 7 s off every deploy that starts a broker (bench:up). A probe is one
    // busybox grep of /proc/net/tcp inside the container.
    interval: "3s",
    timeout: "3s",
    startPeriod: "5s",
    // API 1.44+ (Docker 25): probes this often during the start period, so the first one comes
    // 250 ms after start. Against an older engine the docker provider refuses the container
    // ("specify health-check start interval" requires API version 1.44; measured on 20.10), so
    // it is on only where the engine speaks 1.44 (engines.ts startInterval) or the config says so.
    ...(on ? { startInterval: "250ms" } : {}),
    retries: 3,
  }));
}

/** The keys of `mqtt-edge:broker` the broker reads, as the config states them. */
type BrokerSlice = Pick<
  BrokerConfig,
  | "image"
  | "websocketPort"
  | "allowAnonymous"
  | "anonymousAcl"
  | "users"
  | "patterns"
  | "persistence"
  | "maxConnections"
  | "messageSizeLimit"
  | "maxKeepalive"
  | "monitorUser"
  | "memoryMb"
  | "tcp"
  | "websocket"
>;

/**
 * `mqtt-edge:broker` (its defaults and their reasons: config/defaults.ts), plus where the broker
 * runs. `tcp.publish` and `websocket.publish` publish a listener on the Docker host.
 */
export interface MqttBrokerArgs extends BrokerSlice {
  /** Container and volume name prefix; unique per stack and host. */
  readonly physicalName: string;
  /** Internal network the broker joins; connectors reach it as `alias`. */
  readonly network: pulumi.Input<string>;
  /** DNS alias on that network (EdgeHost passes BROKER_ALIAS, "mosquitto"). */
  readonly alias: string;
  /** Generated password per user name (the monitor user's too); secret. */
  readonly passwords: Record<string, pulumi.Input<string>>;
  /** Protect the data volume from deletion (and retain it on delete): `mqtt-edge:protect`. */
  readonly protect?: boolean;
  /**
   * The healthcheck's 250 ms start interval (containers only): `broker.healthStartInterval`,
   * decided per host by EdgeHost (engines.ts startInterval).
   */
  readonly startInterval: pulumi.Input<boolean>;
  /** Docker labels put on every object of the broker (stackLabels). */
  readonly labels: Record<string, string>;
  /** Run as a swarm service with this placement instead of a container. Absent: a container. */
  readonly swarm?: SwarmPlacement;
}

/** What the container builders of one broker share. */
interface BrokerContext {
  name: string;
  args: MqttBrokerArgs;
  labels: { label: string; value: string }[];
  dataVolume?: docker.Volume;
}

/**
 * Eclipse Mosquitto with rendered config, password and ACL files, running as the unprivileged
 * mosquitto user on a read-only root filesystem with no capabilities.
 */
export class MqttBroker extends pulumi.ComponentResource {
  /** ws:// URL of the WebSocket listener on the private network. */
  public readonly internalUrl: pulumi.Output<string>;
  /** Name of the broker container. */
  public readonly containerName: pulumi.Output<string>;
  /** The rendered mosquitto.conf (no secrets in it). */
  public readonly mosquittoConf: string;
  /** The rendered ACL file. */
  public readonly aclFile: string;
  /** The password file; secret. */
  public readonly passwordFile: pulumi.Output<string>;
  /** Whether there is any user, and so a password file. */
  private readonly hasUsers: boolean;

  constructor(name: string, args: MqttBrokerArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.broker, name, {}, opts);
    const labels = labelList(args.labels);
    const names = [
      ...args.users.map((u) => u.name),
      ...(args.monitorUser ? [args.monitorUser] : []),
    ];
    for (const user of names) {
      if (args.passwords[user] === undefined) {
        throw new pulumi.ResourceError(`no password for MQTT user "${user}"`, this);
      }
    }
    this.hasUsers = names.length > 0;
    this.mosquittoConf = renderMosquittoConf({ ...args, passwordFile: this.hasUsers });
    this.aclFile = renderAclFile({ ...args, anonymous: args.anonymousAcl });
    this.passwordFile = pulumi.secret(
      pulumi.all(names.map((n) => args.passwords[n])).apply((pw) =>
        renderPasswordFile(
          names.map((n, i) => ({ name: n, password: pw[i] })),
          args.physicalName,
        ),
      ),
    );

    const dataVolume = args.persistence
      ? new docker.Volume(
          `${name}-data`,
          { name: `${args.physicalName}-mosquitto-data`, labels },
          { parent: this, protect: args.protect, retainOnDelete: args.protect },
        )
      : undefined;
    const ctx: BrokerContext = { name, args, labels, dataVolume };
    this.containerName = args.swarm
      ? this.declareService(ctx, args.swarm)
      : this.declareContainer(ctx);
    this.internalUrl = pulumi.interpolate`ws://${args.alias}:${args.websocketPort}`;
    this.registerOutputs({
      internalUrl: this.internalUrl,
      containerName: this.containerName,
      passwordFile: this.passwordFile,
    });
  }

  /**
   * Container mode: the writer hands the files to a config volume, then the broker starts on it
   * (with a network of its own for published listeners).
   */
  private declareContainer(ctx: BrokerContext): pulumi.Output<string> {
    const configVolume = new docker.Volume(
      `${ctx.name}-config`,
      { name: `${ctx.args.physicalName}-mosquitto-config`, labels: ctx.labels },
      { parent: this },
    );
    const writer = this.configWriter(ctx, configVolume);
    const container = this.brokerContainer(ctx, configVolume, writer);
    return container.name;
  }

  /**
   * How the rendered files reach a read-only broker as uid 1883, mode 0600, with the pinned
   * provider (@pulumi/docker 5.0.0, kreuzwerker v4.2.0):
   * - it writes each upload as a tar entry with no owner and extracts it at `/`, so the daemon
   *   makes it root:root (uploads[].owner/group exist only from @pulumi/docker 5.2.0, which no
   *   released plugin serves here), and it refuses to extract into a read-only root filesystem;
   * - so the files are uploaded into a config volume through this one-shot container, created
   *   with the uploads, then started once to run `chown 1883:1883` on them and exit. It runs as
   *   root with CAP_CHOWN alone, no network and no writable mount but that volume; the provider
   *   waits for it to exit (`attach`), and the broker mounts the volume read-only.
   * The files are never world-readable: 0600 (passwords, ACL) and 0640 (config) from the start.
   * Resolves to the writer once its chown succeeded.
   */
  private configWriter(
    ctx: BrokerContext,
    configVolume: docker.Volume,
  ): pulumi.Output<docker.Container> {
    const { name, args } = ctx;
    const uploads: docker.types.input.ContainerUpload[] = [
      { file: MOSQUITTO_PATHS.config, content: this.mosquittoConf, permissions: "0640" },
      { file: MOSQUITTO_PATHS.acl, content: this.aclFile, permissions: "0600" },
    ];
    if (this.hasUsers) {
      uploads.push({
        file: MOSQUITTO_PATHS.passwords,
        content: this.passwordFile,
        permissions: "0600",
      });
    }
    // Last, and chowned last: the broker's reloader acts on it (RELOADER_SCRIPT).
    const generation = passwordFileHash(
      pulumi
        .all([this.mosquittoConf, this.aclFile, this.hasUsers ? this.passwordFile : ""])
        .apply((files) => contentHash(files.join("\0"))),
    );
    uploads.push({ file: GENERATION_FILE, content: generation, permissions: "0600" });

    const owner = `${MOSQUITTO_UID}:${MOSQUITTO_UID}`;
    const writer = new docker.Container(
      `${name}-config-writer`,
      {
        name: `${args.physicalName}-mosquitto-config-writer`,
        image: args.image,
        entrypoints: ["chown", owner, ...uploads.map((u) => u.file as string)],
        user: "0:0",
        capabilities: { drops: ["ALL"], adds: ["CAP_CHOWN"] },
        securityOpts: SECURITY_OPTS,
        networkMode: "none",
        memory: WRITER_MEMORY_MB,
        memorySwap: WRITER_MEMORY_MB,
        restart: "no",
        // Run once, to completion; an exited container is its expected state.
        attach: true,
        logs: true,
        mustRun: false,
        mounts: [{ target: "/mosquitto/config", type: "volume", source: configVolume.name }],
        uploads,
        labels: ctx.labels,
      },
      { parent: this, deleteBeforeReplace: true, additionalSecretOutputs: ["uploads"] },
    );
    // The provider does not look at the exit code: a failed chown must stop the deploy here,
    // not as an unhealthy broker a minute later.
    return pulumi.all([writer.exitCode, writer.containerLogs]).apply(([code, logs]) => {
      if (code !== undefined && code !== 0) {
        throw new pulumi.ResourceError(
          `${args.physicalName}-mosquitto-config-writer exited with ${code}: ${(logs ?? "").trim()}`,
          this,
        );
      }
      return writer;
    });
  }

  /**
   * The published listeners, and the network they need: Docker publishes no port of a container
   * that sits on internal networks only. It is a bridge of its own with no NAT out (masquerading
   * off), so the broker still gets no working route to the internet, and no other container
   * joins it. None when nothing is published.
   */
  private publishing(ctx: BrokerContext): {
    ports: docker.types.input.ContainerPort[];
    network?: docker.Network;
  } {
    const { args } = ctx;
    const ports: docker.types.input.ContainerPort[] = [];
    const publish = (internal: number, p: PortPublish | undefined) => {
      if (p) ports.push({ internal, external: p.port, ip: p.ip, protocol: "tcp" });
    };
    publish(MQTT_TCP_PORT, args.tcp?.publish);
    publish(args.websocketPort, args.websocket?.publish);
    if (ports.length === 0) return { ports };
    const network = new docker.Network(
      `${ctx.name}-publish`,
      {
        name: `${args.physicalName}-publish`,
        driver: "bridge",
        options: {
          "com.docker.network.bridge.enable_ip_masquerade": "false",
          "com.docker.network.bridge.enable_icc": "false",
        },
        labels: ctx.labels,
      },
      { parent: this, deleteBeforeReplace: true },
    );
    return { ports, network };
  }

  /** The broker container, started by the reloader on the files the writer handed over. */
  private brokerContainer(
    ctx: BrokerContext,
    configVolume: docker.Volume,
    writer: pulumi.Output<docker.Container>,
  ): docker.Container {
    const { name, args } = ctx;
    // What mosquitto reads only at start (mosquitto.conf) and how it runs (the reloader) make
    // the config-hash label: a change to either replaces the broker. Users, passwords and ACLs
    // are not in it: a new set replaces only the writer, and the running broker reloads it.
    const startHash = contentHash(`${this.mosquittoConf}\0${RELOADER_SCRIPT}`);
    const { ports, network } = this.publishing(ctx);
    const mounts: docker.types.input.ContainerMount[] = [
      { target: "/mosquitto/config", type: "volume", source: configVolume.name, readOnly: true },
    ];
    if (ctx.dataVolume)
      mounts.push({ target: "/mosquitto/data", type: "volume", source: ctx.dataVolume.name });
    return new docker.Container(
      `${name}-mosquitto`,
      {
        ...hardenedContainer({ uid: MOSQUITTO_UID, memoryMb: args.memoryMb }),
        name: `${args.physicalName}-mosquitto`,
        image: args.image,
        entrypoints: ["/bin/sh", "-c", RELOADER_SCRIPT, "mqtt-edge-reloader"],
        command: ["/usr/sbin/mosquitto", "-c", MOSQUITTO_PATHS.config],
        networksAdvanced: [
          { name: args.network, aliases: [args.alias] },
          ...(network ? [{ name: network.name }] : []),
        ],
        ports,
        mounts,
        healthcheck: healthcheck(args.websocketPort, args.startInterval),
        wait: true,
        waitTimeout: 60,
        // Stop with SIGTERM and time to write the persistence file; the provider's default of 0
        // kills mosquitto and loses what changed since the last autosave.
        destroyGraceSeconds: 10,
        labels: [...ctx.labels, { label: "dev.mqtt-edge.config-hash", value: startHash }],
      },
      {
        parent: this,
        // Fixed name and, with persistence, one data directory: the old broker must be gone first.
        deleteBeforeReplace: true,
        // The provider plans a healthcheck change as an in-place update, and its update never
        // applies it: on Docker 29 the container kept its 250 ms start interval and every later
        // preview showed the same update (tests/e2e/managed.test.ts). Only a new container
        // takes a new healthcheck.
        replaceOnChanges: ["healthcheck"],
        // After the writer, and only once its chown succeeded. A dependency on the resource, not
        // on one of its outputs: a replaced writer (a new file set) does not replace the broker.
        dependsOn: writer.apply((w) => [w]),
      },
    );
  }

  /**
   * Swarm: the broker as a service of one replica, its files mounted from Docker configs and a
   * secret (serviceFiles).
   */
  private declareService(ctx: BrokerContext, swarm: SwarmPlacement): pulumi.Output<string> {
    const { name, args, labels } = ctx;
    const { configs, secrets } = this.serviceFiles(ctx);
    const mounts: docker.types.input.ServiceTaskSpecContainerSpecMount[] = ctx.dataVolume
      ? [{ target: "/mosquitto/data", type: "volume", source: ctx.dataVolume.name }]
      : [];
    const service = new docker.Service(
      `${name}-mosquitto`,
      {
        name: `${args.physicalName}-mosquitto`,
        labels,
        taskSpec: {
          containerSpec: {
            ...CONTAINER_SPEC_DEFAULTS,
            image: args.image,
            user: `${MOSQUITTO_UID}:${MOSQUITTO_UID}`,
            readOnly: true,
            capDrops: ["ALL"],
            configs,
            secrets,
            mounts,
            // No start interval: a service's healthcheck has none in the docker provider.
            healthcheck: healthcheck(args.websocketPort, false),
            labels,
          },
          networksAdvanceds: [{ name: args.network, aliases: [args.alias] }],
          placement: { constraints: swarm.constraints },
          resources: { limits: { memoryBytes: args.memoryMb * 1024 * 1024 } },
          ...SERVICE_TASK_DEFAULTS,
        },
        mode: { replicated: { replicas: 1 } },
        endpointSpec: { mode: swarm.endpointMode },
        // One broker owns the data volume: stop the old task before starting the new one.
        updateConfig: { order: "stop-first", parallelism: 1 },
        convergeConfig: { delay: "2s", timeout: "3m" },
      },
      { parent: this },
    );
    return service.name;
  }

  /**
   * Swarm: the rendered files become a Docker config (mosquitto.conf, ACL) and a Docker secret
   * (password file), mounted owned by mosquitto. Both are immutable, so their names carry a
   * content hash and a change makes new ones that the service rolls over to.
   */
  private serviceFiles(ctx: BrokerContext): {
    configs: docker.types.input.ServiceTaskSpecContainerSpecConfig[];
    secrets: docker.types.input.ServiceTaskSpecContainerSpecSecret[];
  } {
    const { name, args, labels } = ctx;
    // The provider replaces a ServiceConfig delete-before-replace (pulumi-docker 5.0.0 sets
    // DeleteBeforeReplace for docker_config), and the engine refuses to delete a config that
    // the service still names: a new ACL under the same resource name failed `pulumi up`
    // (tests/e2e/swarm.test.ts). With the content hash in the resource name too, new content
    // is a new resource, created before the service update; the old one goes at the end of the
    // update, once the service no longer names it. The alias adopts the hash-less name of
    // earlier versions, so upgrading changes nothing.
    const uid = String(MOSQUITTO_UID);
    const dockerConfig = (role: string, text: string, fileName: string, fileMode: number) => {
      const config = new docker.ServiceConfig(
        `${name}-${role}-${contentHash(text)}`,
        {
          name: `${args.physicalName}-mosquitto-${role}-${contentHash(text)}`,
          data: Buffer.from(text).toString("base64"),
          labels,
        },
        { parent: this, aliases: [{ name: `${name}-${role}` }] },
      );
      return {
        configId: config.id,
        configName: config.name,
        fileName,
        fileUid: uid,
        fileGid: uid,
        fileMode,
      };
    };
    const configs = [
      dockerConfig("conf", this.mosquittoConf, MOSQUITTO_PATHS.config, 0o440),
      dockerConfig("acl", this.aclFile, MOSQUITTO_PATHS.acl, 0o400),
    ];
    if (!this.hasUsers) return { configs, secrets: [] };
    // The hash is of the hashed password file: it names a version, it reveals nothing.
    // A secret in use cannot be deleted, and the provider replaces this one delete-first
    // (its new name is unknown when the engine plans: it hashes new passwords). So, as for
    // the configs, a new user set is a new resource: its name carries a hash of what makes
    // the passwords (names, passwordVersions), known when the program runs; the alias adopts
    // the name of earlier versions. A password replaced by other means (`up --replace`)
    // keeps the name and still fails; change the user's passwordVersion instead.
    const passwordSet = contentHash(
      JSON.stringify([
        args.users.map((u) => [u.name, u.passwordVersion ?? null]),
        args.monitorUser,
      ]),
    );
    const secret = swarmSecretFile(this, `${name}-passwd-${passwordSet}`, {
      aliases: [{ name: `${name}-passwd` }],
      namePrefix: `${args.physicalName}-mosquitto-passwd`,
      content: this.passwordFile,
      hash: passwordFileHash(this.passwordFile.apply(contentHash)),
      labels,
      fileName: MOSQUITTO_PATHS.passwords,
      uid: MOSQUITTO_UID,
    });
    return { configs, secrets: [secret] };
  }
}
