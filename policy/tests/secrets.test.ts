import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { secretsMarkedSecret } from "../policies";
import { TYPE, UNKNOWN_STRING, validate, violations } from "./harness";

describe("secrets-marked-secret", () => {
  const policy = secretsMarkedSecret();
  const connector = (envs: string[], additionalSecretOutputs: string[] = []) => ({
    type: TYPE.container,
    name: "local-connector-1",
    props: {
      image: "cloudflare/cloudflared:2025.11.1",
      command: ["tunnel", "--no-autoupdate", "--metrics", "127.0.0.1:2000", "run"],
      envs,
    },
    opts: { additionalSecretOutputs },
  });

  it("accepts TUNNEL_TOKEN in envs listed in additionalSecretOutputs (the product's connector)", async () => {
    assert.deepEqual(await violations(policy, connector(["TUNNEL_TOKEN=eyJh"], ["envs"])), []);
  });

  it("refuses TUNNEL_TOKEN in envs without additionalSecretOutputs", async () => {
    const v = await violations(policy, connector(["TZ=UTC", "TUNNEL_TOKEN=eyJh"]));
    assert.equal(v.length, 1);
    assert.match(v[0], /docker\.Container "local-connector-1" passes TUNNEL_TOKEN in envs/);
    assert.match(v[0], /additionalSecretOutputs: \["envs"\]/);
    assert.doesNotMatch(v[0], /eyJh/, "the message must not echo the secret");
  });

  it("recognises other credential names but not *_FILE paths or harmless names", async () => {
    const v = await violations(
      policy,
      connector(["DB_PASSWORD=x", "API_KEY=y", "TUNNEL_TOKEN_FILE=/run/secrets/t", "TOKENIZER=z"]),
    );
    assert.equal(v.length, 1);
    assert.match(v[0], /passes DB_PASSWORD, API_KEY in envs/);
  });

  it("accepts a container without credentials", async () => {
    assert.deepEqual(await violations(policy, connector(["TZ=UTC"])), []);
    assert.deepEqual(await violations(policy, connector([])), []);
  });

  it("skips an env entry that is unknown during preview (the token before the tunnel exists)", async () => {
    const outcome = await validate(policy, connector([UNKNOWN_STRING]));
    assert.deepEqual(outcome.violations, []);
    assert.deepEqual(outcome.unknown, []);
  });

  const broker = (additionalSecretOutputs: string[]) => ({
    type: TYPE.container,
    name: "local-broker-mosquitto",
    props: {
      image: "eclipse-mosquitto:2.0.22",
      uploads: [
        { file: "/mosquitto/config/mosquitto.conf", content: "allow_anonymous false\n" },
        { file: "/mosquitto/config/passwd", content: "sensor:$7$101$..." },
      ],
    },
    opts: { additionalSecretOutputs },
  });

  it("refuses a password file upload without additionalSecretOutputs", async () => {
    const v = await violations(policy, broker([]));
    assert.equal(v.length, 1);
    assert.match(v[0], /uploads \/mosquitto\/config\/passwd, but "uploads" is not/);
    assert.doesNotMatch(v[0], /sensor:/);
  });

  it("accepts it with additionalSecretOutputs uploads (the product's broker)", async () => {
    assert.deepEqual(await violations(policy, broker(["uploads"])), []);
  });

  it("refuses --token on a command line", async () => {
    for (const command of [
      ["tunnel", "run", "--token", "eyJh"],
      ["tunnel", "run", "--token=eyJh"],
    ]) {
      const c = connector([]);
      c.props.command = command;
      const v = await violations(policy, c);
      assert.equal(v.length, 1);
      assert.match(v[0], /passes --token on its command line/);
    }
  });

  it("refuses a swarm service with a token in its env, accepts a docker.Secret", async () => {
    const svc = (env: Record<string, string> | undefined, secrets: unknown[] = []) => ({
      type: TYPE.service,
      name: "swarm-connector",
      props: {
        taskSpec: {
          containerSpec: {
            image: "cloudflare/cloudflared:2025.11.1",
            args: ["tunnel", "--no-autoupdate", "run"],
            env,
            secrets,
          },
        },
      },
    });
    const v = await violations(policy, svc({ TUNNEL_TOKEN: "eyJh" }));
    assert.equal(v.length, 1);
    assert.match(
      v[0],
      /docker\.Service "swarm-connector" passes TUNNEL_TOKEN in taskSpec\.containerSpec\.env/,
    );
    assert.match(v[0], /docker\.Secret/);
    const viaSecret = svc({ TUNNEL_TOKEN_FILE: "/run/secrets/tunnel-token" }, [
      { secretId: "s1", fileName: "/run/secrets/tunnel-token" },
    ]);
    assert.deepEqual(await violations(policy, viaSecret), []);
    const marked = {
      ...svc({ TUNNEL_TOKEN: "eyJh" }),
      opts: { additionalSecretOutputs: ["taskSpec"] },
    };
    assert.deepEqual(await violations(policy, marked), []);
  });
});
