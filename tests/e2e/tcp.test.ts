/**
 * Native MQTT over TCP through the tunnel, end to end: `pulumi up` of the README's example
 * (managed mode, against the fake Cloudflare API) with the real providers on a real Docker engine.
 *
 * There is no Cloudflare edge here, so the path a client's bytes take is checked in the parts that
 * exist: the fake holds the TCP hostname's DNS record and Access application; the real cloudflared
 * validates the deployed ingress rules and picks the tcp:// rule for the hostname; the kit's
 * compose file runs the real `cloudflared access tcp` with the token in its environment only; and
 * a real mosquitto runs the kit's bridge block as written, as a site broker whose 127.0.0.1:11883
 * (where `cloudflared access tcp` would listen) is a TCP relay to the deployed broker's
 * mosquitto:1883 on the broker network: the hop `cloudflared access tcp`, the edge and the
 * connector make, minus the edge.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { stringify as stringifyYaml } from "yaml";
import type { ClientKit } from "../../components/render";
import type { FakeCloudflareApi } from "../support/cloudflareApi";
import { readmeExample } from "../support/readmeExamples";
import {
  API_TOKEN,
  assertNoSecrets,
  BROKER_WS,
  brokerReady,
  deploySuite,
  docker,
  dockerJson,
  E2EStack,
  IMAGES,
  leftovers,
  managedTunnel,
  publishRetained,
  requireTools,
  startFakeCloudflare,
  type ClientAt,
  until,
  watchTopics,
} from "../support/e2eStack";

const STACK = "h4tcp";
const PREFIX = `mqtt-edge-${STACK}-local`;
const BROKER_NET = `${PREFIX}-broker`;
const TCP_HOST = "mqtt-tcp.example.com";
const RELAY = `${STACK}-site-relay`;
const SITE = `${STACK}-site-broker`;
const SITE_NET = `container:${RELAY}`;
const SITE_URL = "mqtt://127.0.0.1:1883";
const KIT_PROJECT = `${STACK}kit`;
/** The README's example, deployed as written; the test adds only what its environment needs. */
const EXAMPLE = readmeExample("## Native MQTT over TCP through the tunnel");
/** A user of the test's own on the central broker: reads everything, may write other/#. */
const AUDIT = {
  name: "audit",
  acl: [
    { access: "read", topic: "#" },
    { access: "write", topic: "other/#" },
  ],
};

/**
 * What `cloudflared access tcp` + the edge + the connector do for one TCP connection, in one
 * process: accept on the site's 127.0.0.1:11883, dial the broker's mosquitto:1883 from the broker
 * network, copy bytes both ways.
 */
const RELAY_JS = `
const net = require("net");
net.createServer((c) => {
  const u = net.connect(1883, "mosquitto");
  c.pipe(u); u.pipe(c);
  c.on("error", () => u.destroy()); u.on("error", () => c.destroy());
  c.on("close", () => u.destroy()); u.on("close", () => c.destroy());
}).listen(11883, "127.0.0.1", () => console.log("relay listening"));
`;

/** A device of the site broker: anonymous, on 127.0.0.1 in the relay's network namespace. */
const SITE_AT: ClientAt = { network: SITE_NET, url: SITE_URL };

/** A retained QoS 1 publish the broker acknowledged. */
function publish(at: ClientAt, topic: string, message: string): void {
  const r = publishRetained(at, topic, message);
  assert.equal(r.status, 0, `publish ${topic}: ${r.output}`);
}

/**
 * How often the central broker has logged in a bridge as the bridge user. Mosquitto says "New
 * bridge connected" for a mosquitto bridge (it marks its CONNECT as a bridge's), "New client
 * connected" for anything else, such as brokerReady's probe as the same user.
 */
function bridgeLogins(): number {
  const l = spawnSync("docker", ["logs", `${PREFIX}-mosquitto`], { encoding: "utf8" });
  return (`${l.stdout}${l.stderr}`.match(/New bridge connected .* u'site-bridge'/g) ?? []).length;
}

function removeContainers(...names: string[]) {
  spawnSync("docker", ["rm", "-f", ...names], { stdio: "ignore" });
}

