/** Rules of `mqtt-edge:broker` across its own fields. */
import { type ProblemSink, show } from "../problems";
import type { BrokerInput } from "../schemas";
import type { AclRule, BridgeTopic, HostConfig, PortPublish } from "../types";

/** mosquitto's plain MQTT listener inside the private network. */
const MQTT_TCP_PORT = 1883;

export function checkBroker(b: BrokerInput, p: ProblemSink): void {
  if (!b.allowAnonymous && b.users.length === 0) {
    p.add(
      "users",
      "expected at least one user when allowAnonymous is false (nobody could connect)",
    );
  }
  if (!b.allowAnonymous && b.anonymousAcl !== undefined) {
    p.add("anonymousAcl", "only used when allowAnonymous is true");
  }
  const seen = checkUserNames(b, p);
  if (b.monitorUser !== undefined) checkMonitorUser(b, b.monitorUser, seen, p);
  if (b.bridge !== undefined) checkBridgeUser(b.bridge.user, b.monitorUser, seen, p);
  if (b.probeUser !== undefined) checkProbeUser(b, b.probeUser, seen, p);
  if (b.websocketPort === MQTT_TCP_PORT)
    p.add(
      "websocketPort",
      `expected a port other than ${MQTT_TCP_PORT}, the internal MQTT listener (got ${b.websocketPort})`,
    );
  const pubs = [b.tcp?.publish, b.websocket?.publish].filter((x): x is PortPublish => !!x);
  if (pubs.length === 2 && pubs[0].port === pubs[1].port && pubs[0].ip === pubs[1].ip) {
    p.add(
      ["websocket", "publish"],
      `expected a different host port than tcp.publish (both ${pubs[0].ip}:${pubs[0].port})`,
    );
  }
}

/** Refuses duplicate user names; returns the index of each name's first use. */
function checkUserNames(b: BrokerInput, p: ProblemSink): Map<string, number> {
  const seen = new Map<string, number>();
  b.users.forEach((u, i) => {
    const prev = seen.get(u.name);
    if (prev !== undefined)
      p.add(["users", i, "name"], `duplicate user ${show(u.name)} (also users[${prev}])`);
    else seen.set(u.name, i);
  });
  return seen;
}

/** The topic tree of the probe user (`npm run probe`): a $-topic, which `#` does not match. */
export const PROBE_TOPICS = "$mqtt-edge/probe";

/**
 * The probe user's ACL: its own tree and nothing else. Mosquitto 2.0 lets a `deny` entry win over
 * any grant of a topic it matches, patterns included, and `#` matches no topic starting with '$'
 * (tests/broker/probe.test.ts).
 */
export function probeAcl(): AclRule[] {
  return [
    { access: "deny", topic: "#" },
    { access: "readwrite", topic: `${PROBE_TOPICS}/#` },
  ];
}

/** The probe user's ACL is its own tree only: its name is its own, and no pattern reaches it. */
function checkProbeUser(
  b: BrokerInput,
  probeUser: string,
  seen: Map<string, number>,
  p: ProblemSink,
): void {
  const also =
    seen.get(probeUser) !== undefined
      ? `users[${seen.get(probeUser)}]`
      : probeUser === b.monitorUser
        ? "monitorUser"
        : probeUser === b.bridge?.user
          ? "bridge.user"
          : undefined;
  if (also !== undefined)
    p.add(
      "probeUser",
      `duplicate user ${show(probeUser)} (also ${also}); the probe user may use ${PROBE_TOPICS}/# only, so it needs a name of its own`,
    );
  refuseDollarPatterns(b, "probeUser", `the probe user may use ${PROBE_TOPICS}/# only`, p);
}

/**
 * A user kept to its own tree by `deny #` (the monitor and probe users) is still reached by a
 * pattern on a $-topic, which `#` does not match: patterns apply to every user.
 */
function refuseDollarPatterns(b: BrokerInput, key: string, limit: string, p: ProblemSink): void {
  b.patterns.forEach((r, i) => {
    if (r.topic.startsWith("$"))
      p.add(
        ["patterns", i, "topic"],
        `expected a topic that does not start with '$' when ${key} is set (patterns apply to every user, and ${limit}) (got ${show(r.topic)})`,
      );
  });
}

/** A site broker's bridge speaks native MQTT: it needs a host with a TCP hostname. */
export function checkBridgeRoute(
  broker: BrokerInput | undefined,
  hosts: HostConfig[],
  p: ProblemSink,
): void {
  if (broker?.bridge && !hosts.some((h) => h.tcpHostname))
    p.add(
      undefined,
      "only used with tunnel.tcpHostname (or hosts[].tcpHostname) in managed mode: a site broker's bridge speaks native MQTT, which reaches the broker through the tunnel's TCP route",
    );
}

/**
 * What the bridge user may do on this broker: a site bridge publishes its `out` topics here
 * (write) and subscribes to its `in` topics (read).
 */
export function bridgeAcl(topics: BridgeTopic[]): AclRule[] {
  const access = { out: "write", in: "read", both: "readwrite" } as const;
  return topics.map((t) => ({ access: access[t.direction], topic: t.topic }));
}

/** The bridge user's ACL allows the bridged topics only: its name is its own. */
function checkBridgeUser(
  user: string,
  monitorUser: string | undefined,
  seen: Map<string, number>,
  p: ProblemSink,
): void {
  const also = seen.get(user);
  if (also === undefined && user !== monitorUser) return;
  p.add(
    ["bridge", "user"],
    `duplicate user ${show(user)} (also ${also !== undefined ? `users[${also}]` : "monitorUser"}); the bridge user's ACL allows the bridged topics only, so it needs a name of its own`,
  );
}

function checkMonitorUser(
  b: BrokerInput,
  monitorUser: string,
  seen: Map<string, number>,
  p: ProblemSink,
): void {
  const also = seen.get(monitorUser);
  if (also !== undefined)
    p.add(
      "monitorUser",
      `duplicate user ${show(monitorUser)} (also users[${also}]); the monitor user may read $SYS/# only, so it needs a name of its own`,
    );
  // The ACL denies the monitor user every other topic with `deny #`, which matches no $-topic:
  // a pattern on a $-topic would be the one grant that still reached it.
  refuseDollarPatterns(b, "monitorUser", "the monitor user may read $SYS/# only", p);
}
