import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mosquittoNoAnonymous, mosquittoPortNotPublic } from "../policies";
import { TYPE, UNKNOWN_STRING, validate, violations } from "./harness";

/** What components/render.ts renders for the default broker (abridged). */
function conf(allowAnonymous: string | undefined): string {
  return [
    "# Rendered by mqtt-edge; replaced on every deploy.",
    "per_listener_settings false",
    ...(allowAnonymous === undefined ? [] : [`allow_anonymous ${allowAnonymous}`]),
    "password_file /mosquitto/config/passwd",
    "acl_file /mosquitto/config/acl",
    "",
    "listener 1883",
    "protocol mqtt",
    "",
    "listener 9001",
    "protocol websockets",
    "",
  ].join("\n");
}

function broker(
  mosquittoConf: string | undefined,
  extra: Record<string, unknown> = {},
  image = "eclipse-mosquitto:2.0.22",
) {
  return {
    type: TYPE.container,
    name: "local-broker-mosquitto",
    props: {
      image,
      uploads: [
        { file: "/mosquitto/config/mosquitto.conf", content: mosquittoConf, permissions: "0640" },
        { file: "/mosquitto/config/acl", content: "user sensor\ntopic write sensors/#\n" },
        // The password file's content is a secret, unknown on the first preview.
        { file: "/mosquitto/config/passwd", content: UNKNOWN_STRING },
      ],
      ...extra,
    },
  };
}

describe("mosquitto-no-anonymous", () => {
  const policy = mosquittoNoAnonymous();

  it("accepts the product's broker (allow_anonymous false)", async () => {
    assert.deepEqual(await violations(policy, broker(conf("false"))), []);
  });

  it("refuses allow_anonymous true", async () => {
    const v = await violations(policy, broker(conf("true")));
    assert.equal(v.length, 1);
    assert.match(v[0], /docker\.Container "local-broker-mosquitto" \(eclipse-mosquitto:2\.0\.22\)/);
    assert.match(v[0], /\/mosquitto\/config\/mosquitto\.conf with "allow_anonymous true"/);
    assert.match(v[0], /allow_anonymous false/);
  });

  it("finds allow_anonymous true on any listener, indented or with a comment", async () => {
    const c = `${conf("false")}\nlistener 1884\n  allow_anonymous   true  # for the test bench\n`;
    assert.equal((await violations(policy, broker(c))).length, 1);
  });

  it("ignores a commented-out allow_anonymous true", async () => {
    const c = conf("false").replace("per_listener_settings false", "#allow_anonymous true");
    assert.deepEqual(await violations(policy, broker(c)), []);
  });

  it("reads a base64 upload", async () => {
    const b = broker(undefined);
    (b.props.uploads[0] as Record<string, unknown>).contentBase64 = Buffer.from(
      conf("true"),
    ).toString("base64");
    assert.equal((await violations(policy, b)).length, 1);
  });

  it("accepts Mosquitto 2 without allow_anonymous (its default is false)", async () => {
    assert.deepEqual(await violations(policy, broker(conf(undefined))), []);
  });

  it("refuses Mosquitto 1.x without allow_anonymous false (its default is true)", async () => {
    const v = await violations(policy, broker(conf(undefined), {}, "eclipse-mosquitto:1.6.15"));
    assert.equal(v.length, 1);
    assert.match(v[0], /Mosquitto 1\.x/);
    assert.deepEqual(
      await violations(policy, broker(conf("false"), {}, "eclipse-mosquitto:1.6.15")),
      [],
    );
  });

  it("skips a mosquitto.conf whose content is unknown during preview", async () => {
    const outcome = await validate(policy, broker(UNKNOWN_STRING));
    assert.deepEqual(outcome.violations, []);
    assert.deepEqual(outcome.unknown, []);
  });

  it("leaves other images alone", async () => {
    const b = broker(conf("true"), {}, "cloudflare/cloudflared:2025.11.1");
    assert.deepEqual(await violations(policy, b), []);
  });

  it("only reads the upload named mosquitto.conf", async () => {
    const b = broker(conf("false"));
    b.props.uploads.push({ file: "/mosquitto/config/README", content: "allow_anonymous true\n" });
    assert.deepEqual(await violations(policy, b), []);
  });

  it("refuses a swarm ServiceConfig that allows anonymous clients", async () => {
    const cfg = (text: string) => ({
      type: TYPE.serviceConfig,
      name: "swarm-mosquitto-conf",
      props: { name: "mosquitto-conf-1", data: Buffer.from(text).toString("base64") },
    });
    const v = await violations(policy, cfg(conf("true")));
    assert.equal(v.length, 1);
    assert.match(v[0], /docker\.ServiceConfig "swarm-mosquitto-conf"/);
    assert.deepEqual(await violations(policy, cfg(conf("false"))), []);
  });
});

describe("mosquitto-port-not-public", () => {
  const policy = mosquittoPortNotPublic();
  const ports = (...p: Record<string, unknown>[]) => ({
    type: TYPE.container,
    name: "local-broker-mosquitto",
    props: { image: "eclipse-mosquitto:2.0.22", ports: p },
  });

  it("accepts no published ports (the default) and 1883 on 127.0.0.1", async () => {
    assert.deepEqual(await violations(policy, ports()), []);
    assert.deepEqual(
      await violations(
        policy,
        ports({ internal: 1883, external: 1883, ip: "127.0.0.1", protocol: "tcp" }),
      ),
      [],
    );
  });

  for (const ip of [undefined, "0.0.0.0", "::", ""]) {
    it(`refuses 1883 published on ${ip === undefined ? "no ip" : JSON.stringify(ip)}`, async () => {
      const v = await violations(
        policy,
        ports({ internal: 1883, external: 1883, ip, protocol: "tcp" }),
      );
      assert.equal(v.length, 1);
      assert.match(v[0], /docker\.Container "local-broker-mosquitto" publishes port 1883/);
      assert.match(v[0], /127\.0\.0\.1/);
    });
  }

  it("leaves other ports alone (9001 on all addresses is another decision)", async () => {
    assert.deepEqual(await violations(policy, ports({ internal: 9001, external: 9001 })), []);
    assert.deepEqual(await violations(policy, ports({ internal: 8080, external: 1883 })), []);
  });

  it("refuses a host-network mosquitto container", async () => {
    const v = await violations(policy, {
      type: TYPE.container,
      props: { image: "eclipse-mosquitto:2.0.22", networkMode: "host" },
    });
    assert.equal(v.length, 1);
    assert.match(v[0], /networkMode "host"/);
  });

  it("refuses a swarm service publishing 1883 in any mode", async () => {
    for (const publishMode of ["ingress", "host"]) {
      const v = await violations(policy, {
        type: TYPE.service,
        name: "swarm-broker",
        props: {
          taskSpec: { containerSpec: { image: "eclipse-mosquitto:2.0.22" } },
          endpointSpec: { ports: [{ targetPort: 1883, publishedPort: 1883, publishMode }] },
        },
      });
      assert.equal(v.length, 1);
      assert.match(v[0], /docker\.Service "swarm-broker" publishes target port 1883/);
    }
  });

  it("accepts a swarm service publishing only other ports", async () => {
    const v = await violations(policy, {
      type: TYPE.service,
      props: {
        taskSpec: { containerSpec: { image: "dockerflow/docker-flow-proxy:25.08.1" } },
        endpointSpec: { ports: [{ targetPort: 80, publishedPort: 80 }, { targetPort: 443 }] },
      },
    });
    assert.deepEqual(v, []);
  });
});
