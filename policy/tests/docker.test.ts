import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dockerImagesPinned, dockerNoPrivileged, dockerNoRawSocket } from "../policies";
import { TYPE, UNKNOWN_STRING, validate, violations } from "./harness";

const DIGEST = "sha256:" + "ab".repeat(32);

describe("docker-images-pinned", () => {
  const policy = dockerImagesPinned();
  const container = (image: string) => ({ type: TYPE.container, name: "broker", props: { image } });

  for (const image of [
    "eclipse-mosquitto:2.0.22",
    "cloudflare/cloudflared:2025.11.1",
    `eclipse-mosquitto@${DIGEST}`,
    `eclipse-mosquitto:2.0.22@${DIGEST}`,
    "registry.local:5000/team/mosquitto:2.0.22",
    DIGEST,
  ]) {
    it(`accepts ${image}`, async () => {
      assert.deepEqual(await violations(policy, container(image)), []);
    });
  }

  for (const [image, why] of [
    ["eclipse-mosquitto:latest", /"latest"/],
    ["eclipse-mosquitto:LATEST", /"latest"/],
    ["eclipse-mosquitto", /no tag/],
    ["registry.local:5000/mosquitto", /no tag/],
    ["registry.local:5000/mosquitto:latest", /"latest"/],
    ["eclipse-mosquitto@sha256:abc", /malformed digest/],
    // The config's rule too (shared/images.ts): sha256 digests only.
    [`eclipse-mosquitto@sha512:${"ab".repeat(64)}`, /malformed digest/],
  ] as const) {
    it(`refuses ${image}`, async () => {
      const v = await violations(policy, container(image));
      assert.equal(v.length, 1);
      assert.match(v[0], why);
      assert.match(v[0], /docker\.Container "broker"/);
      assert.match(v[0], new RegExp(`image "${image.replace(/[.]/g, "\\.")}"`));
      assert.match(v[0], /Pin it/);
    });
  }

  it("checks a swarm service's taskSpec.containerSpec.image", async () => {
    const svc = (image: string) => ({
      type: TYPE.service,
      name: "proxy",
      props: { taskSpec: { containerSpec: { image } } },
    });
    const bad = await violations(policy, svc("dockerflow/docker-flow-proxy"));
    assert.equal(bad.length, 1);
    assert.match(bad[0], /docker\.Service "proxy": taskSpec\.containerSpec\.image/);
    assert.deepEqual(await violations(policy, svc("dockerflow/docker-flow-proxy:25.08.1")), []);
  });

  it("checks a RemoteImage's name", async () => {
    const img = (name: string) => ({ type: TYPE.remoteImage, name: "img", props: { name } });
    assert.equal((await violations(policy, img("tecnativa/docker-socket-proxy:latest"))).length, 1);
    assert.deepEqual(await violations(policy, img("tecnativa/docker-socket-proxy:v0.4.1")), []);
  });

  it("does not apply to other resource types", async () => {
    const outcome = await validate(policy, { type: TYPE.network, props: { name: "latest" } });
    assert.deepEqual(outcome.violations, []);
    assert.deepEqual(outcome.notApplicable, [
      "applies to docker.Container, docker.Service, docker.RemoteImage only",
    ]);
  });

  // The engine counts a policy as passed by a resource only if no validation of it said "not
  // applicable"; with one entry per type, a Container would never pass a Docker policy.
  it("applies, as a whole, to each type it checks", async () => {
    for (const resource of [
      container("eclipse-mosquitto:2.0.22"),
      { type: TYPE.service, props: { taskSpec: { containerSpec: { image: "x:1" } } } },
      { type: TYPE.remoteImage, props: { name: "x:1" } },
    ]) {
      assert.deepEqual(await validate(policy, resource), {
        violations: [],
        notApplicable: [],
        unknown: [],
      });
    }
  });

  it("cannot judge an image that is unknown during preview", async () => {
    const outcome = await validate(policy, container(UNKNOWN_STRING));
    assert.deepEqual(outcome.violations, []);
    assert.equal(outcome.unknown.length, 1);
  });
});

describe("docker-no-privileged", () => {
  const policy = dockerNoPrivileged();

  it("refuses a privileged container", async () => {
    const v = await violations(policy, {
      type: TYPE.container,
      name: "bad",
      props: { image: "x:1", privileged: true },
    });
    assert.equal(v.length, 1);
    assert.match(v[0], /docker\.Container "bad" runs privileged/);
  });

  it("accepts the hardened shape of the product's containers", async () => {
    const v = await violations(policy, {
      type: TYPE.container,
      props: { image: "x:1", privileged: false, capabilities: { drops: ["ALL"] } },
    });
    assert.deepEqual(v, []);
  });

  it("refuses dangerous capability adds, with or without CAP_ and in any case", async () => {
    const v = await violations(policy, {
      type: TYPE.container,
      props: { image: "x:1", capabilities: { adds: ["cap_sys_admin", "NET_ADMIN", "CHOWN"] } },
    });
    assert.equal(v.length, 1);
    assert.match(v[0], /cap_sys_admin, NET_ADMIN \(capabilities\.adds\)/);
    assert.doesNotMatch(v[0], /CHOWN/);
  });

  it("allows narrow capabilities", async () => {
    const v = await violations(policy, {
      type: TYPE.container,
      props: { image: "x:1", capabilities: { adds: ["NET_BIND_SERVICE"], drops: ["ALL"] } },
    });
    assert.deepEqual(v, []);
  });

  it("refuses a service adding ALL", async () => {
    const svc = (capAdds: string[]) => ({
      type: TYPE.service,
      props: { taskSpec: { containerSpec: { image: "x:1", capAdds } } },
    });
    const v = await violations(policy, svc(["ALL"]));
    assert.equal(v.length, 1);
    assert.match(v[0], /taskSpec\.containerSpec\.capAdds/);
    assert.deepEqual(await violations(policy, svc(["NET_BIND_SERVICE"])), []);
  });
});

