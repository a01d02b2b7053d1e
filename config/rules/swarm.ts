/** Rules of `mqtt-edge:swarm`, across the keys swarm mode constrains. */
import type { Problems } from "../problems";
import type { BrokerInput, SwarmInput, TunnelInput } from "../schemas";
import type { HostConfig } from "../types";
import { SWARM_PREFIX_MAX } from "../values";

export function checkSwarm(
  swarm: SwarmInput,
  ctx: {
    project: string;
    stack: string;
    hosts: HostConfig[];
    tunnel?: TunnelInput;
    broker?: BrokerInput;
  },
  problems: Problems,
): void {
  if (!swarm.enabled) return;
  const p = problems.at("swarm");
  // Docker refuses secret and config names over 64 characters; the longest the program makes is
  // the password secret, <project>-<stack>-<host>-mosquitto-passwd-<12 hex>.
  for (const h of ctx.hosts) {
    const prefix = `${ctx.project}-${ctx.stack}-${h.name}`;
    if (prefix.length > SWARM_PREFIX_MAX) {
      p.add(
        undefined,
        `stack "${ctx.stack}" with host "${h.name}" makes swarm object names too long: "${prefix}" is ${prefix.length} characters, at most ${SWARM_PREFIX_MAX} fit Docker's 64-character limit (shorten the stack or host name)`,
      );
    }
  }
  if (ctx.hosts.length > 1) {
    p.add(undefined, "swarm mode deploys to one swarm manager endpoint; expected at most one host");
  }
  for (const k of ["tcp", "websocket"] as const) {
    if (ctx.broker?.[k]?.publish) {
      problems
        .at("broker", k, "publish")
        .add(
          undefined,
          "not available in swarm mode: a swarm publishes ports on every address of every node; reach the broker through the tunnel or the overlay network",
        );
    }
  }
  if (ctx.broker?.healthStartInterval === true) {
    problems
      .at("broker", "healthStartInterval")
      .add(
        undefined,
        "not available in swarm mode: the docker provider's service healthcheck has no start interval (@pulumi/docker 5.0.0); leave it unset",
      );
  }
  if (ctx.tunnel?.metrics) {
    problems
      .at("tunnel", "metrics")
      .add(
        undefined,
        "not available in swarm mode: a swarm publishes one port for all replicas of a service, on every address of every node, so no connector's metrics could be told apart",
      );
  }
  if (swarm.httpHostnames.length && ctx.tunnel?.mode !== "managed") {
    p.add("httpHostnames", "only used in managed tunnel mode");
  }
}
