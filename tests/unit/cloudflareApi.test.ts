import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { FakeCloudflareApi, ROUTE_PERMISSIONS } from "../support/cloudflareApi";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const OTHER_ACCOUNT = "fedcba9876543210fedcba9876543210";
const TOKEN = "fake_token_0123456789abcdefghijklmnopqrstuvwxyz";
const ZONE_ID = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

const fake = new FakeCloudflareApi({
  accounts: [ACCOUNT, OTHER_ACCOUNT],
  zones: [
    { id: ZONE_ID, name: "example.com", accountId: ACCOUNT },
    ...Array.from({ length: 6 }, (_, i) => ({ name: `zone${i}.test`, accountId: ACCOUNT })),
    { name: "elsewhere.net", accountId: OTHER_ACCOUNT },
  ],
  apiToken: TOKEN,
});
let base = "";

type Body = {
  success: boolean;
  errors: { code: number; message: string; error_chain?: { code: number; message: string }[] }[];
  messages: unknown[];
  result: any;
  result_info?: any;
};

async function call(method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Body;
  return { status: res.status, headers: res.headers, ...json };
}

const secret = (bytes = 32): string => randomBytes(bytes).toString("base64");
const tunnels = `/accounts/${ACCOUNT}/cfd_tunnel`;

before(async () => {
  base = await fake.start();
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/client\/v4$/);
});
after(() => fake.stop());
beforeEach(() => fake.reset());

void test("tunnel: create, get, list, patch, delete", async () => {
  const s = secret();
  const created = await call("POST", tunnels, {
    name: "mqtt-edge-dev",
    config_src: "cloudflare",
    tunnel_secret: s,
  });
  assert.equal(created.status, 200);
  assert.equal(created.success, true);
  assert.deepEqual(created.errors, []);
  const t = created.result;
  assert.match(t.id, /^[0-9a-f-]{36}$/);
  assert.equal(t.name, "mqtt-edge-dev");
  assert.equal(t.account_tag, ACCOUNT);
  assert.equal(t.config_src, "cloudflare");
  assert.equal(t.remote_config, true);
  assert.equal(t.tun_type, "cfd_tunnel");
  assert.equal(t.status, "inactive");
  assert.equal(t.deleted_at, null);
  assert.deepEqual(t.connections, []);
  assert.ok(!Number.isNaN(Date.parse(t.created_at)));
  assert.equal(t.tunnel_secret, undefined, "the secret is never echoed");

  const got = await call("GET", `${tunnels}/${t.id}`);
  assert.equal(got.status, 200);
  assert.equal(got.result.name, "mqtt-edge-dev");

  const listed = await call("GET", `${tunnels}?name=mqtt-edge-dev&is_deleted=false`);
  assert.equal(listed.result.length, 1);
  assert.equal(listed.result_info.total_count, 1);

  const patched = await call("PATCH", `${tunnels}/${t.id}`, {
    name: "mqtt-edge-renamed",
    tunnel_secret: secret(48),
  });
  assert.equal(patched.status, 200);
  assert.equal(patched.result.name, "mqtt-edge-renamed");

  const deleted = await call("DELETE", `${tunnels}/${t.id}`);
  assert.equal(deleted.status, 200);
  assert.ok(deleted.result.deleted_at);

  // like the real API, a deleted tunnel is still readable, with deleted_at set
  const afterDelete = await call("GET", `${tunnels}/${t.id}`);
  assert.equal(afterDelete.status, 200);
  assert.ok(afterDelete.result.deleted_at);
  assert.equal((await call("GET", `${tunnels}?is_deleted=false`)).result.length, 0);
  assert.equal((await call("GET", `${tunnels}?is_deleted=true`)).result.length, 1);
  // and its name is free again
  assert.equal(
    (
      await call("POST", tunnels, {
        name: "mqtt-edge-renamed",
        config_src: "cloudflare",
        tunnel_secret: s,
      })
    ).status,
    200,
  );

  const missing = await call("GET", `${tunnels}/00000000-0000-4000-8000-000000000000`);
  assert.equal(missing.status, 404);
  assert.equal(missing.success, false);
  assert.equal(missing.result, null);
});

