import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cloudflareTunnelDnsProxied, cloudflareTunnelRemotelyManaged } from "../policies";
import { TYPE, UNKNOWN_STRING, validate, violations } from "./harness";

const TUNNEL = "6ff42ae2-765d-4adf-8112-31c55c1551ef";

describe("cloudflare-tunnel-dns-proxied", () => {
  const policy = cloudflareTunnelDnsProxied();
  const record = (props: Record<string, unknown>, type: string = TYPE.dnsRecord) => ({
    type,
    name: "edge-dns-mqtt.example.com",
    props: { zoneId: "z", name: "mqtt.example.com", type: "CNAME", ttl: 1, ...props },
  });

  it("accepts a proxied tunnel CNAME (the product's shape)", async () => {
    const v = await violations(
      policy,
      record({ content: `${TUNNEL}.cfargotunnel.com`, proxied: true }),
    );
    assert.deepEqual(v, []);
  });

  it("refuses an unproxied tunnel CNAME", async () => {
    const v = await violations(
      policy,
      record({ content: `${TUNNEL}.cfargotunnel.com`, proxied: false }),
    );
    assert.equal(v.length, 1);
    assert.match(v[0], /cloudflare\.DnsRecord "edge-dns-mqtt\.example\.com"/);
    assert.match(v[0], /mqtt\.example\.com -> 6ff42ae2.*\.cfargotunnel\.com/);
    assert.match(v[0], /Set proxied: true/);
  });

  it("refuses a tunnel CNAME with proxied unset, in any case and with a trailing dot", async () => {
    const v = await violations(policy, record({ content: `${TUNNEL}.CFArgoTunnel.com.` }));
    assert.equal(v.length, 1);
    assert.match(v[0], /proxied: unset/);
  });

  it("checks the deprecated cloudflare.Record too", async () => {
    const v = await violations(
      policy,
      record({ content: `${TUNNEL}.cfargotunnel.com`, proxied: false }, TYPE.record),
    );
    assert.equal(v.length, 1);
    assert.match(v[0], /cloudflare\.Record/);
  });

  it("leaves unproxied records that are not tunnels alone", async () => {
    assert.deepEqual(
      await violations(policy, record({ content: "mail.example.com", proxied: false })),
      [],
    );
    assert.deepEqual(await violations(policy, record({ type: "A", content: "192.0.2.1" })), []);
    assert.deepEqual(
      await violations(policy, record({ content: "cfargotunnel.com.evil.example" })),
      [],
    );
  });

  it("passes a proxied record whose content (the tunnel id) is unknown during preview", async () => {
    const outcome = await validate(policy, record({ content: UNKNOWN_STRING, proxied: true }));
    assert.deepEqual(outcome, { violations: [], notApplicable: [], unknown: [] });
  });
});

describe("cloudflare-tunnel-remotely-managed", () => {
  const policy = cloudflareTunnelRemotelyManaged();
  const tunnel = (props: Record<string, unknown>, type: string = TYPE.tunnel) => ({
    type,
    name: "edge-tunnel",
    props: { accountId: "a", name: "mqtt-edge-prod-edge-a-v1", tunnelSecret: "s", ...props },
  });

  it("accepts configSrc cloudflare", async () => {
    assert.deepEqual(await violations(policy, tunnel({ configSrc: "cloudflare" })), []);
  });

  it("refuses a locally managed tunnel", async () => {
    const v = await violations(policy, tunnel({ configSrc: "local" }));
    assert.equal(v.length, 1);
    assert.match(
      v[0],
      /cloudflare\.ZeroTrustTunnelCloudflared "edge-tunnel" has configSrc "local"/,
    );
    assert.match(v[0], /Set configSrc: "cloudflare"/);
  });

  it("refuses a tunnel without configSrc (Cloudflare defaults to local)", async () => {
    const v = await violations(policy, tunnel({}));
    assert.equal(v.length, 1);
    assert.match(v[0], /unset \(defaults to "local"\)/);
  });

  it("checks the deprecated cloudflare.Tunnel too", async () => {
    assert.equal(
      (await violations(policy, tunnel({ configSrc: "local" }, TYPE.legacyTunnel))).length,
      1,
    );
    assert.deepEqual(
      await violations(policy, tunnel({ configSrc: "cloudflare" }, TYPE.legacyTunnel)),
      [],
    );
  });

  it("does not apply to DNS records", async () => {
    const outcome = await validate(policy, { type: TYPE.dnsRecord, props: { configSrc: "local" } });
    assert.deepEqual(outcome.violations, []);
    assert.equal(outcome.notApplicable.length, 1);
  });
});
