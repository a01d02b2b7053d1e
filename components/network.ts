import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { TYPES } from "../shared/resourceTypes";
import { labelList } from "./labels";

export interface PrivateNetworkArgs {
  /** Prefix of the Docker network names; unique per stack and host. */
  readonly physicalName: string;
  /** Swarm mode: overlay networks, attachable so tests and tools can join them; else bridges. */
  readonly swarm: boolean;
  /** Docker labels put on both networks (stackLabels). */
  readonly labels: Record<string, string>;
}

/**
 * The broker's network (internal: no route out of the host, so the broker cannot reach or be
 * reached from anything but its peers) and an egress network the connectors use to reach
 * Cloudflare. Only the connectors sit on both.
 */
export class PrivateNetwork extends pulumi.ComponentResource {
  /** Name of the internal network the broker and connectors share. */
  public readonly brokerNetwork: pulumi.Output<string>;
  /** Name of the network with a route to the internet, for the connectors. */
  public readonly egressNetwork: pulumi.Output<string>;

  constructor(name: string, args: PrivateNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.privateNetwork, name, {}, opts);
    const driver = args.swarm ? "overlay" : "bridge";
    const labels = labelList(args.labels);
    const broker = new docker.Network(
      `${name}-broker`,
      {
        name: `${args.physicalName}-broker`,
        driver,
        internal: true,
        attachable: args.swarm ? true : undefined,
        labels,
      },
      { parent: this, deleteBeforeReplace: true },
    );
    const egress = new docker.Network(
      `${name}-egress`,
      {
        name: `${args.physicalName}-egress`,
        driver,
        attachable: args.swarm ? true : undefined,
        labels,
      },
      { parent: this, deleteBeforeReplace: true },
    );
    this.brokerNetwork = broker.name;
    this.egressNetwork = egress.name;
    this.registerOutputs({ brokerNetwork: this.brokerNetwork, egressNetwork: this.egressNetwork });
  }
}