void test("tunnel: bad secret, missing name, bad config_src, duplicate name are refused", async () => {
  const short = await call("POST", tunnels, { name: "a", tunnel_secret: secret(16) });
  assert.equal(short.status, 400);
  assert.match(short.errors[0].message, /at least 32 bytes/);

  const notB64 = await call("POST", tunnels, { name: "a", tunnel_secret: "not base64 at all!!" });
  assert.equal(notB64.status, 400);
  assert.match(notB64.errors[0].message, /base64/);

  const noName = await call("POST", tunnels, { tunnel_secret: secret() });
  assert.equal(noName.status, 400);
  assert.match(noName.errors[0].message, /name is required/);

  const badSrc = await call("POST", tunnels, {
    name: "a",
    config_src: "remote",
    tunnel_secret: secret(),
  });
  assert.equal(badSrc.status, 400);
  assert.match(badSrc.errors[0].message, /config_src/);

  assert.equal((await call("POST", tunnels, { name: "dup", tunnel_secret: secret() })).status, 200);
  const dup = await call("POST", tunnels, { name: "dup", tunnel_secret: secret() });
  assert.equal(dup.status, 409);
  assert.equal(dup.errors[0].code, 1013);

  const malformed = await fetch(`${base}${tunnels}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: "{not json",
  });
  assert.equal(malformed.status, 400);
  assert.equal(((await malformed.json()) as Body).errors[0].code, 6007);

  // secret defaults to a generated one; config_src defaults to local
  const generated = await call("POST", tunnels, { name: "no-secret" });
  assert.equal(generated.status, 200);
  assert.equal(generated.result.config_src, "local");
  assert.equal(generated.result.remote_config, false);
  assert.equal(fake.state.tunnels.get(generated.result.id)!.tunnelSecret.length, 44);

  const otherAccount = await call("GET", `/accounts/99999999999999999999999999999999/cfd_tunnel`);
  assert.equal(otherAccount.status, 403);
});

void test("tunnel: delete with active connections fails unless cascade; connections endpoints", async () => {
  const t = (
    await call("POST", tunnels, { name: "busy", config_src: "cloudflare", tunnel_secret: secret() })
  ).result;
  const conn = fake.connectTunnel(t.id);
  const healthy = await call("GET", `${tunnels}/${t.id}`);
  assert.equal(healthy.result.status, "healthy");
  assert.equal(healthy.result.connections.length, 1);
  assert.ok(healthy.result.conns_active_at);

  const conns = await call("GET", `${tunnels}/${t.id}/connections`);
  assert.equal(conns.result.length, 1);
  assert.equal(conns.result[0].id, conn.client_id);
  assert.equal(conns.result[0].conns[0].id, conn.id);

  const refused = await call("DELETE", `${tunnels}/${t.id}`);
  assert.equal(refused.status, 400);
  assert.equal(refused.errors[0].code, 1022);
  assert.match(refused.errors[0].message, /active connections/);

  assert.equal(
    (await call("DELETE", `${tunnels}/${t.id}/connections?client_id=${conn.client_id}`)).status,
    200,
  );
  assert.equal((await call("GET", `${tunnels}/${t.id}`)).result.status, "down");
  assert.equal((await call("DELETE", `${tunnels}/${t.id}`)).status, 200);

  const t2 = (await call("POST", tunnels, { name: "busy2", tunnel_secret: secret() })).result;
  fake.connectTunnel(t2.id);
  const cascaded = await call("DELETE", `${tunnels}/${t2.id}?cascade=true`);
  assert.equal(cascaded.status, 200);
  assert.ok(cascaded.result.deleted_at);
  assert.deepEqual(cascaded.result.connections, []);
});

void test("tunnel config: put, get, validation", async () => {
  const t = (
    await call("POST", tunnels, { name: "cfg", config_src: "cloudflare", tunnel_secret: secret() })
  ).result;
  const empty = await call("GET", `${tunnels}/${t.id}/configurations`);
  assert.equal(empty.status, 200);
  assert.equal(empty.result.config, null);
  assert.equal(empty.result.version, 0);

  const config = {
    ingress: [
      {
        hostname: "mqtt.example.com",
        service: "http://mosquitto:9001",
        originRequest: { connectTimeout: 10 },
      },
      { service: "http_status:404" },
    ],
  };
  const put = await call("PUT", `${tunnels}/${t.id}/configurations`, { config });
  assert.equal(put.status, 200);
  assert.equal(put.result.tunnel_id, t.id);
  assert.equal(put.result.account_id, ACCOUNT);
  assert.equal(put.result.source, "cloudflare");
  assert.equal(put.result.version, 1);
  assert.deepEqual(put.result.config, config);

  const got = await call("GET", `${tunnels}/${t.id}/configurations`);
  assert.deepEqual(got.result.config, config);
  assert.equal(got.result.version, 1);
  assert.equal(
    (await call("PUT", `${tunnels}/${t.id}/configurations`, { config })).result.version,
    2,
  );

  const noCatchAll = await call("PUT", `${tunnels}/${t.id}/configurations`, {
    config: { ingress: [{ hostname: "mqtt.example.com", service: "http://x:1" }] },
  });
  assert.equal(noCatchAll.status, 400);
  assert.match(noCatchAll.errors[0].message, /last ingress rule must match all URLs/);

  const badHost = await call("PUT", `${tunnels}/${t.id}/configurations`, {
    config: {
      ingress: [
        { hostname: "https://mqtt.example.com", service: "http://x:1" },
        { service: "http_status:404" },
      ],
    },
  });
  assert.equal(badHost.status, 400);
  assert.match(badHost.errors[0].message, /Hostname cannot contain a port/);

  const badService = await call("PUT", `${tunnels}/${t.id}/configurations`, {
    config: {
      ingress: [
        { hostname: "a.example.com", service: "mosquitto:9001" },
        { service: "http_status:404" },
      ],
    },
  });
  assert.equal(badService.status, 400);
  assert.match(badService.errors[0].message, /invalid address, please make sure it has a scheme/);

  const earlyCatchAll = await call("PUT", `${tunnels}/${t.id}/configurations`, {
    config: {
      ingress: [
        { service: "http://x:1" },
        { hostname: "a.example.com", service: "http://x:1" },
        { service: "http_status:404" },
      ],
    },
  });
  assert.equal(earlyCatchAll.status, 400);
});

void test("tunnel token decodes to {a, t, s}", async () => {
  const s = secret();
  const t = (
    await call("POST", tunnels, { name: "tok", config_src: "cloudflare", tunnel_secret: s })
  ).result;
  const res = await call("GET", `${tunnels}/${t.id}/token`);
  assert.equal(res.status, 200);
  assert.equal(typeof res.result, "string");
  const decoded = JSON.parse(Buffer.from(res.result, "base64").toString("utf8"));
  assert.deepEqual(decoded, { a: ACCOUNT, t: t.id, s });
  await call("DELETE", `${tunnels}/${t.id}`);
  assert.equal((await call("GET", `${tunnels}/${t.id}/token`)).status, 404);
});

void test("dns: create, duplicate, ttl rule, update, delete", async () => {
  const records = `/zones/${ZONE_ID}/dns_records`;
  const target = "11111111-2222-4333-8444-555555555555.cfargotunnel.com";
  const created = await call("POST", records, {
    name: "mqtt",
    type: "CNAME",
    content: target,
    proxied: true,
    ttl: 1,
  });
  assert.equal(created.status, 200);
  const r = created.result;
  assert.match(r.id, /^[0-9a-f]{32}$/);
  assert.equal(r.name, "mqtt.example.com", "name becomes an FQDN inside the zone");
  assert.equal(r.type, "CNAME");
  assert.equal(r.content, target);
  assert.equal(r.proxied, true);
  assert.equal(r.proxiable, true);
  assert.equal(r.ttl, 1);
  assert.equal(r.comment, null);
  assert.deepEqual(r.tags, []);
  assert.deepEqual(r.settings, { ipv4_only: false, ipv6_only: false });
  assert.equal(typeof r.meta, "object");
  assert.ok(r.created_on && r.modified_on);

  const dup = await call("POST", records, {
    name: "mqtt.example.com",
    type: "CNAME",
    content: "other.example.net",
    ttl: 1,
  });
  assert.equal(dup.status, 400);
  assert.equal(dup.errors[0].code, 81053);
  assert.equal(dup.errors[0].message, "An A, AAAA, or CNAME record with that host already exists.");
  const dupA = await call("POST", records, {
    name: "mqtt",
    type: "A",
    content: "192.0.2.1",
    ttl: 1,
  });
  assert.equal(dupA.errors[0].code, 81053);

  const badTtl = await call("POST", records, {
    name: "ws",
    type: "CNAME",
    content: target,
    ttl: 5,
  });
  assert.equal(badTtl.errors[0].error_chain?.[0].code, 9021);

  const noContent = await call("POST", records, { name: "ws", type: "CNAME", ttl: 1 });
  assert.equal(noContent.status, 400);
  assert.equal(noContent.errors[0].error_chain?.[0].code, 9007);

  const apex = await call("POST", records, { name: "@", type: "TXT", content: "hello", ttl: 300 });
  assert.equal(apex.result.name, "example.com");
  assert.equal(apex.result.proxiable, false);

  const got = await call("GET", `${records}/${r.id}`);
  assert.deepEqual(got.result, r);

  const put = await call("PUT", `${records}/${r.id}`, {
    name: "mqtt.example.com",
    type: "CNAME",
    content: target,
    proxied: false,
    ttl: 300,
    comment: "managed by pulumi",
    tags: ["app:mqtt"],
  });
  assert.equal(put.status, 200);
  assert.equal(put.result.ttl, 300);
  assert.equal(put.result.proxied, false);
  assert.equal(put.result.comment, "managed by pulumi");
  assert.deepEqual(put.result.tags, ["app:mqtt"]);
  assert.ok(put.result.comment_modified_on);

  const patched = await call("PATCH", `${records}/${r.id}`, { proxied: true, ttl: 1 });
  assert.equal(patched.result.proxied, true);
  assert.equal(patched.result.comment, "managed by pulumi");
  const ttlPatch = await call("PATCH", `${records}/${r.id}`, { ttl: 120 });
  assert.equal(ttlPatch.status, 200);
  assert.equal(ttlPatch.result.ttl, 1, "a proxied record keeps ttl 1");

  const list = await call("GET", `${records}?type=CNAME&name=mqtt.example.com`);
  assert.equal(list.result.length, 1);
  assert.equal(list.result_info.total_count, 1);

  const del = await call("DELETE", `${records}/${r.id}`);
  assert.deepEqual(del.result, { id: r.id });
  const gone = await call("GET", `${records}/${r.id}`);
  assert.equal(gone.status, 404);
  assert.equal(gone.errors[0].code, 81044);
  assert.equal((await call("DELETE", `${records}/${r.id}`)).status, 404);

  const unknownZone = await call("GET", `/zones/ffffffffffffffffffffffffffffffff/dns_records`);
  assert.equal(unknownZone.status, 404);
});

void test("zones: lookup by name and account, pagination", async () => {
  const byName = await call("GET", `/zones?name=example.com&account.id=${ACCOUNT}`);
  assert.equal(byName.status, 200);
  assert.equal(byName.result.length, 1);
  const z = byName.result[0];
  assert.equal(z.id, ZONE_ID);
  assert.equal(z.name, "example.com");
  assert.equal(z.status, "active");
  assert.deepEqual(z.account.id, ACCOUNT);
  assert.ok(Array.isArray(z.name_servers) && z.name_servers.length === 2);
  assert.deepEqual(byName.result_info, {
    page: 1,
    per_page: 20,
    count: 1,
    total_count: 1,
    total_pages: 1,
  });

  assert.equal(
    (await call("GET", `/zones?name=example.com&account.id=${OTHER_ACCOUNT}`)).result.length,
    0,
  );
  assert.equal((await call("GET", `/zones?name=nope.example`)).result.length, 0);
  assert.equal((await call("GET", `/zones?name=ends_with:.test`)).result.length, 6);

  const seen: string[] = [];
  for (let page = 1; page <= 4; page++) {
    const res = await call("GET", `/zones?account.id=${ACCOUNT}&per_page=3&page=${page}`);
    assert.equal(res.result_info.per_page, 3);
    assert.equal(res.result_info.total_count, 7);
    assert.equal(res.result_info.page, page);
    assert.equal(res.result_info.count, res.result.length);
    seen.push(...res.result.map((x: { name: string }) => x.name));
    if (page === 4) assert.equal(res.result.length, 0, "past the last page the list is empty");
  }
  assert.equal(new Set(seen).size, 7);

  const single = await call("GET", `/zones/${ZONE_ID}`);
  assert.equal(single.result.name, "example.com");
  assert.ok(
    fake.state.zones.has(FakeCloudflareApi.zoneIdFor("zone0.test")),
    "zones without an id get a stable one",
  );
  assert.equal((await call("GET", `/zones/00000000000000000000000000000000`)).status, 404);
});

void test("access: service token, policy, application CRUD", async () => {
  const acc = `/accounts/${ACCOUNT}/access`;
  const tok = await call("POST", `${acc}/service_tokens`, { name: "mqtt-client" });
  assert.equal(tok.status, 201);
  assert.match(tok.result.client_id, /^[0-9a-f]{32}\.access$/);
  assert.match(tok.result.client_secret, /^[0-9a-f]{64}$/);
  assert.equal(tok.result.duration, "8760h");
  assert.ok(tok.result.expires_at);
  const tokGet = await call("GET", `${acc}/service_tokens/${tok.result.id}`);
  assert.equal(tokGet.result.client_id, tok.result.client_id);
  assert.equal(tokGet.result.client_secret, undefined, "the secret is only returned once");
  assert.equal((await call("GET", `${acc}/service_tokens`)).result.length, 1);
  const renamed = await call("PUT", `${acc}/service_tokens/${tok.result.id}`, {
    name: "mqtt-client-2",
  });
  assert.equal(renamed.result.name, "mqtt-client-2");
  assert.equal(renamed.result.client_secret, undefined);
  const rotated = await call("POST", `${acc}/service_tokens/${tok.result.id}/rotate`, {});
  assert.notEqual(rotated.result.client_secret, tok.result.client_secret);
  assert.equal((await call("POST", `${acc}/service_tokens`, {})).status, 400);

  const badPolicy = await call("POST", `${acc}/policies`, {
    name: "p",
    decision: "maybe",
    include: [{ everyone: {} }],
  });
  assert.equal(badPolicy.status, 400);
  const ghostToken = await call("POST", `${acc}/policies`, {
    name: "p",
    decision: "non_identity",
    include: [{ service_token: { token_id: "00000000-0000-4000-8000-000000000000" } }],
  });
  assert.equal(ghostToken.status, 400);
  assert.match(ghostToken.errors[0].message, /service token/);

  const policy = await call("POST", `${acc}/policies`, {
    name: "mqtt service token",
    decision: "non_identity",
    include: [{ service_token: { token_id: tok.result.id } }],
  });
  assert.equal(policy.status, 201);
  const p = policy.result;
  assert.equal(p.decision, "non_identity");
  assert.equal(p.reusable, true);
  assert.deepEqual(p.include, [{ service_token: { token_id: tok.result.id } }]);
  assert.deepEqual(p.exclude, []);
  assert.equal((await call("GET", `${acc}/policies/${p.id}`)).result.name, "mqtt service token");
  const pUpd = await call("PUT", `${acc}/policies/${p.id}`, {
    name: "mqtt token v2",
    decision: "non_identity",
    include: [{ any_valid_service_token: {} }],
  });
  assert.equal(pUpd.result.name, "mqtt token v2");

  const noDomain = await call("POST", `${acc}/apps`, { name: "mqtt", type: "self_hosted" });
  assert.equal(noDomain.status, 400);
  const ghostPolicy = await call("POST", `${acc}/apps`, {
    name: "mqtt",
    type: "self_hosted",
    domain: "mqtt.example.com",
    policies: [{ id: "00000000-0000-4000-8000-000000000000" }],
  });
  assert.equal(ghostPolicy.status, 400);

  const app = await call("POST", `${acc}/apps`, {
    name: "mqtt",
    type: "self_hosted",
    domain: "mqtt.example.com",
    policies: [{ id: p.id, precedence: 1 }],
  });
  assert.equal(app.status, 201);
  const a = app.result;
  assert.match(a.aud, /^[0-9a-f]{64}$/);
  assert.equal(a.domain, "mqtt.example.com");
  assert.deepEqual(a.self_hosted_domains, ["mqtt.example.com"]);
  assert.equal(a.session_duration, "24h");
  assert.equal(a.policies.length, 1);
  assert.equal(a.policies[0].id, p.id);
  assert.equal(a.policies[0].precedence, 1);
  assert.equal(
    a.policies[0].decision,
    "non_identity",
    "reusable policies are expanded in app responses",
  );
  assert.equal((await call("GET", `${acc}/policies/${p.id}`)).result.app_count, 1);

  const inUse = await call("DELETE", `${acc}/policies/${p.id}`);
  assert.equal(inUse.status, 400);

  const upd = await call("PUT", `${acc}/apps/${a.id}`, {
    name: "mqtt ws",
    type: "self_hosted",
    domain: "mqtt.example.com",
    policies: [],
  });
  assert.equal(upd.result.name, "mqtt ws");
  assert.deepEqual(upd.result.policies, []);
  assert.equal((await call("GET", `${acc}/apps`)).result.length, 1);
  assert.equal((await call("GET", `${acc}/apps/${a.id}`)).result.aud, a.aud);

  assert.deepEqual((await call("DELETE", `${acc}/apps/${a.id}`)).result, { id: a.id });
  assert.equal((await call("GET", `${acc}/apps/${a.id}`)).status, 404);
  assert.deepEqual((await call("DELETE", `${acc}/policies/${p.id}`)).result, { id: p.id });
  assert.equal((await call("GET", `${acc}/policies/${p.id}`)).status, 404);
  assert.equal((await call("DELETE", `${acc}/service_tokens/${tok.result.id}`)).status, 200);
  assert.equal((await call("GET", `${acc}/service_tokens/${tok.result.id}`)).status, 404);

  // zone-scoped app
  const zoneApp = await call("POST", `/zones/${ZONE_ID}/access/apps`, {
    name: "z",
    domain: "z.example.com",
  });
  assert.equal(zoneApp.status, 201);
  assert.equal(
    (await call("GET", `/zones/${ZONE_ID}/access/apps/${zoneApp.result.id}`)).status,
    200,
  );
});

void test("auth: missing or wrong bearer token is refused", async () => {
  const none = await call("GET", "/zones", undefined, null);
  assert.equal(none.status, 401);
  assert.equal(none.errors[0].code, 10000);
  const wrong = await call("GET", "/zones", undefined, "x".repeat(40));
  assert.equal(wrong.status, 401);
  assert.equal(wrong.errors[0].code, 10000);
  assert.equal((await call("GET", "/user/tokens/verify")).result.status, "active");
});

void test("faults: 429 with Retry-After then success; 5xx with match", async () => {
  fake.injectFaults({ status: 429, count: 2, match: /\/zones$/ });
  const first = await call("GET", "/zones");
  assert.equal(first.status, 429);
  assert.equal(first.headers.get("retry-after"), "1");
  assert.equal(first.success, false);
  assert.ok(first.errors[0].code > 0);
  // a non-matching request is not affected
  assert.equal((await call("GET", `/zones/${ZONE_ID}`)).status, 200);
  assert.equal((await call("GET", "/zones")).status, 429);
  assert.equal((await call("GET", "/zones")).status, 200);

  fake.injectFaults({ status: 503, count: 1, match: /^POST .*cfd_tunnel/ });
  assert.equal((await call("GET", `${tunnels}`)).status, 200);
  const failed = await call("POST", tunnels, { name: "x", tunnel_secret: secret() });
  assert.equal(failed.status, 503);
  assert.equal(fake.state.tunnels.size, 0, "a faulted request has no effect");
  assert.equal((await call("POST", tunnels, { name: "x", tunnel_secret: secret() })).status, 200);

  const statuses = fake.requests.filter((r) => r.path.endsWith("/zones")).map((r) => r.status);
  assert.deepEqual(statuses, [429, 429, 200]);
});

void test("unknown routes answer 404 and are recorded", async () => {
  const res = await call("GET", `/accounts/${ACCOUNT}/teamnet/routes`);
  assert.equal(res.status, 404);
  assert.equal(res.errors[0].code, 7000);
  const wrongMethod = await call("POST", `/zones/${ZONE_ID}`, {});
  assert.equal(wrongMethod.status, 404);
  const outside = await fetch(`${base.replace(/\/client\/v4$/, "")}/elsewhere`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(outside.status, 404);
  const unknown = fake.requests.filter((r) => r.status === 404);
  assert.deepEqual(
    unknown.map((r) => `${r.method} ${r.path}`),
    [
      `GET /client/v4/accounts/${ACCOUNT}/teamnet/routes`,
      `POST /client/v4/zones/${ZONE_ID}`,
      "GET /elsewhere",
    ],
  );
});

void test("reset clears state and requests but keeps configured zones", async () => {
  await call("POST", tunnels, { name: "r", tunnel_secret: secret() });
  assert.equal(fake.state.tunnels.size, 1);
  fake.reset();
  assert.equal(fake.state.tunnels.size, 0);
  assert.equal(fake.requests.length, 0);
  assert.equal(fake.state.zones.size, 8);
});

void test("zone settings: websockets GET and PATCH, per zone, set by tests, reset", async () => {
  const ws = `/zones/${ZONE_ID}/settings/websockets`;
  const got = await call("GET", ws);
  assert.equal(got.status, 200);
  assert.deepEqual(got.result, {
    id: "websockets",
    value: "on",
    editable: true,
    modified_on: null,
  });

  fake.setZoneSettings("example.com", { websockets: "off" });
  assert.equal((await call("GET", ws)).result.value, "off");
  // Another zone keeps its own value.
  const other = FakeCloudflareApi.zoneIdFor("zone0.test");
  assert.equal((await call("GET", `/zones/${other}/settings/websockets`)).result.value, "on");

  const patched = await call("PATCH", ws, { value: "on" });
  assert.equal(patched.status, 200);
  assert.equal(patched.result.value, "on");
  assert.match(patched.result.modified_on, /^\d{4}-\d\d-\d\dT/);
  assert.equal((await call("GET", ws)).result.value, "on");
  assert.equal(fake.state.zones.get(ZONE_ID)!.websockets, "on");
  assert.equal((await call("PATCH", ws, { id: "websockets", value: "off" })).result.value, "off");

  const bad = await call("PATCH", ws, { value: true });
  assert.equal(bad.status, 400);
  assert.equal(bad.success, false);
  assert.equal((await call("PATCH", ws, { id: "ssl", value: "on" })).status, 400);
  assert.equal((await call("GET", `/zones/${ZONE_ID}/settings/ssl`)).status, 400);
  const missing = await call("GET", `/zones/${"b".repeat(32)}/settings/websockets`);
  assert.equal(missing.status, 404);
  assert.equal(missing.errors[0].code, 7003);
  assert.equal((await call("GET", ws, undefined, null)).status, 401);

  fake.reset();
  assert.equal((await call("GET", ws)).result.value, "on");
});

void test("zone settings: bot_management fight_mode per zone, default off", async () => {
  const bm = `/zones/${ZONE_ID}/bot_management`;
  const got = await call("GET", bm);
  assert.equal(got.status, 200);
  assert.equal(got.result.fight_mode, false);
  fake.setZoneSettings(ZONE_ID, { fightMode: true });
  assert.equal((await call("GET", bm)).result.fight_mode, true);
  const other = FakeCloudflareApi.zoneIdFor("zone1.test");
  assert.equal((await call("GET", `/zones/${other}/bot_management`)).result.fight_mode, false);
  assert.throws(() => fake.setZoneSettings("nope.example", { fightMode: true }), /no zone/);
  assert.equal((await call("GET", `/zones/${"b".repeat(32)}/bot_management`)).status, 404);
});

void test("zone settings: options seed websockets and fight mode", async () => {
  const seeded = new FakeCloudflareApi({
    zones: [{ name: "off.test", accountId: ACCOUNT, websockets: "off", fightMode: true }],
  });
  const url = await seeded.start();
  try {
    const id = FakeCloudflareApi.zoneIdFor("off.test");
    const ws = (await (await fetch(`${url}/zones/${id}/settings/websockets`)).json()) as Body;
    assert.equal(ws.result.value, "off");
    const bm = (await (await fetch(`${url}/zones/${id}/bot_management`)).json()) as Body;
    assert.equal(bm.result.fight_mode, true);
  } finally {
    await seeded.stop();
  }
});

// ---------------------------------------------------------------- Cloudflare's state (issue 21)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

void test("zones: a status and an owning account; one name in two accounts; status filter", async () => {
  // Default zones are active and owned by their configured account.
  const own = await call("GET", `/zones/${ZONE_ID}`);
  assert.equal(own.result.status, "active");
  assert.equal(own.result.account.id, ACCOUNT);
  assert.ok(own.result.activated_on);

  // The same name, pending, in another account: both are listed by name.
  const twin = fake.addZone({ name: "example.com", accountId: OTHER_ACCOUNT, status: "pending" });
  assert.notEqual(twin.id, ZONE_ID);
  assert.equal(twin.id, FakeCloudflareApi.zoneIdFor("example.com"));
  const zone0Twin = fake.addZone({ name: "zone0.test", accountId: OTHER_ACCOUNT });
  assert.equal(
    zone0Twin.id,
    FakeCloudflareApi.zoneIdFor("zone0.test", OTHER_ACCOUNT),
    "a taken default id gives way to the name-and-account one",
  );
  const both = await call("GET", "/zones?name=example.com");
  assert.deepEqual(
    both.result.map((z: any) => [z.account.id, z.status]).sort(),
    [
      [ACCOUNT, "active"],
      [OTHER_ACCOUNT, "pending"],
    ].sort(),
  );
  assert.equal(both.result_info.total_count, 2);
  const active = await call("GET", "/zones?name=example.com&status=active");
  assert.deepEqual(
    active.result.map((z: any) => z.id),
    [ZONE_ID],
  );
  const pending = await call("GET", "/zones?name=example.com&status=pending");
  assert.deepEqual(
    pending.result.map((z: any) => z.id),
    [twin.id],
  );
  const got = await call("GET", `/zones/${twin.id}`);
  assert.equal(got.result.status, "pending");
  assert.equal(got.result.activated_on, null);

  // A token that reaches one account sees that account's zone only.
  const scoped = fake.addToken({ permissions: ["Zone Read"], accounts: [ACCOUNT] });
  const seen = await call("GET", "/zones?name=example.com", undefined, scoped);
  assert.deepEqual(
    seen.result.map((z: any) => z.id),
    [ZONE_ID],
  );
  assert.equal((await call("GET", `/zones/${twin.id}`, undefined, scoped)).status, 403);

  fake.setZoneStatus(twin.id, "active");
  assert.equal((await call("GET", "/zones?name=example.com&status=active")).result.length, 2);

  // An empty answer says total_pages 0, as Cloudflare does.
  const none = await call("GET", "/zones?name=nope.example");
  assert.deepEqual(none.result_info, {
    page: 1,
    per_page: 20,
    count: 0,
    total_count: 0,
    total_pages: 0,
  });
});

void test("tokens: a missing permission answers 403 code 10000; a malformed header 400 6003/6111", async () => {
  const dnsOnly = fake.addToken({ permissions: ["DNS Write"] });
  const refused = await fetch(`${base}${tunnels}`, {
    method: "POST",
    headers: { authorization: `Bearer ${dnsOnly}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "t", tunnel_secret: secret() }),
  });
  assert.equal(refused.status, 403);
  assert.deepEqual(await refused.json(), {
    success: false,
    errors: [{ code: 10000, message: "Authentication error" }],
  });
  assert.equal(fake.state.tunnels.size, 0, "nothing was created");
  // DNS Write alone finds the zone by name and writes records.
  assert.equal((await call("GET", "/zones?name=example.com", undefined, dnsOnly)).result.length, 1);
  const rec = await call(
    "POST",
    `/zones/${ZONE_ID}/dns_records`,
    { name: "a", type: "A", content: "192.0.2.1", ttl: 1 },
    dnsOnly,
  );
  assert.equal(rec.status, 200);
  assert.equal(
    (await call("GET", `/zones/${ZONE_ID}/settings/websockets`, undefined, dnsOnly)).status,
    403,
    "Zone Settings Read is another group",
  );

  // Tunnel Read lists tunnels; its token needs Write and answers 401 code 1001 (#7279).
  const t = (await call("POST", tunnels, { name: "ro", tunnel_secret: secret() })).result;
  const readOnly = fake.addToken({ permissions: ["Cloudflare Tunnel Read"] });
  assert.equal((await call("GET", tunnels, undefined, readOnly)).status, 200);
  const tok = await call("GET", `${tunnels}/${t.id}/token`, undefined, readOnly);
  assert.equal(tok.status, 401);
  assert.equal(tok.errors[0].code, 1001);
  assert.equal((await call("DELETE", `${tunnels}/${t.id}`, undefined, readOnly)).status, 403);

  // A token limited to one account gets 9109 on another.
  const oneAccount = fake.addToken({
    permissions: ["Cloudflare Tunnel Write"],
    accounts: [ACCOUNT],
  });
  const other = await call("GET", `/accounts/${OTHER_ACCOUNT}/cfd_tunnel`, undefined, oneAccount);
  assert.equal(other.status, 403);
  assert.equal(other.errors[0].code, 9109);

  // The default token holds every permission.
  assert.equal((await call("GET", `${tunnels}/${t.id}/token`)).status, 200);

  for (const header of ["Bearer not a token!", "Basic dXNlcjpwYXNz", "Bearer "]) {
    const res = await fetch(`${base}/zones`, { headers: { authorization: header } });
    assert.equal(res.status, 400, header);
    assert.deepEqual(((await res.json()) as Body).errors, [
      {
        code: 6003,
        message: "Invalid request headers",
        error_chain: [{ code: 6111, message: "Invalid format for Authorization header" }],
      },
    ]);
  }
});