describe("docker-no-raw-socket", () => {
  const policy = dockerNoRawSocket();
  const proxyLabel = { label: "dev.mqtt-edge.role", value: "socket-proxy" };

  it("refuses /var/run/docker.sock as a volume host path", async () => {
    const v = await violations(policy, {
      type: TYPE.container,
      name: "listener",
      props: {
        image: "x:1",
        volumes: [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }],
      },
    });
    assert.equal(v.length, 1);
    assert.match(
      v[0],
      /docker\.Container "listener" mounts the host path \/var\/run\/docker\.sock/,
    );
    assert.match(v[0], /socket proxy/);
    assert.match(v[0], /dev\.mqtt-edge\.role=socket-proxy/);
  });

  for (const source of [
    "/run/docker.sock",
    "/var/run",
    "/var/run/",
    "//var//run/docker.sock",
    "/run/user/1000/docker.sock",
    "/",
  ]) {
    it(`refuses a bind mount of ${source}`, async () => {
      const v = await violations(policy, {
        type: TYPE.container,
        props: { image: "x:1", mounts: [{ type: "bind", source, target: "/sock" }] },
      });
      assert.equal(v.length, 1);
      assert.match(v[0], /mounts\[\]\.source/);
    });
  }

  it("ignores volume mounts and unrelated bind mounts", async () => {
    const v = await violations(policy, {
      type: TYPE.container,
      props: {
        image: "x:1",
        mounts: [
          { type: "volume", source: "docker.sock", target: "/data" },
          { type: "bind", source: "/srv/docker.socket-notes", target: "/notes" },
          { type: "bind", source: "/var/lib/mqtt", target: "/data" },
        ],
        volumes: [{ volumeName: "data", containerPath: "/data" }],
      },
    });
    assert.deepEqual(v, []);
  });

  it("exempts the container labelled as the socket proxy", async () => {
    const v = await violations(policy, {
      type: TYPE.container,
      props: {
        image: "tecnativa/docker-socket-proxy:v0.4.1",
        labels: [proxyLabel],
        volumes: [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }],
      },
    });
    assert.deepEqual(v, []);
  });

  it("does not exempt a different role", async () => {
    const v = await violations(policy, {
      type: TYPE.container,
      props: {
        image: "x:1",
        labels: [{ label: "dev.mqtt-edge.role", value: "proxy" }],
        volumes: [{ hostPath: "/var/run/docker.sock" }],
      },
    });
    assert.equal(v.length, 1);
  });

  // What the real engine sends in a preview of this program: the broker's label list carries a
  // config hash computed from another resource's outputs, so it is unknown on create.
  it("checks the mounts of a container whose labels are unknown during preview", async () => {
    const broker = {
      type: TYPE.container,
      name: "local-broker-mosquitto",
      props: {
        image: "eclipse-mosquitto:2.0.22",
        labels: UNKNOWN_STRING,
        mounts: [{ type: "volume", source: "mqtt-edge-dev-local-mosquitto-config", target: "/c" }],
      },
    };
    const outcome = await validate(policy, broker);
    assert.deepEqual(outcome.unknown, [], "no can't-run-during-preview advisory");
    assert.deepEqual(outcome.violations, []);

    const socket = { type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" };
    for (const labels of [
      UNKNOWN_STRING,
      [UNKNOWN_STRING],
      [{ label: "a", value: "b" }, UNKNOWN_STRING],
    ]) {
      const v = await violations(policy, {
        ...broker,
        props: { ...broker.props, labels, mounts: [socket] },
      });
      assert.equal(v.length, 1, JSON.stringify(labels));
      assert.match(v[0], /labels are not known during preview/);
    }
  });

  it("refuses a swarm service binding the socket, exempts the labelled proxy", async () => {
    const svc = (labels: unknown[], specLabels: unknown[] = []) => ({
      type: TYPE.service,
      name: "swarm-listener",
      props: {
        labels,
        taskSpec: {
          containerSpec: {
            image: "x:1",
            labels: specLabels,
            mounts: [
              { type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" },
            ],
          },
        },
      },
    });
    const v = await violations(policy, svc([]));
    assert.equal(v.length, 1);
    assert.match(v[0], /docker\.Service "swarm-listener" bind-mounts \/var\/run\/docker\.sock/);
    assert.deepEqual(await violations(policy, svc([proxyLabel])), []);
    assert.deepEqual(await violations(policy, svc([], [proxyLabel])), []);
    // Known on either level is enough; unknown on both refuses the socket.
    assert.deepEqual(await violations(policy, svc(UNKNOWN_STRING as never, [proxyLabel])), []);
    const unknown = await violations(policy, svc([], UNKNOWN_STRING as never));
    assert.equal(unknown.length, 1);
    assert.match(unknown[0], /labels are not known during preview/);
  });
});
