import { createHash } from "node:crypto";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

/** Defaults every container of the product gets; one place, so they cannot drift apart. */
export const LOG_OPTS = { "max-size": "10m", "max-file": "3" } as const;
export const SECURITY_OPTS = ["no-new-privileges:true"];
export const RESTART = "unless-stopped";
/** The same for swarm tasks: restart on any exit, rotated json-file logs. */
export const SERVICE_TASK_DEFAULTS = {
  // window: what the daemon reports when none is set; left out, every preview shows a diff.
  restartPolicy: { condition: "any", delay: "5s", window: "0s" },
  logDriver: { name: "json-file", options: { ...LOG_OPTS } },
};

/**
 * What every swarm ContainerSpec states although it is empty: the provider plans an unset
 * `sysctl` as unknown on every preview (a perpetual diff), an empty one as what it is.
 */
export const CONTAINER_SPEC_DEFAULTS = { sysctl: {} };

/** Docker labels that tie an object to its stack and host, for `docker ps --filter`. */
export function stackLabels(project: string, stack: string, host: string): Record<string, string> {
  return {
    "dev.mqtt-edge.project": project,
    "dev.mqtt-edge.stack": stack,
    "dev.mqtt-edge.host": host,
  };
}

export function labelList(labels: Record<string, string>): { label: string; value: string }[] {
  return Object.entries(labels).map(([label, value]) => ({ label, value }));
}

/** `grep` over /proc/net/tcp{,6} for a socket listening on `port`: needs only busybox. */
export function listeningCheck(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return [
    "CMD-SHELL",
    `grep -Eq '^ *[0-9]+: [0-9A-F]+:${hex} [0-9A-F]+:0000 0A' /proc/net/tcp /proc/net/tcp6`,
  ];
}

/** A short content hash, for names of immutable swarm objects (configs, secrets). */
export function contentHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 12);
}

/**
 * A file for swarm tasks from secret content: a docker.Secret named `<namePrefix>-<content hash>`
 * (secrets are immutable, so new content makes a new secret and the service rolls over to it),
 * its data kept secret in state, mounted at `fileName` readable by `uid` alone.
 */
export function swarmSecretFile(
  parent: pulumi.Resource,
  resourceName: string,
  args: {
    namePrefix: string;
    content: pulumi.Output<string>;
    labels: { label: string; value: string }[];
    fileName: string;
    uid: number;
  },
): docker.types.input.ServiceTaskSpecContainerSpecSecret {
  const secret = new docker.Secret(
    resourceName,
    {
      name: pulumi.interpolate`${args.namePrefix}-${args.content.apply(contentHash)}`,
      data: args.content.apply((t) => Buffer.from(t).toString("base64")),
      labels: args.labels,
    },
    { parent, additionalSecretOutputs: ["data"] },
  );
  return {
    secretId: secret.id,
    secretName: secret.name,
    fileName: args.fileName,
    fileUid: String(args.uid),
    fileGid: String(args.uid),
    fileMode: 0o400,
  };
}