void test("permissions: every route has an entry in the exported table, and every entry a route", () => {
  const routes = fake.routeTemplates().map((r) => `${r.method} ${r.path}`);
  const table = ROUTE_PERMISSIONS.map((p) => `${p.method} ${p.path}`);
  assert.deepEqual([...routes].sort(), [...table].sort());
  assert.equal(new Set(table).size, table.length, "one entry per route");
  const entry = (m: string, p: string) =>
    ROUTE_PERMISSIONS.find((e) => e.method === m && e.path === p)!;
  assert.ok(
    entry("POST", "/accounts/{account_id}/cfd_tunnel").anyOf.includes("Cloudflare Tunnel Write"),
  );
  assert.deepEqual(entry("POST", "/zones/{zone_id}/dns_records").anyOf, ["DNS Write"]);
  assert.deepEqual(entry("POST", "/accounts/{account_id}/access/apps").anyOf, [
    "Access: Apps and Policies Write",
  ]);
  assert.deepEqual(entry("POST", "/accounts/{account_id}/access/service_tokens").anyOf, [
    "Access: Service Tokens Write",
  ]);
  assert.ok(
    entry("GET", "/zones/{zone_id}/settings/{setting_id}").anyOf.includes("Zone Settings Read"),
  );
  assert.deepEqual(entry("PATCH", "/zones/{zone_id}/settings/{setting_id}").anyOf, [
    "Zone Settings Write",
  ]);
  assert.ok(entry("GET", "/zones/{zone_id}/bot_management").anyOf.includes("Bot Management Read"));
});

