/** What the swarm variants of the components share: placement and secret files. */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { EndpointMode } from "../config";

/** How a swarm service is placed and reached. */
export interface SwarmPlacement {
  /** Placement constraints, e.g. `node.role == manager`. */
  constraints: string[];
  /** `swarm.endpointMode`: `vip`, or `dnsrr` for engines without IPVS. */
  endpointMode: EndpointMode;
}

/**
 * A file for swarm tasks from secret content: a docker.Secret named `<namePrefix>-<hash>`, where
 * `hash` is the content's (contentHash): secrets are immutable, so new content makes a new secret
 * and the service rolls over to it. Its data is kept secret in state, mounted at `fileName`
 * readable by `uid` alone. The caller passes the hash: secret (tainted by the content) unless it
 * can show that the hash reveals nothing (the broker's password file).
 */
export function swarmSecretFile(
  parent: pulumi.Resource,
  resourceName: string,
  args: {
    namePrefix: string;
    content: pulumi.Output<string>;
    /** contentHash of `content`. */
    hash: pulumi.Output<string>;
    labels: { label: string; value: string }[];
    fileName: string;
    uid: number;
    /** Earlier resource names of this secret (see MqttBroker's password file). */
    aliases?: pulumi.Input<pulumi.Alias>[];
  },
): docker.types.input.ServiceTaskSpecContainerSpecSecret {
  const secret = new docker.Secret(
    resourceName,
    {
      name: pulumi.interpolate`${args.namePrefix}-${args.hash}`,
      data: args.content.apply((t) => Buffer.from(t).toString("base64")),
      labels: args.labels,
    },
    { parent, additionalSecretOutputs: ["data"], aliases: args.aliases },
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