deploySuite(
  "native MQTT over TCP: tcpHostname, its Access app, the client kit and a site bridge",
  {
    timeout: 30 * 60_000,
  },
  () => {
    let tools: ReturnType<typeof requireTools>;
    let fake: FakeCloudflareApi;
    let stack: E2EStack;
    let passwords: Record<string, string> = {};
    let kit: ClientKit;
    let kitDir: string | undefined;
    let config: Record<string, unknown>;
    /** The TCP hostname's service token in the fake API. */
    const tcpToken = () =>
      [...fake.state.serviceTokens.values()].find((t) => t.name.endsWith("-mqtt-tcp-client"))!;
    const withTunnel = (extra: Record<string, unknown>) => ({
      ...config,
      tunnel: { ...(config.tunnel as object), ...extra },
    });
    /** `name` on the central broker's WebSocket listener, from the broker network. */
    const central = (name: string): ClientAt => ({
      network: BROKER_NET,
      url: BROKER_WS,
      user: name,
      password: passwords[name],
    });

    before(async () => {
      tools = requireTools();
      if (spawnSync("docker-compose", ["version"], { stdio: "ignore" }).status !== 0) {
        throw new Error("this suite needs docker-compose (apt-get install docker-compose)");
      }
      const started = await startFakeCloudflare();
      fake = started.fake;
      stack = new E2EStack(STACK);
      const broker = EXAMPLE["mqtt-edge:broker"] as { users: unknown[] };
      config = {
        tunnel: managedTunnel(tools.cloudflaredImage, EXAMPLE["mqtt-edge:tunnel"]),
        broker: { image: IMAGES.mosquitto, ...broker, users: [...broker.users, AUDIT] },
        "cloudflare:baseUrl": started.baseUrl,
      };
      await stack.configure(config, { "cloudflare:apiToken": API_TOKEN });
    });

    after(async () => {
      removeContainers(SITE, RELAY);
      if (kitDir) {
        spawnSync("docker-compose", ["-p", KIT_PROJECT, "down", "--timeout", "1"], {
          cwd: kitDir,
          stdio: "ignore",
        });
      }
      if (stack) await stack.cleanup();
      if (fake) await fake.stop();
    });

    test("up: the kit is a secret output, and the bridge user has a generated password", async () => {
      const r = await stack.up();
      assert.equal(r.summary.result, "succeeded");
      const outputs = await stack.outputs();
      assert.equal(outputs.clientKits.secret, true);
      assert.equal(outputs.mqttCredentials.secret, true);
      passwords = outputs.mqttCredentials.value;
      assert.deepEqual(Object.keys(passwords).sort(), ["audit", "dashboard", "site-bridge"]);
      // hosts stays readable (only each host's tunnelToken inside is secret) and names the route.
      assert.equal(outputs.hosts.secret, false);
      assert.equal(outputs.hosts.value.local.tcpHostname, TCP_HOST);
      kit = outputs.clientKits.value.local;
      assert.equal(kit.hostname, TCP_HOST);
      assert.equal(kit.localAddress, "127.0.0.1:11883");
      assert.ok(kit.bridge, "the kit has a bridge block");
      await brokerReady(BROKER_NET, "dashboard", passwords.dashboard);
      await brokerReady(
        BROKER_NET,
        "site-bridge",
        passwords["site-bridge"],
        "mqtt://mosquitto:1883",
      );
    });

    test("the fake API holds the TCP hostname's DNS record and an Access app admitting the kit's service token only", () => {
      const tunnel = [...fake.state.tunnels.values()].find((t) => !t.deletedAt)!;
      const record = [...fake.state.dnsRecords.values()].find((r) => r.name === TCP_HOST);
      assert.ok(record, `a DNS record for ${TCP_HOST}`);
      assert.equal(record.type, "CNAME");
      assert.equal(record.content, `${tunnel.id}.cfargotunnel.com`);
      assert.equal(record.proxied, true);

      const apps = [...fake.state.accessApps.values()];
      assert.equal(apps.length, 1, "tunnel.access is off: the TCP hostname's app is the only one");
      assert.equal(apps[0].body.domain, TCP_HOST);
      assert.equal(apps[0].body.type, "self_hosted");
      const policyIds = (apps[0].body.policies as { id: string }[]).map((p) => p.id);
      assert.equal(policyIds.length, 1);
      const policy = fake.state.accessPolicies.get(policyIds[0])!;
      assert.equal(policy.body.decision, "non_identity");
      const includes = policy.body.include as { service_token?: { token_id: string } }[];
      assert.equal(includes.length, 1);
      const token = fake.state.serviceTokens.get(includes[0].service_token!.token_id)!;
      assert.ok(token, "the policy's service token exists");
      assert.equal(
        kit.dotenv,
        `TUNNEL_SERVICE_TOKEN_ID=${token.clientId}\nTUNNEL_SERVICE_TOKEN_SECRET=${token.clientSecret}\n`,
      );
    });

    test("cloudflared validates the deployed ingress and routes the TCP hostname to tcp://mosquitto:1883", () => {
      const tunnel = [...fake.state.tunnels.values()].find((t) => !t.deletedAt)!;
      const ingress = (fake.state.configs.get(tunnel.id)!.config as { ingress: unknown[] }).ingress;
      assert.deepEqual(ingress.at(-2), { hostname: TCP_HOST, service: "tcp://mosquitto:1883" });
      const dir = mkdtempSync(join(tmpdir(), "mqtt-edge-tcp-ingress-"));
      const file = join(dir, "config.yml");
      writeFileSync(file, stringifyYaml({ tunnel: tunnel.id, ingress }));
      const run = (...args: string[]) =>
        spawnSync(tools.cloudflared, ["tunnel", "--config", file, "ingress", ...args], {
          encoding: "utf8",
        });
      const valid = run("validate");
      assert.equal(valid.status, 0, valid.stderr);
      assert.match(valid.stdout, /OK/);
      const rule = run("rule", `https://${TCP_HOST}`);
      assert.equal(rule.status, 0, rule.stderr);
      assert.match(rule.stdout, /tcp:\/\/mosquitto:1883/, rule.stdout);
      const ws = run("rule", "https://mqtt.example.com");
      assert.match(ws.stdout, /http:\/\/mosquitto:9001/, ws.stdout);
      assert.doesNotMatch(ws.stdout, /tcp:\/\//);
    });

    test("the kit's compose file runs cloudflared access tcp on 127.0.0.1:11883 with the token in its environment only", async () => {
      kitDir = mkdtempSync(join(tmpdir(), "mqtt-edge-kit-"));
      writeFileSync(join(kitDir, "docker-compose.yml"), kit.compose);
      writeFileSync(join(kitDir, ".env"), kit.dotenv, { mode: 0o600 });
      execFileSync("docker-compose", ["-p", KIT_PROJECT, "up", "-d"], {
        cwd: kitDir,
        stdio: "pipe",
      });
      const id = execFileSync("docker-compose", ["-p", KIT_PROJECT, "ps", "-q"], {
        cwd: kitDir,
        encoding: "utf8",
      }).trim();
      const c = dockerJson("inspect", id)[0];
      assert.equal(c.Config.Image, tools.cloudflaredImage);
      // The image's entrypoint is `cloudflared --no-autoupdate`, as the official image's is.
      assert.deepEqual(c.Config.Cmd, [
        "access",
        "tcp",
        "--hostname",
        TCP_HOST,
        "--url",
        "0.0.0.0:11883",
      ]);
      const [idLine, secretLine] = kit.dotenv.trim().split("\n");
      const env: string[] = c.Config.Env;
      assert.ok(
        env.includes(idLine) && env.includes(secretLine),
        "the token is in the environment",
      );
      assertNoSecrets(
        [JSON.stringify(c.Args), JSON.stringify(c.Config.Cmd), JSON.stringify(c.Config.Entrypoint)],
        [secretLine.split("=")[1]],
      );
      assert.deepEqual(c.HostConfig.PortBindings, {
        "11883/tcp": [{ HostIp: "127.0.0.1", HostPort: "11883" }],
      });
      // It listens: a TCP connection to the published port is accepted by cloudflared, which then
      // tries the edge for the hostname (unreachable here) and logs it.
      await until(
        "cloudflared access tcp accepts on 127.0.0.1:11883",
        30_000,
        () =>
          new Promise<boolean>((resolve) => {
            const s = connect(11883, "127.0.0.1", () => {
              s.end();
              resolve(true);
            });
            s.on("error", () => resolve(false));
          }),
      );
      const logs = await until("cloudflared's listener line", 30_000, () => {
        const l = spawnSync("docker", ["logs", id], { encoding: "utf8" });
        const text = `${l.stdout}${l.stderr}`;
        return /Start Websocket listener/.test(text) ? text : undefined;
      });
      assert.match(logs, /host=0\.0\.0\.0:11883/);
      // The connection above went on to the edge for the hostname (which does not resolve here).
      await until("cloudflared's dial of the hostname", 30_000, () => {
        const l = spawnSync("docker", ["logs", id], { encoding: "utf8" });
        return `${l.stdout}${l.stderr}`.includes(`originURL=https://${TCP_HOST}`);
      });
      assertNoSecrets([logs], [secretLine.split("=")[1]]);
      execFileSync("docker-compose", ["-p", KIT_PROJECT, "down", "--timeout", "1"], {
        cwd: kitDir,
        stdio: "pipe",
      });
    });

    test("a real mosquitto with the kit's bridge block: messages flow both ways, within the bridge user's ACL only", async () => {
      removeContainers(SITE, RELAY);
      try {
        docker(
          "run",
          "-d",
          "--name",
          RELAY,
          "--network",
          BROKER_NET,
          IMAGES.client,
          "node",
          "-e",
          RELAY_JS,
        );
        await until("the relay listens", 30_000, () =>
          docker("logs", RELAY).includes("relay listening"),
        );
        // The site broker: its own devices on 127.0.0.1:1883, and the kit's block as written, plus
        // one topic the bridge user's ACL does not allow, in both directions.
        const siteConf = [
          "listener 1883 127.0.0.1",
          "allow_anonymous true",
          "log_dest stderr",
          "log_type all",
          "",
          kit.bridge!.trimEnd(),
          "topic other/# both 1",
          "",
        ].join("\n");
        const dir = mkdtempSync(join(tmpdir(), "mqtt-edge-site-"));
        writeFileSync(join(dir, "mosquitto.conf"), siteConf, { mode: 0o600 });
        const loginsBefore = bridgeLogins();
        docker("create", "--name", SITE, "--network", SITE_NET, IMAGES.mosquitto);
        docker("cp", join(dir, "mosquitto.conf"), `${SITE}:/mosquitto/config/mosquitto.conf`);
        docker("start", SITE);

        // The central broker sees the bridge log in as the bridge user.
        await until("the bridge connects to the central broker as site-bridge", 60_000, () => {
          if (bridgeLogins() > loginsBefore) return true;
          const site = dockerJson("inspect", SITE)[0];
          if (!site.State.Running) {
            const l = spawnSync("docker", ["logs", SITE], { encoding: "utf8" });
            throw new Error(
              `the site broker exited: ${site.State.ExitCode}\n${l.stdout}${l.stderr}`,
            );
          }
          return false;
        });

        // Out: a device publishes on the site; the central broker's dashboard reads it.
        publish(SITE_AT, "sites/site-1/temp", "21.5");
        const out = watchTopics(central("dashboard"), ["sites/#"], "sites/site-1/temp", 20);
        assert.equal(out.status, 0, out.output);
        assert.deepEqual(
          out.messages.map((m) => [m.topic, m.payload]),
          [["sites/site-1/temp", "21.5"]],
        );

        // In: the dashboard publishes on the central broker; a device on the site reads it.
        publish(central("dashboard"), "commands/site-1/reboot", "now");
        const inbound = watchTopics(SITE_AT, ["commands/#"], "commands/site-1/reboot", 20);
        assert.equal(inbound.status, 0, inbound.output);
        assert.deepEqual(
          inbound.messages.map((m) => [m.topic, m.payload]),
          [["commands/site-1/reboot", "now"]],
        );

        // Outside the ACL, out: the site forwards other/from-site (its block says both), the
        // central broker drops it; sites/site-1/marker, forwarded after it, arrives.
        publish(SITE_AT, "other/from-site", "x");
        publish(SITE_AT, "sites/site-1/marker", "m");
        const audited = watchTopics(
          central("audit"),
          ["other/#", "sites/site-1/marker"],
          "sites/site-1/marker",
          20,
        );
        assert.equal(audited.status, 0, audited.output);
        assert.deepEqual(
          audited.messages.map((m) => m.topic),
          ["sites/site-1/marker"],
          "a topic outside the bridge user's ACL reached the central broker",
        );

        // Outside the ACL, in: other/from-central exists on the central broker (audit reads it
        // back), but the bridge may not read it; commands/site-1/marker, published after it, arrives.
        publish(central("audit"), "other/from-central", "y");
        const there = watchTopics(
          central("audit"),
          ["other/from-central"],
          "other/from-central",
          20,
        );
        assert.equal(there.status, 0, there.output);
        publish(central("dashboard"), "commands/site-1/marker", "m");
        const site = watchTopics(
          SITE_AT,
          ["other/from-central", "commands/site-1/marker"],
          "commands/site-1/marker",
          20,
        );
        assert.equal(site.status, 0, site.output);
        assert.deepEqual(
          site.messages.map((m) => m.topic),
          ["commands/site-1/marker"],
          "a topic outside the bridge user's ACL reached the site",
        );
      } finally {
        removeContainers(SITE, RELAY);
      }
    });

    test("a second preview reports no changes", async () => {
      const r = await stack.preview();
      const changed = Object.entries(r.changeSummary).filter(([op, n]) => op !== "same" && n > 0);
      assert.deepEqual(changed, [], r.stdout);
    });

    test("a refreshed preview reports no changes against what the API fills in on GET", async () => {
      const r = await stack.refreshedPreview();
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    });

    test("tunnel.accessSecret rotates the kit's secret in place; the old one works until previousValidUntil", async () => {
      const old = { ...tcpToken() };
      const until = new Date(Date.now() + 7 * 86_400_000).toISOString();
      await stack.configure(
        withTunnel({ accessSecret: { version: 2, previousValidUntil: until } }),
      );
      const r = await stack.up();
      assert.equal(r.summary.result, "succeeded");
      const now = tcpToken();
      assert.equal(now.id, old.id, "the same service token");
      assert.equal(now.clientId, old.clientId, "the same client id");
      assert.notEqual(now.clientSecret, old.clientSecret, "a new secret");
      assert.ok(fake.serviceTokenAccepts(now.clientId, now.clientSecret));
      assert.ok(fake.serviceTokenAccepts(old.clientId, old.clientSecret), "overlap");
      assert.ok(
        !fake.serviceTokenAccepts(
          old.clientId,
          old.clientSecret,
          new Date(Date.parse(until) + 1000),
        ),
        "the old secret lapses at previousValidUntil",
      );
      const newKit = (await stack.outputs()).clientKits.value.local as ClientKit;
      assert.ok(newKit.dotenv.includes(now.clientSecret), "the kit carries the new secret");
      config = withTunnel({ accessSecret: { version: 2, previousValidUntil: until } });
    });

    test("the expiry is an output, and preview warns when the token expires within 30 days", async () => {
      await stack.configure(withTunnel({ accessTokenDuration: "240h" }));
      const r = await stack.up();
      assert.equal(r.summary.result, "succeeded");
      const hosts = (await stack.outputs()).hosts.value as Record<string, Record<string, string>>;
      const at = Date.parse(hosts.local.tcpAccessTokenExpiresAt);
      assert.ok(Math.abs(at - Date.parse(tcpToken().expiresAt)) < 1000, "the fake's expiry");
      assert.ok(at - Date.now() < 10 * 86_400_000 && at > Date.now(), `expires ${at}`);
      const warnings: string[] = [];
      const p = await stack.preview((e) => {
        const d = e.diagnosticEvent;
        if (d && d.severity === "warning") warnings.push(d.message);
      });
      const cli = await stack.cli(["preview"]);
      assert.match(
        [...warnings, p.stdout, cli.stdout, cli.stderr].join("\n"),
        /Access service token \S+-mqtt-tcp-client expires in 9 days/,
      );
      config = withTunnel({ accessTokenDuration: "240h" });
    });

    test("state and everything printed hold neither the service token's secret nor the bridge password", async () => {
      const token = [...fake.state.serviceTokens.values()][0];
      const { exported, atRest } = await stack.exportState();
      assert.ok(exported.includes(TCP_HOST), "the export is the real state");
      assert.match(exported, /"ciphertext"/);
      assertNoSecrets(
        [exported, atRest, ...stack.printed],
        [token.clientSecret, passwords["site-bridge"]],
      );
    });

    test("destroy leaves nothing on the engine and nothing of the TCP hostname in the fake", async () => {
      await stack.destroy();
      assert.deepEqual(leftovers(STACK), []);
      assert.equal(
        [...fake.state.dnsRecords.values()].filter((r) => r.name === TCP_HOST).length,
        0,
      );
      assert.equal(fake.state.accessApps.size, 0);
      assert.equal(fake.state.accessPolicies.size, 0);
      assert.equal(fake.state.serviceTokens.size, 0);
    });
  },
);