void test("tunnel connections: listed after the connector stops for the linger time; delete refused meanwhile", async () => {
  const t = (await call("POST", tunnels, { name: "linger", tunnel_secret: secret() })).result;
  assert.equal(t.status, "inactive");
  const client = fake.startConnector(t.id);
  const up = await call("GET", `${tunnels}/${t.id}`);
  assert.equal(up.result.status, "healthy");
  assert.equal(up.result.connections.length, 4);
  assert.ok(up.result.conns_active_at);
  assert.equal(up.result.conns_inactive_at, null);
  const conns = await call("GET", `${tunnels}/${t.id}/connections`);
  assert.deepEqual(
    conns.result.map((c: any) => [c.id, c.conns.length]),
    [[client, 4]],
  );

  fake.stopConnector(t.id, client, { lingerMs: 150 });
  const refused = await call("DELETE", `${tunnels}/${t.id}`);
  assert.equal(refused.status, 400);
  assert.deepEqual(refused.errors, [
    { code: 1022, message: "Cannot delete tunnel because it has active connections" },
  ]);
  assert.equal((await call("GET", `${tunnels}/${t.id}/connections`)).result.length, 1);
  await sleep(200);
  const down = await call("GET", `${tunnels}/${t.id}`);
  assert.deepEqual(down.result.connections, []);
  assert.equal(down.result.status, "down");
  assert.ok(down.result.conns_inactive_at);
  assert.equal(down.result.conns_active_at, null);
  assert.equal((await call("DELETE", `${tunnels}/${t.id}`)).status, 200);

  // A pending reconnect makes the tunnel degraded; cleanup by client_id removes that connector.
  const t2 = (await call("POST", tunnels, { name: "two", tunnel_secret: secret() })).result;
  const a = fake.startConnector(t2.id, { connections: 2 });
  const b = fake.connectTunnel(t2.id, { is_pending_reconnect: true }).client_id;
  assert.equal((await call("GET", `${tunnels}/${t2.id}`)).result.status, "degraded");
  assert.equal(
    (await call("DELETE", `${tunnels}/${t2.id}/connections?client_id=${b}`)).status,
    200,
  );
  const left = await call("GET", `${tunnels}/${t2.id}/connections`);
  assert.deepEqual(
    left.result.map((c: any) => c.id),
    [a],
  );
  assert.equal((await call("GET", `${tunnels}/${t2.id}`)).result.status, "healthy");
  // cascade deletes the tunnel with its connections
  const cascaded = await call("DELETE", `${tunnels}/${t2.id}?cascade=true`);
  assert.equal(cascaded.status, 200);
  assert.deepEqual(cascaded.result.connections, []);

  // The instance default linger applies when stopConnector gives none.
  const lingering = new FakeCloudflareApi({ accounts: [ACCOUNT], connectionLingerMs: 60_000 });
  const url = await lingering.start();
  try {
    const res = await fetch(`${url}${tunnels}`, {
      method: "POST",
      body: JSON.stringify({ name: "x", tunnel_secret: secret() }),
    });
    const id = ((await res.json()) as Body).result.id;
    lingering.startConnector(id, { connections: 1 });
    lingering.stopConnector(id);
    const del = await fetch(`${url}${tunnels}/${id}`, { method: "DELETE" });
    assert.equal(del.status, 400);
    const cleaned = await fetch(`${url}${tunnels}/${id}/connections`, { method: "DELETE" });
    assert.equal(cleaned.status, 200);
    assert.equal((await fetch(`${url}${tunnels}/${id}`, { method: "DELETE" })).status, 200);
  } finally {
    await lingering.stop();
  }
});

