import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FAKE_ACCOUNT, T, resolve, runProgram, type Recorder } from "../support/programRunner";

function fleet(
  n: number,
  over: { access?: boolean; zones?: string[]; hosts?: Record<string, unknown>[] } = {},
) {
  const hosts =
    over.hosts ??
    Array.from({ length: n }, (_, i) => ({
      name: `edge-${i + 1}`,
      docker: `ssh://deploy@edge-${i + 1}.internal`,
      hostname: `mqtt-${i + 1}.example.com`,
    }));
  return {
    tunnel: {
      mode: "managed",
      accountId: FAKE_ACCOUNT,
      ...(over.zones ? { zones: over.zones } : { zone: "example.com" }),
      replicas: 2,
      access: over.access ?? false,
    },
    hosts,
    broker: { users: [{ name: "u", acl: [{ access: "readwrite", topic: "#" }] }] },
  };
}

/** Inputs by URN, to compare two runs of the program. */
function byUrn(rec: Recorder): Map<string, string> {
  return new Map(rec.registrations.map((r) => [r.urn, JSON.stringify(r.inputs)]));
}

describe("fleet of Docker hosts", () => {
  for (const n of [1, 3, 50]) {
    test(`${n} host(s): each has its own provider, networks, broker, connectors, tunnel, config, DNS and token`, async () => {
      const { rec, outputs } = await runProgram(fleet(n));
      const per = (type: string) => rec.ofType(type).length;
      assert.equal(per(T.edgeHost), n);
      assert.equal(per(T.dockerProvider), n);
      assert.equal(per(T.network), 2 * n);
      assert.equal(per(T.container), 4 * n);
      assert.equal(per(T.tunnel), n);
      assert.equal(per(T.tunnelConfig), n);
      assert.equal(per(T.dnsRecord), n);
      const mqttPasswords = rec
        .ofType(T.password)
        .filter((r) => r.name.startsWith("mqtt-password-"));
      assert.equal(mqttPasswords.length, 1, "credentials are shared by the fleet");
      assert.equal(per(T.password), 1 + n, "and each tunnel has a secret of its own");
      const tokenCalls = rec.calls.filter((c) =>
        c.token.endsWith("getZeroTrustTunnelCloudflaredToken"),
      );
      assert.equal(
        new Set(tokenCalls.map((c) => c.inputs.tunnelId)).size,
        n,
        "one token per tunnel",
      );
      assert.equal(
        rec.calls.filter((c) => c.token.endsWith("getZones")).length,
        1,
        "one zone lookup",
      );
      // Every container of host i runs through host i's provider.
      for (let i = 1; i <= n; i++) {
        const provider = rec.byName(`edge-${i}-docker`);
        assert.equal(provider.inputs.host, `ssh://deploy@edge-${i}.internal`);
        const mine = rec.ofType(T.container).filter((c) => c.name.startsWith(`edge-${i}-`));
        assert.equal(mine.length, 4);
        for (const c of mine)
          assert.ok(c.provider.startsWith(provider.urn), `${c.name} on ${provider.name}`);
      }
      const names = new Set(rec.ofType(T.tunnel).map((t) => t.inputs.name));
      assert.equal(names.size, n, "tunnel names are unique");
      assert.deepEqual(
        Object.values(outputs.hosts).map((h) => h.websocketUrl),
        Array.from({ length: n }, (_, i) => `wss://mqtt-${i + 1}.example.com`),
      );
      for (const h of Object.values(outputs.hosts)) {
        const token = await resolve(h.tunnelToken);
        assert.equal(token.secret, true, `hosts.${h.name}.tunnelToken is secret`);
      }
    });
  }

  test("a change to one host's config changes only that host's resources", async () => {
    const before = byUrn((await runProgram(fleet(3))).rec);
    const changed = fleet(3);
    (changed.hosts[1] as Record<string, unknown>).replicas = 3;
    (changed.hosts[1] as Record<string, unknown>).hostname = [
      "mqtt-2.example.com",
      "mqtt-2b.example.com",
    ];
    const after = byUrn((await runProgram(changed)).rec);
    const differing = [...new Set([...before.keys(), ...after.keys()])].filter(
      (u) => before.get(u) !== after.get(u),
    );
    assert.ok(differing.length >= 3, differing.join("\n"));
    for (const urn of differing) {
      assert.match(
        urn.split("::").pop()!,
        /^edge-2-/,
        `${urn} changed but belongs to another host`,
      );
    }
  });

  test("adding a host adds only that host's resources", async () => {
    const before = byUrn((await runProgram(fleet(2))).rec);
    const after = byUrn((await runProgram(fleet(3))).rec);
    const changed = [...before.keys()].filter((u) => after.get(u) !== before.get(u));
    assert.deepEqual(changed, [], "existing hosts untouched");
    const added = [...after.keys()].filter((u) => !before.has(u));
    assert.ok(added.length > 0);
    for (const urn of added) assert.match(urn.split("::").pop()!, /^edge-3(-|$)/);
  });

  test("zones are chosen by longest suffix, with a per-host override", async () => {
    const { rec } = await runProgram(
      fleet(0, {
        zones: ["example.com", "eu.example.com", "example.org"],
        hosts: [
          { name: "a", hostname: "mqtt.eu.example.com" },
          { name: "b", hostname: "mqtt.example.com" },
          { name: "c", hostname: "mqtt.example.org" },
          { name: "d", hostname: "mqtt.eu.example.com.example.org", zone: "example.org" },
        ],
      }),
    );
    const zoneOf = (name: string) =>
      rec.ofType(T.dnsRecord).find((r) => r.inputs.name === name)!.inputs.zoneId;
    assert.equal(zoneOf("mqtt.eu.example.com"), "zone-eu.example.com");
    assert.equal(zoneOf("mqtt.example.com"), "zone-example.com");
    assert.equal(zoneOf("mqtt.example.org"), "zone-example.org");
    assert.equal(zoneOf("mqtt.eu.example.com.example.org"), "zone-example.org");
  });

  test("Access per host: an application, policy and service token each, exported as secrets", async () => {
    const { rec, outputs } = await runProgram(fleet(3, { access: true }));
    assert.equal(rec.ofType(T.accessApp).length, 3);
    assert.equal(rec.ofType(T.accessPolicy).length, 3);
    assert.equal(rec.ofType(T.accessToken).length, 3);
    const domains = rec
      .ofType(T.accessApp)
      .map((a) => a.inputs.domain)
      .sort();
    assert.deepEqual(domains, ["mqtt-1.example.com", "mqtt-2.example.com", "mqtt-3.example.com"]);
    const tokens = await resolve(outputs.accessTokens);
    assert.equal(tokens.secret, true);
    assert.deepEqual(Object.keys(tokens.value), ["edge-1", "edge-2", "edge-3"]);
    assert.equal(tokens.value["edge-1"].clientSecret, "secret-edge-1-tunnel-access-token");
  });

  test("TLS material for tcp:// hosts comes from secret config into the provider as secrets", async () => {
    const pem = (kind: string) => `-----BEGIN ${kind}-----\nMIIB\n-----END ${kind}-----\n`;
    const cfg = {
      ...fleet(1),
      hosts: [
        { name: "edge-1", docker: "tcp://edge-1.internal:2376", hostname: "mqtt-1.example.com" },
      ],
      dockerTls: {
        "edge-1": { ca: pem("CERTIFICATE"), cert: pem("CERTIFICATE"), key: pem("PRIVATE KEY") },
      },
    };
    const { rec } = await runProgram(cfg, { secretKeys: ["dockerTls"] });
    const provider = rec.byName("edge-1-docker");
    assert.equal(provider.inputs.host, "tcp://edge-1.internal:2376");
    assert.ok(provider.secretInputs.has("keyMaterial"), "the private key is a secret input");
    assert.match(provider.inputs.keyMaterial, /PRIVATE KEY/);
  });
});