/** A service token, a reusable policy admitting it, an app on mqtt.example.com and its CNAME. */
async function accessStack() {
  const acc = `/accounts/${ACCOUNT}/access`;
  const tok = await call("POST", `${acc}/service_tokens`, { name: "c" });
  const pol = await call("POST", `${acc}/policies`, {
    name: "p",
    decision: "non_identity",
    include: [{ service_token: { token_id: tok.result.id } }],
  });
  const app = await call("POST", `${acc}/apps`, {
    name: "a",
    type: "self_hosted",
    domain: "mqtt.example.com",
    policies: [{ id: pol.result.id, precedence: 1 }],
  });
  const dns = await call("POST", `/zones/${ZONE_ID}/dns_records`, {
    name: "mqtt",
    type: "CNAME",
    content: "11111111-2222-4333-8444-555555555555.cfargotunnel.com",
    proxied: true,
    ttl: 1,
  });
  return { acc, tok, pol, app, dns };
}

void test("server-filled fields: on by default, off per instance", async () => {
  const { acc, tok, pol, app, dns } = await accessStack();
  const get = async () => ({
    app: (await call("GET", `${acc}/apps/${app.result.id}`)).result,
    pol: (await call("GET", `${acc}/policies/${pol.result.id}`)).result,
    tok: (await call("GET", `${acc}/service_tokens/${tok.result.id}`)).result,
    dns: (await call("GET", `/zones/${ZONE_ID}/dns_records/${dns.result.id}`)).result,
  });
  const on = await get();
  for (const [k, v] of Object.entries({
    allowed_idps: [],
    tags: [],
    auto_redirect_to_identity: false,
    enable_binding_cookie: false,
    options_preflight_bypass: false,
    service_auth_401_redirect: false,
    app_launcher_visible: true,
    session_duration: "24h",
    http_only_cookie_attribute: true,
    skip_interstitial: false,
    allow_iframe: false,
    path_cookie_attribute: false,
    self_hosted_domains: ["mqtt.example.com"],
    destinations: [{ type: "public", uri: "mqtt.example.com" }],
  })) {
    assert.deepEqual(on.app[k], v, `app ${k}`);
  }
  assert.ok(on.app.created_at && on.app.updated_at);
  assert.equal(on.app.allow_authenticate_via_warp, undefined, "not filled in");
  assert.equal(on.app.same_site_cookie_attribute, undefined, "not filled in");
  for (const [k, v] of Object.entries({
    exclude: [],
    require: [],
    approval_groups: [],
    approval_required: false,
    isolation_required: false,
    purpose_justification_required: false,
    session_duration: "24h",
    reusable: true,
    app_count: 1,
  })) {
    assert.deepEqual(on.pol[k], v, `policy ${k}`);
  }
  assert.ok(on.tok.created_at && on.tok.updated_at);
  assert.equal(on.tok.client_secret_version, 1);
  assert.equal(on.tok.last_seen_at, null);
  assert.equal(on.dns.proxiable, true);
  assert.deepEqual(on.dns.meta, {});
  assert.equal(on.dns.comment, null);
  assert.deepEqual(on.dns.tags, []);
  assert.ok(on.dns.created_on && on.dns.modified_on);
  assert.equal(on.dns.zone_id, undefined, "zone_id and zone_name left the API in 2025");
  assert.equal(on.dns.zone_name, undefined);

  fake.setServerFilledFields(false);
  const off = await get();
  assert.deepEqual(Object.keys(off.app).sort(), [
    "aud",
    "domain",
    "id",
    "name",
    "policies",
    "type",
  ]);
  assert.deepEqual(Object.keys(off.app.policies[0]).sort(), [
    "decision",
    "id",
    "include",
    "name",
    "precedence",
  ]);
  assert.deepEqual(Object.keys(off.pol).sort(), ["decision", "id", "include", "name"]);
  assert.deepEqual(Object.keys(off.tok).sort(), [
    "client_id",
    "duration",
    "expires_at",
    "id",
    "name",
  ]);
  assert.deepEqual(Object.keys(off.dns).sort(), [
    "content",
    "id",
    "name",
    "proxied",
    "ttl",
    "type",
  ]);

  fake.reset();
  const fresh = await accessStack();
  assert.equal(fresh.app.result.session_duration, "24h", "reset switches them back on");
  const quiet = new FakeCloudflareApi({
    zones: [{ id: ZONE_ID, name: "example.com", accountId: ACCOUNT }],
    serverFilledFields: false,
  });
  const url = await quiet.start();
  try {
    const res = await fetch(`${url}/zones/${ZONE_ID}/dns_records`, {
      method: "POST",
      body: JSON.stringify({ name: "x", type: "A", content: "192.0.2.9", ttl: 1 }),
    });
    assert.equal(((await res.json()) as Body).result.created_on, undefined);
  } finally {
    await quiet.stop();
  }
});

void test("access apps: 12130 for a domain outside the account's active zones", async () => {
  const acc = `/accounts/${ACCOUNT}/access`;
  const refusal = {
    code: 12130,
    message: "access.api.error.invalid_request: domain does not belong to zone",
  };
  const pendingZone = fake.addZone({ name: "pending.test", accountId: ACCOUNT, status: "pending" });
  for (const domain of ["mqtt.pending.test", "mqtt.elsewhere.net", "mqtt.nowhere.example"]) {
    const res = await call("POST", `${acc}/apps`, { name: "a", type: "self_hosted", domain });
    assert.equal(res.status, 400, domain);
    assert.deepEqual(res.errors, [refusal], domain);
  }
  const extra = await call("POST", `${acc}/apps`, {
    name: "a",
    type: "self_hosted",
    domain: "mqtt.example.com",
    self_hosted_domains: ["mqtt.example.com", "mqtt.elsewhere.net"],
  });
  assert.deepEqual(extra.errors, [refusal], "every hostname counts");
  assert.equal(fake.state.accessApps.size, 0);

  fake.setZoneStatus(pendingZone.id, "active");
  const ok = await call("POST", `${acc}/apps`, {
    name: "a",
    type: "self_hosted",
    domain: "*.pending.test/path",
  });
  assert.equal(ok.status, 201, "accepted once the zone is active");

  const zoneApp = await call("POST", `/zones/${ZONE_ID}/access/apps`, {
    name: "z",
    domain: "z.zone0.test",
  });
  assert.deepEqual(zoneApp.errors, [refusal], "a zone-scoped app stays inside its zone");
});

void test("access: create answers 201, delete 202 (apps, policies); service tokens 201 and 200", async () => {
  const { acc, tok, pol, app } = await accessStack();
  assert.equal(tok.status, 201);
  assert.equal(pol.status, 201);
  assert.equal(app.status, 201);
  const delApp = await call("DELETE", `${acc}/apps/${app.result.id}`);
  assert.equal(delApp.status, 202);
  assert.deepEqual(delApp.result, { id: app.result.id });
  const delPol = await call("DELETE", `${acc}/policies/${pol.result.id}`);
  assert.equal(delPol.status, 202);
  assert.deepEqual(delPol.result, { id: pol.result.id });
  assert.equal((await call("DELETE", `${acc}/service_tokens/${tok.result.id}`)).status, 200);
  const zoneApp = await call("POST", `/zones/${ZONE_ID}/access/apps`, {
    name: "z",
    domain: "z.example.com",
  });
  assert.equal(zoneApp.status, 201);
  assert.equal(
    (await call("DELETE", `/zones/${ZONE_ID}/access/apps/${zoneApp.result.id}`)).status,
    202,
  );
  const zoneTok = await call("POST", `/zones/${ZONE_ID}/access/service_tokens`, { name: "z" });
  assert.equal(zoneTok.status, 201);
  // PUT answers 200
  assert.equal(
    (
      await call("PUT", `/zones/${ZONE_ID}/access/service_tokens/${zoneTok.result.id}`, {
        name: "y",
      })
    ).status,
    200,
  );
});

void test("dns: a CNAME to another account's tunnel is accepted but routes no traffic", async () => {
  const mine = (await call("POST", tunnels, { name: "mine", tunnel_secret: secret() })).result;
  const theirs = (
    await call("POST", `/accounts/${OTHER_ACCOUNT}/cfd_tunnel`, {
      name: "theirs",
      tunnel_secret: secret(),
    })
  ).result;
  const records = `/zones/${ZONE_ID}/dns_records`;
  const cross = await call("POST", records, {
    name: "cross",
    type: "CNAME",
    content: `${theirs.id}.cfargotunnel.com`,
    proxied: true,
    ttl: 1,
  });
  assert.equal(cross.status, 200, "the DNS API does not look at the tunnel");
  await call("POST", records, {
    name: "same",
    type: "CNAME",
    content: `${mine.id}.cfargotunnel.com`,
    proxied: true,
    ttl: 1,
  });
  await call("POST", records, {
    name: "ghost",
    type: "CNAME",
    content: "00000000-0000-4000-8000-000000000000.cfargotunnel.com",
    proxied: true,
    ttl: 1,
  });
  const route = fake.tunnelRouteFor("cross.example.com")!;
  assert.equal(route.tunnelId, theirs.id);
  assert.equal(route.proxiesTraffic, false);
  assert.match(route.reason!, /belongs to account/);
  assert.equal(fake.tunnelRouteFor("same.example.com")!.proxiesTraffic, true);
  assert.equal(fake.tunnelRouteFor("ghost.example.com")!.reason, "no such tunnel");
  assert.equal(fake.tunnelRouteFor("nothing.example.com"), undefined);
  fake.setZoneStatus(ZONE_ID, "pending");
  assert.match(fake.tunnelRouteFor("same.example.com")!.reason!, /pending/);
});

void test("limits: no tunnel name length limit; ingress validated as cloudflared does", async () => {
  const long = await call("POST", tunnels, { name: "n".repeat(200), tunnel_secret: secret() });
  assert.equal(long.status, 200);
  const t = (
    await call("POST", tunnels, { name: "cfg", config_src: "cloudflare", tunnel_secret: secret() })
  ).result;
  const put = (ingress: unknown) =>
    call("PUT", `${tunnels}/${t.id}/configurations`, { config: { ingress } });
  const ok = await put([
    { hostname: "a.example.com", service: "ssh://host:22" },
    { hostname: "b.example.com", service: "tcp://mosquitto:1883" },
    { hostname: "c.example.com", service: "wss://x:1" },
    { hostname: "d.example.com", service: "hello_world" },
    { hostname: "e.example.com", service: "unix:/tmp/s.sock" },
    { hostname: "f.example.com", service: "smb://fileserver" },
    { hostname: "*.example.com", path: "^/api", service: "socks-proxy" },
    { service: "http_status:404" },
  ]);
  assert.equal(ok.status, 200, JSON.stringify(ok.errors));
  const refused = async (ingress: unknown, message: RegExp) => {
    const res = await put(ingress);
    assert.equal(res.status, 400, JSON.stringify(ingress));
    assert.match(res.errors[0].message, /^Bad Configuration: Validation failed: /);
    assert.match(res.errors[0].message, message);
  };
  await refused(
    [{ hostname: "a.example.com", service: "http://x:1" }],
    /The last ingress rule must match all URLs/,
  );
  await refused(
    [{ hostname: "a.example.com", service: "http://x:1/sub" }, { service: "http_status:404" }],
    /don't support proxying to a different path/,
  );
  await refused([{ service: "http_status:42" }], /invalid HTTP status code: 42/);
  await refused(
    [{ hostname: "a.*.example.com", service: "http://x:1" }, { service: "http_status:404" }],
    /at most one wildcard/,
  );
  await refused(
    [{ service: "http://x:1" }, { hostname: "a.example.com", service: "http://x:1" }],
    /Rule #1 is matching the hostname '', but this will match every hostname/,
  );
  // No ingress at all is not refused (no source says the API does).
  assert.equal(
    (await call("PUT", `${tunnels}/${t.id}/configurations`, { config: {} })).status,
    200,
  );
});

void test("service tokens: duration, expires_at, version rotation, rotate and refresh", async () => {
  const acc = `/accounts/${ACCOUNT}/access`;
  const created = await call("POST", `${acc}/service_tokens`, { name: "s", duration: "1h" });
  const t = created.result;
  assert.equal(t.duration, "1h");
  assert.equal(Date.parse(t.expires_at) - Date.parse(t.created_at), 3_600_000);
  assert.equal(t.client_secret_version, 1);
  const dflt = (await call("POST", `${acc}/service_tokens`, { name: "d" })).result;
  assert.equal(dflt.duration, "8760h");
  assert.equal(Date.parse(dflt.expires_at) - Date.parse(dflt.created_at), 8760 * 3_600_000);
  for (const duration of ["1 year", "forever", ""]) {
    const bad = await call("POST", `${acc}/service_tokens`, { name: "b", duration });
    assert.equal(bad.status, 400, duration);
  }

  const old = t.client_secret;
  assert.ok(fake.serviceTokenAccepts(t.client_id, old));
  // The provider's rotation: PUT with a higher client_secret_version and the old secret's expiry.
  const until = new Date(Date.now() + 3_600_000).toISOString();
  const put = await call("PUT", `${acc}/service_tokens/${t.id}`, {
    name: "s",
    client_secret_version: 2,
    previous_client_secret_expires_at: until,
  });
  const fresh = put.result.client_secret;
  assert.match(fresh, /^[0-9a-f]{64}$/);
  assert.notEqual(fresh, old);
  assert.equal(put.result.client_secret_version, 2);
  assert.equal(put.result.previous_client_secret_expires_at, until);
  assert.ok(fake.serviceTokenAccepts(t.client_id, fresh));
  assert.ok(fake.serviceTokenAccepts(t.client_id, old), "the old secret until its expiry");
  assert.ok(!fake.serviceTokenAccepts(t.client_id, old, new Date(Date.now() + 2 * 3_600_000)));
  // The same version again rotates nothing and returns no secret.
  const same = await call("PUT", `${acc}/service_tokens/${t.id}`, {
    name: "s",
    client_secret_version: 2,
  });
  assert.equal(same.result.client_secret, undefined);
  // The old secret's expiry can be moved after the rotation.
  await call("PUT", `${acc}/service_tokens/${t.id}`, {
    name: "s",
    client_secret_version: 2,
    previous_client_secret_expires_at: new Date(Date.now() - 1000).toISOString(),
  });
  assert.ok(!fake.serviceTokenAccepts(t.client_id, old), "moved into the past");

  // rotate without an expiry revokes the previous secret at once
  const rotated = await call("POST", `${acc}/service_tokens/${t.id}/rotate`, {});
  assert.equal(rotated.status, 200);
  assert.notEqual(rotated.result.client_secret, fresh);
  assert.equal(rotated.result.client_secret_version, 3);
  assert.ok(!fake.serviceTokenAccepts(t.client_id, fresh));
  assert.ok(fake.serviceTokenAccepts(t.client_id, rotated.result.client_secret));

  // refresh: expires_at = now + duration
  await sleep(20);
  const refreshed = await call("POST", `${acc}/service_tokens/${t.id}/refresh`);
  assert.equal(refreshed.status, 200);
  assert.ok(Date.parse(refreshed.result.expires_at) > Date.parse(t.expires_at));
  assert.equal(
    Date.parse(refreshed.result.expires_at) - Date.parse(refreshed.result.updated_at),
    3_600_000,
  );
  // an expired token is refused whatever its secret
  assert.ok(
    !fake.serviceTokenAccepts(
      t.client_id,
      rotated.result.client_secret,
      new Date(Date.parse(refreshed.result.expires_at) + 1),
    ),
  );
});
