#!/usr/bin/env node
// mqtt-edge e2e stand-in for the Docker Flow frontend stack (seed 002).
// No registry is reachable here, so the real images cannot be pulled; this one script, in the
// image mqtt-edge-e2e/dockerflow-standin (tag: scripts/images.json), plays each of them with the
// same environment contract for the parts the end-to-end test exercises. Node built-ins only.
//
//   ROLE=swarm-listener  like dockerflow/docker-flow-swarm-listener  :8080
//   ROLE=proxy           like dockerflow/docker-flow-proxy (MODE=swarm)  :80, :443, :8080
//   ROLE=letsencrypt     like hamburml/docker-flow-letsencrypt    :80 while certbot runs
//   ROLE=demo            a labelled demo service                  :$PORT (8000)
//
//   node /app/standin.js            run $ROLE
//   node /app/standin.js health     exit 0 when $ROLE answers on its own port (healthchecks)
//   node /app/standin.js renew      ROLE=letsencrypt: the renewal run cron starts
"use strict";

const http = require("node:http");
const fs = require("node:fs");
const os = require("node:os");
const dns = require("node:dns");
const path = require("node:path");

const ROLES = ["swarm-listener", "proxy", "letsencrypt", "demo"];
const ROLE = process.env.ROLE || "";
const env = (k, d = "") => (process.env[k] === undefined || process.env[k] === "" ? d : process.env[k]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function log(...a) {
  process.stdout.write(`${new Date().toISOString()} [${ROLE || "standin"}] ${a.join(" ")}\n`);
}
function die(msg, code = 1) {
  process.stderr.write(`${new Date().toISOString()} [${ROLE || "standin"}] FATAL: ${msg}\n`);
  process.exit(code);
}

// PID 1 in a container gets no default signal handlers: exit promptly on TERM/INT.
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => { log(`${sig}: exiting`); process.exit(0); });
}

function listen(server, port, what) {
  return new Promise((resolve) => {
    server.on("error", (e) => die(`cannot listen on :${port} (${what}): ${e.message}`));
    server.listen(port, "0.0.0.0", () => { log(`listening on :${port} (${what})`); resolve(server); });
  });
}

function send(res, status, body, type = "text/plain; charset=utf-8") {
  if (res.headersSent) { res.end(); return; }
  const buf = Buffer.from(typeof body === "string" ? body : JSON.stringify(body) + "\n");
  res.writeHead(status, { "Content-Type": typeof body === "string" ? type : "application/json", "Content-Length": buf.length });
  res.end(buf);
}

// An HTTP request with a timeout; resolves { status, body } (body as a string).
function httpRequest(method, url, body, { timeoutMs = 10000, socketPath } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers = { Host: socketPath ? "docker" : u.host };
    if (body !== undefined) headers["Content-Length"] = Buffer.byteLength(body);
    const req = http.request({
      socketPath, host: socketPath ? undefined : u.hostname, port: socketPath ? undefined : u.port || 80,
      path: u.pathname + u.search, method, headers,
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
const httpGet = (url, opts) => httpRequest("GET", url, undefined, opts);

// Hop-by-hop headers are not forwarded; Node re-frames the body itself (chunked or length).
const HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
  "trailer", "transfer-encoding", "upgrade", "proxy-connection"]);
function endToEnd(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP.has(k.toLowerCase())) out[k] = v;
  return out;
}

// ================================================================================================
// swarm-listener: docker-flow-swarm-listener's contract. Docker at DF_DOCKER_HOST (default
// unix:///var/run/docker.sock), the one variable the real listener reads (its Dockerfile's ENV and
// NewDockerClientFromEnv); DOCKER_HOST is ignored, as there. Services whose label $DF_NOTIFY_LABEL (com.df.notify) is
// "true" are announced with GET $DF_NOTIFY_CREATE_SERVICE_URL?serviceName=..&<com.df.* labels
// without the prefix>&replicas=N, removed ones with $DF_NOTIFY_REMOVE_SERVICE_URL?serviceName=..
// (both: comma-separated URL lists). Retries: DF_RETRY (50) x DF_RETRY_INTERVAL (5 s).
// Changes are found by polling every DF_SERVICE_POLLING_INTERVAL or INTERVAL seconds (5), and at
// once on Docker service events unless DF_USE_DOCKER_SERVICE_EVENTS=false. API on :8080.
// ================================================================================================
function dockerTarget() {
  const h = env("DF_DOCKER_HOST", "unix:///var/run/docker.sock");
  if (h.startsWith("unix://")) return { socketPath: h.slice("unix://".length), base: "http://docker", h };
  if (h.startsWith("tcp://")) return { base: "http://" + h.slice("tcp://".length).replace(/\/+$/, ""), h };
  if (/^https?:\/\//.test(h)) return { base: h.replace(/\/+$/, ""), h };
  die(`unsupported DF_DOCKER_HOST ${h} (unix:// or tcp://)`);
}

async function swarmListener() {
  const docker = dockerTarget();
  const notifyLabel = env("DF_NOTIFY_LABEL", "com.df.notify");
  const urls = (k) => env(k).split(",").map((s) => s.trim()).filter(Boolean);
  const createUrls = urls("DF_NOTIFY_CREATE_SERVICE_URL");
  const removeUrls = urls("DF_NOTIFY_REMOVE_SERVICE_URL");
  const retries = Math.max(1, Number(env("DF_RETRY", "50")) || 50);
  const retryInterval = Math.max(0, Number(env("DF_RETRY_INTERVAL", "5")) || 0) * 1000;
  const pollSeconds = Number(env("DF_SERVICE_POLLING_INTERVAL", "")) > 0
    ? Number(env("DF_SERVICE_POLLING_INTERVAL")) : Number(env("INTERVAL", "5")) || 5;
  const useEvents = env("DF_USE_DOCKER_SERVICE_EVENTS", "true") !== "false";
  for (const k of ["DF_NOTIF_CREATE_SERVICE_URL", "DF_NOTIF_REMOVE_SERVICE_URL"]) {
    if (process.env[k]) log(`WARNING: ${k} is ignored (this listener reads DF_NOTIFY_${k.slice(9)})`);
  }
  if (!createUrls.length) log("WARNING: DF_NOTIFY_CREATE_SERVICE_URL is empty: nothing will be notified");
  log(`docker ${docker.h}; label ${notifyLabel}=true; poll every ${pollSeconds} s; events ${useEvents}; ` +
    `retry ${retries} x ${retryInterval / 1000} s; create -> ${createUrls.join(",") || "-"}; remove -> ${removeUrls.join(",") || "-"}`);

  // The real listener's client is made for API 1.37 (service/docker.go: dockerAPIVersion) and
  // NegotiateAPIVersion only ever lowers it: 1.37, or the engine's own version when older. An
  // engine whose minimum is above 1.37 (Docker 29's is 1.40) refuses every call, as here.
  const LISTENER_API = "1.37";
  let apiPrefix = "";                      // "/v1.37" once /version answered (API negotiation)
  const dget = (p) => httpGet(docker.base + apiPrefix + p, { socketPath: docker.socketPath });
  async function negotiate() {
    const r = await httpGet(docker.base + "/version", { socketPath: docker.socketPath });
    if (r.status !== 200) throw new Error(`GET /version: HTTP ${r.status} ${r.body.trim().slice(0, 200)}`);
    const engine = JSON.parse(r.body).ApiVersion;
    const minor = (v) => Number(String(v).split(".")[1]);
    apiPrefix = "/v" + (minor(engine) < minor(LISTENER_API) ? engine : LISTENER_API);
    log(`docker API ${apiPrefix.slice(1)} (engine ${engine})`);
  }

  function paramsOf(svc) {
    const labels = (svc.Spec && svc.Spec.Labels) || {};
    let name = svc.Spec.Name;
    const ns = labels["com.docker.stack.namespace"];
    if (labels["com.df.shortName"] === "true" && ns && name.startsWith(ns + "_")) name = name.slice(ns.length + 1);
    const p = { serviceName: name };
    for (const [k, v] of Object.entries(labels).sort()) {
      if (k.startsWith("com.df.") && k !== notifyLabel) p[k.slice("com.df.".length)] = v;
    }
    const rep = svc.Spec.Mode && svc.Spec.Mode.Replicated;
    if (rep) p.replicas = String(rep.Replicas ?? 1);
    return p;
  }
  async function current() {
    const r = await dget("/services");
    if (r.status !== 200) throw new Error(`GET /services: HTTP ${r.status} ${r.body.trim().slice(0, 200)}`);
    const out = new Map();
    for (const svc of JSON.parse(r.body)) {
      const labels = (svc.Spec && svc.Spec.Labels) || {};
      if (labels[notifyLabel] !== "true") continue;
      const rep = svc.Spec.Mode && svc.Spec.Mode.Replicated;
      if (rep && Number(rep.Replicas) === 0) continue;   // scaled to 0 counts as removed
      const p = paramsOf(svc);
      out.set(p.serviceName, p);
    }
    return out;
  }

  // One notification "job" per service and kind; a newer state supersedes a retrying older one.
  const generation = new Map();
  async function notify(kind, name, params) {
    const gen = (generation.get(name) || 0) + 1;
    generation.set(name, gen);
    const targets = kind === "create" ? createUrls : removeUrls;
    let allOk = true;
    for (const base of targets) {
      const u = new URL(base);
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
      let ok = false;
      for (let i = 1; i <= retries && generation.get(name) === gen; i++) {
        try {
          const r = await httpGet(u.toString(), { timeoutMs: 10000 });
          if (r.status === 200) {
            log(`notified ${kind} ${name}: GET ${u} -> 200${i > 1 ? ` (attempt ${i})` : ""}`);
            ok = true;
            break;
          }
          log(`notify ${kind} ${name}: GET ${u} -> HTTP ${r.status} ${r.body.trim().slice(0, 200)} (attempt ${i}/${retries})`);
        } catch (e) {
          log(`notify ${kind} ${name}: GET ${u} failed: ${e.message} (attempt ${i}/${retries})`);
        }
        if (i < retries) await sleep(retryInterval);
      }
      if (!ok) allOk = false;
    }
    return allOk && generation.get(name) === gen;
  }

  const known = new Map();                 // serviceName -> JSON of the last notified params
  let polling = null, again = false;
  async function poll(reason) {
    if (polling) { again = true; return polling; }
    polling = (async () => {
      do {
        again = false;
        try {
          if (!apiPrefix) await negotiate();
          const now = await current();
          for (const [name, p] of now) {
            const sig = JSON.stringify(p);
            if (known.get(name) === sig) continue;
            log(`${known.has(name) ? "updated" : "new"} service ${name} (${reason})`);
            known.set(name, sig);
            notify("create", name, p).then((ok) => { if (!ok && known.get(name) === sig) known.delete(name); });
          }
          for (const name of [...known.keys()]) {
            if (now.has(name)) continue;
            log(`removed service ${name} (${reason})`);
            known.delete(name);
            notify("remove", name, { serviceName: name });
          }
        } catch (e) {
          log(`poll failed: ${e.message}`);
          apiPrefix = "";
        }
      } while (again);
      polling = null;
    })();
    return polling;
  }

  // Docker service events (through the socket proxy: needs EVENTS=1) trigger an immediate poll.
  function watchEvents() {
    const filters = encodeURIComponent(JSON.stringify({ type: ["service"] }));
    const u = new URL(docker.base + (apiPrefix || "") + `/events?filters=${filters}`);
    const req = http.request({
      socketPath: docker.socketPath, host: docker.socketPath ? undefined : u.hostname,
      port: docker.socketPath ? undefined : u.port || 80, path: u.pathname + u.search,
      headers: { Host: docker.socketPath ? "docker" : u.host },
    }, (res) => {
      if (res.statusCode !== 200) {
        log(`events: HTTP ${res.statusCode}; polling only, retrying events in 30 s`);
        res.resume();
        setTimeout(watchEvents, 30000);
        return;
      }
      log("events: watching Docker service events");
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i); buf = buf.slice(i + 1);
          try {
            const ev = JSON.parse(line);
            const n = ev.Actor && ev.Actor.Attributes && ev.Actor.Attributes.name;
            log(`event service ${ev.Action} ${n || ev.Actor?.ID || ""}`);
          } catch { /* partial or non-JSON line */ }
          setTimeout(() => poll("event"), 300);
        }
      });
      res.on("end", () => { log("events: stream ended; reconnecting in 5 s"); setTimeout(watchEvents, 5000); });
      res.on("error", () => {});
    });
    req.on("error", (e) => { log(`events: ${e.message}; reconnecting in 5 s`); setTimeout(watchEvents, 5000); });
    req.end();
  }

  const api = http.createServer(async (req, res) => {
    const p = new URL(req.url, "http://x").pathname;
    if (p === "/v1/docker-flow-swarm-listener/ping") return send(res, 200, { Status: "OK" });
    try {
      if (p === "/v1/docker-flow-swarm-listener/get-services") {
        if (!apiPrefix) await negotiate();
        return send(res, 200, [...(await current()).values()]);
      }
      if (p === "/v1/docker-flow-swarm-listener/notify-services") {
        if (!apiPrefix) await negotiate();
        const now = await current();
        log(`notify-services requested by ${req.socket.remoteAddress}: re-sending ${now.size} service(s)`);
        for (const [name, p2] of now) { known.set(name, JSON.stringify(p2)); notify("create", name, p2); }
        return send(res, 200, { Status: "OK" });
      }
    } catch (e) {
      log(`${p}: ${e.message}`);
      return send(res, 500, { Status: "NOK", Message: e.message });
    }
    send(res, 404, "404 page not found\n");
  });
  await listen(api, 8080, "listener API");

  await poll("start");
  if (useEvents) watchEvents();
  setInterval(() => poll("poll"), pollSeconds * 1000);
}

// ================================================================================================
// proxy: docker-flow-proxy's contract, MODE=swarm, without HAProxy. Control API on :8080
// (/v1/docker-flow-proxy/{reconfigure,remove,config,ping,reload,cert,certs}); HTTP on :80 forwards
// to http://<serviceName>:<port><path> by servicePath prefix (longest wins) and serviceDomain
// (= Host, "*.x" = suffix), 503 without a route. HTTPS on :443 the same, with the certificates
// PUT to /cert (combined PEM: certificate, chain, key; the one whose names match the client's
// SNI, else the first, as HAProxy's crt-list does); with none, the TLS handshake fails.
// On start, with LISTENER_ADDRESS, routes are fetched from the listener's get-services, as the
// real proxy's ReloadConfig does (the listener also answers notify-services).
// ================================================================================================
const NO_SERVER_503 = "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n";

async function proxyRole() {
  const mode = env("MODE", "default");
  if (mode !== "swarm") log(`WARNING: MODE=${mode}: the stand-in implements MODE=swarm routing only`);
  const serviceName = env("SERVICE_NAME", "proxy");     // for distribute=true (tasks.<SERVICE_NAME>)
  const routes = new Map();                             // serviceName -> { params, entries[] }
  const certs = new Map();

  function entriesOf(q) {
    const out = [];
    const one = (sfx) => {
      const paths = (q.get("servicePath" + sfx) || "").split(",").map((s) => s.trim()).filter(Boolean);
      const port = (q.get("port" + sfx) || "").trim();
      const domains = (q.get("serviceDomain" + sfx) || "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
      if (!paths.length && !port && !domains.length) return false;
      out.push({ paths: paths.length ? paths : ["/"], port, domains });
      return true;
    };
    one("");
    for (let i = 1; i <= 10; i++) if (!one("." + i)) break;
    return out;
  }
  function configure(q) {
    const name = (q.get("serviceName") || "").trim();
    if (!name) return [400, "serviceName parameter is mandatory"];
    const entries = entriesOf(q);
    if (!entries.length || entries.some((e) => !e.port)) {
      return [400, "When MODE is set to swarm, port parameter is mandatory"];
    }
    for (const e of entries) if (!/^\d+$/.test(e.port)) return [400, `port must be a number, got ${e.port}`];
    routes.set(name, { params: Object.fromEntries(q), entries });
    log(`reconfigure ${name}: ${entries.map((e) => `${e.domains.length ? e.domains.join(",") : "*"} ${e.paths.join(",")} -> ${name}:${e.port}`).join("; ")}`);
    return [200, ""];
  }
  function lookup(host, urlPath) {
    const h = (host || "").replace(/:\d+$/, "").toLowerCase();
    let best = null;
    for (const [name, r] of routes) {
      for (const e of r.entries) {
        let domainScore = 0;
        if (e.domains.length) {
          const hit = e.domains.some((d) => (d.startsWith("*.") ? h.endsWith(d.slice(1)) : h === d));
          if (!hit) continue;
          domainScore = 1;
        }
        for (const p of e.paths) {
          if (!urlPath.startsWith(p)) continue;
          const score = [domainScore, p.length];
          if (!best || score[0] > best.score[0] || (score[0] === best.score[0] && score[1] > best.score[1])) {
            best = { name, port: Number(e.port), path: p, score };
          }
        }
      }
    }
    return best;
  }

  // distribute=true: apply here and forward the same request (distribute=false, the same body)
  // to the other proxy tasks: routes (GET) and certificates (PUT).
  async function distribute(req, q, body) {
    let addrs = [];
    try { addrs = (await dns.promises.lookup(`tasks.${serviceName}`, { all: true, family: 4 })).map((a) => a.address); } catch (e) {
      log(`distribute: cannot resolve tasks.${serviceName}: ${e.code || e.message}`);
      return;
    }
    const mine = new Set(Object.values(os.networkInterfaces()).flat().map((i) => i.address));
    const q2 = new URLSearchParams(q); q2.set("distribute", "false");
    const p = new URL(req.url, "http://x").pathname;
    const what = q.get("serviceName") || q.get("certName");
    const others = addrs.filter((x) => !mine.has(x));
    log(`distribute ${what}: tasks.${serviceName} = ${addrs.join(",")}; forwarding to ${others.length} other proxy task(s)`);
    for (const a of others) {
      httpRequest(req.method, `http://${a}:8080${p}?${q2}`, body).then(
        (r) => log(`distribute ${p} ${what} to ${a}: HTTP ${r.status}`),
        (e) => log(`distribute ${p} ${what} to ${a}: ${e.message}`));
    }
  }

  const control = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    const q = u.searchParams;
    const base = "/v1/docker-flow-proxy/";
    if (!u.pathname.startsWith(base)) return send(res, 404, "404 page not found\n");
    const op = u.pathname.slice(base.length);
    if (op === "ping") return send(res, 200, { Status: "OK" });
    if (op === "config") {
      const out = [...routes].map(([name, r]) => ({ serviceName: name, routes: r.entries, params: r.params }));
      return send(res, 200, q.get("type") === "text"
        ? out.map((r) => r.routes.map((e) => `${r.serviceName} ${e.domains.join(",") || "*"} ${e.paths.join(",")} :${e.port}`).join("\n")).join("\n") + "\n"
        : out);
    }
    if (op === "reconfigure") {
      const [status, msg] = configure(q);
      if (status === 200 && q.get("distribute") === "true") distribute(req, q);
      if (status !== 200) log(`reconfigure rejected (${status}): ${msg} [${u.search}]`);
      return send(res, status, { Status: status === 200 ? "OK" : "NOK", Message: msg, ServiceName: q.get("serviceName") || "" });
    }
    if (op === "remove") {
      const name = (q.get("serviceName") || "").trim();
      if (!name) return send(res, 400, { Status: "NOK", Message: "serviceName parameter is mandatory" });
      const had = routes.delete(name);
      log(`remove ${name}${had ? "" : " (had no route)"}`);
      if (q.get("distribute") === "true") distribute(req, q);
      return send(res, 200, { Status: "OK", Message: "", ServiceName: name });
    }
    if (op === "reload") {
      if (q.get("fromListener") === "true") reloadFromListener(1);
      return send(res, 200, { Status: "OK" });
    }
    if (op === "cert" && req.method === "PUT") {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const name = q.get("certName") || "";
        if (!name) return send(res, 400, { Status: "NOK", Message: "certName parameter is mandatory" });
        const body = Buffer.concat(chunks);
        try {
          certs.set(name, certEntry(body.toString()));
        } catch (e) {
          log(`cert ${name} refused: ${e.message}`);
          return send(res, 400, { Status: "NOK", Message: e.message });
        }
        const c = certs.get(name);
        log(`cert ${name} stored: ${c.names.join(",")}, serial ${c.serial}, until ${c.validTo}`);
        if (q.get("distribute") === "true") distribute(req, q, body);
        send(res, 200, { Status: "OK" });
      });
      return;
    }
    if (op === "certs") {
      return send(res, 200, { Certs: [...certs].map(([n, c]) => ({ ProxyServiceName: n, Size: c.size, Names: c.names, Serial: c.serial })) });
    }
    send(res, 404, "404 page not found\n");
  });
  await listen(control, 8080, "proxy control API");

  // A combined PEM (certificates, then the key) as a TLS context and the names it serves.
  function certEntry(pem) {
    const blocks = pem.match(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g) || [];
    const chain = blocks.filter((b) => b.startsWith("-----BEGIN CERTIFICATE-----"));
    const key = blocks.find((b) => /^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(b));
    if (!chain.length || !key) throw new Error("expected a combined PEM: certificate(s) and a private key");
    const x = new (require("node:crypto").X509Certificate)(chain[0]);
    const names = (x.subjectAltName || "").split(", ").filter((n) => n.startsWith("DNS:")).map((n) => n.slice(4));
    return { size: Buffer.byteLength(pem), x, names, serial: x.serialNumber, validTo: x.validTo,
      context: require("node:tls").createSecureContext({ cert: chain.join("\n"), key }) };
  }
  function contextFor(servername) {
    const all = [...certs.values()];
    const hit = servername ? all.find((c) => c.x.checkHost(servername)) : undefined;
    return (hit || all[0])?.context;
  }
  // distribute=true for a certificate: the same PUT, distribute=false, to the other proxy tasks.
  const forward = (proto) => (req, res) => {
    const urlPath = req.url.split("?")[0];
    const r = lookup(req.headers.host, urlPath);
    if (!r) {
      log(`503 ${req.method} ${req.headers.host || ""}${req.url} (no route)`);
      req.resume();
      return send(res, 503, NO_SERVER_503, "text/html");
    }
    const headers = endToEnd(req.headers);
    const xff = req.headers["x-forwarded-for"];
    headers["x-forwarded-for"] = (xff ? xff + ", " : "") + req.socket.remoteAddress.replace(/^::ffff:/, "");
    headers["x-forwarded-proto"] = proto;
    const up = http.request({ host: r.name, port: r.port, path: req.url, method: req.method, headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.statusMessage, endToEnd(ur.headers));
      ur.pipe(res);
      log(`${req.method} ${req.headers.host || ""}${req.url} -> ${r.name}:${r.port} ${ur.statusCode}`);
    });
    up.setTimeout(30000, () => up.destroy(new Error("upstream timeout")));
    up.on("error", (e) => {
      log(`503 ${req.method} ${req.url} -> ${r.name}:${r.port}: ${e.code || e.message}`);
      send(res, 503, NO_SERVER_503, "text/html");
    });
    req.pipe(up);
  };
  await listen(http.createServer(forward("http")), 80, "HTTP frontend");
  const tlsFront = require("node:https").createServer({
    SNICallback: (servername, cb) => {
      const ctx = contextFor(servername);
      if (ctx) cb(null, ctx);
      else cb(new Error(`no certificate for ${servername || "(no SNI)"}`));
    },
  }, forward("https"));
  tlsFront.on("tlsClientError", (e) => log(`TLS: ${e.message}`));
  await listen(tlsFront, 443, "HTTPS frontend (certificates from PUT /cert)");

  async function reloadFromListener(maxTries) {
    let addr = env("LISTENER_ADDRESS");
    if (!addr) return;
    if (!/^https?:\/\//.test(addr)) addr = `http://${addr}:8080`;
    const u = `${addr}/v1/docker-flow-swarm-listener/get-services`;
    for (let i = 1; i <= maxTries; i++) {
      try {
        const r = await httpGet(u);
        if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
        const list = JSON.parse(r.body);
        for (const p of list) {
          const [status, msg] = configure(new URLSearchParams(p));
          if (status !== 200) log(`from listener: ${p.serviceName}: ${msg}`);
        }
        log(`got ${list.length} service(s) from ${u}`);
        return;
      } catch (e) {
        log(`GET ${u}: ${e.message} (attempt ${i}/${maxTries})`);
        if (i < maxTries) await sleep(5000);
      }
    }
  }
  reloadFromListener(Number(env("RELOAD_ATTEMPTS", "60")) || 60);
}

// ================================================================================================
// letsencrypt: hamburml/docker-flow-letsencrypt 0.0.10's contract (its servicestart, certbot.sh,
// renewAndSendToProxy.sh and renewcron), with Debian's certbot where the real image runs
// Ubuntu 18.04's. DOMAIN_1..DOMAIN_<COUNT> are bash arrays "('a.example.com' 'www.a.example.com')"
// (one certificate each), CERTBOT_EMAIL, PROXY_ADDRESS (comma-separated), CERTBOT_CRON_RENEW (bash
// array of cron lines), CERTBOTMODE (staging). On start: each domain is validated by a certbot
// dry run (5 tries, 5 s apart), the validated ones get one certificate (certbot certonly
// --standalone: certbot itself answers the HTTP-01 challenge on :80 while it runs), then the
// renewal run; after that the renewal run at each CERTBOT_CRON_RENEW time. The renewal run
// (also `node /app/standin.js renew`, as cron runs it) sends each /etc/letsencrypt/live/<name>
// as <name>.combined.pem (cert, chain, key) to PUT http://<proxy>:8080/v1/docker-flow-proxy/cert
// ?certName=<name>.combined.pem&distribute=true, runs `certbot renew`, and sends them again.
// Like cron's jobs there, it runs with no environment but PATH, HOME, PROXY_ADDRESS and
// CERTBOTMODE. The ACME directory is certbot's own setting: /etc/letsencrypt/cli.ini `server`.
// Not copied: supervisord and the tar backup of /etc/letsencrypt after each renewal run.
// ================================================================================================
// A bash array literal: ( word word ... ) with 'single', "double" or bare words.
function parseBashArray(name, raw) {
  let s = raw.trim();
  // A compose list entry `- DOMAIN_1="('a' 'b')"` keeps the double quotes in the value.
  if (s.length >= 2 && s[0] === '"' && s[s.length - 1] === '"') s = s.slice(1, -1).trim();
  if (!(s.startsWith("(") && s.endsWith(")"))) throw new Error(`${name} must be a bash array like "('a.example.com' 'www.a.example.com')", got ${JSON.stringify(raw)}`);
  s = s.slice(1, -1);
  const out = [];
  let i = 0;
  while (i < s.length) {
    if (/\s/.test(s[i])) { i++; continue; }
    let w = "";
    while (i < s.length && !/\s/.test(s[i])) {
      const c = s[i];
      if (c === "'" || c === '"') {
        const j = s.indexOf(c, i + 1);
        if (j < 0) throw new Error(`${name}: unterminated ${c} in ${JSON.stringify(raw)}`);
        w += s.slice(i + 1, j); i = j + 1;
      } else { w += c; i++; }
    }
    out.push(w);
  }
  return out;
}
const unquote = (v) => v.trim().replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1");

function letsencryptConfig() {
  const errors = [];
  const countRaw = unquote(env("DOMAIN_COUNT"));
  const count = /^\d+$/.test(countRaw) ? Number(countRaw) : NaN;
  if (!(count >= 1)) errors.push(`DOMAIN_COUNT must be a positive integer, got ${JSON.stringify(env("DOMAIN_COUNT"))}`);
  const defined = Object.keys(process.env).filter((k) => /^DOMAIN_\d+$/.test(k) && process.env[k] !== "")
    .map((k) => Number(k.slice(7))).sort((a, b) => a - b);
  const certificates = [];
  if (count >= 1) {
    const extra = defined.filter((n) => n > count);
    if (extra.length) errors.push(`DOMAIN_COUNT=${count} but ${extra.map((n) => "DOMAIN_" + n).join(", ")} ${extra.length > 1 ? "are" : "is"} set too`);
    for (let n = 1; n <= count; n++) {
      const raw = env(`DOMAIN_${n}`);
      if (!raw) { errors.push(`DOMAIN_COUNT=${count} but DOMAIN_${n} is not set`); continue; }
      try {
        const domains = parseBashArray(`DOMAIN_${n}`, raw);
        if (!domains.length) errors.push(`DOMAIN_${n} has no domain`);
        for (const d of domains) {
          if (!/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(d)) {
            errors.push(`DOMAIN_${n}: ${JSON.stringify(d)} is not a fully qualified domain name`);
          }
        }
        certificates.push({ name: domains[0] || "", domains, variable: `DOMAIN_${n}` });
      } catch (e) { errors.push(e.message); }
    }
  }
  const email = unquote(env("CERTBOT_EMAIL"));
  if (!email) errors.push("CERTBOT_EMAIL is empty!");
  else if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) errors.push(`CERTBOT_EMAIL ${JSON.stringify(email)} is not an e-mail address`);
  const proxyAddress = unquote(env("PROXY_ADDRESS"));
  let cron = [];
  if (env("CERTBOT_CRON_RENEW")) {
    try {
      cron = parseBashArray("CERTBOT_CRON_RENEW", env("CERTBOT_CRON_RENEW"));
      for (const c of cron) if (c.trim().split(/\s+/).length !== 5) errors.push(`CERTBOT_CRON_RENEW: ${JSON.stringify(c)} is not a 5-field cron schedule`);
    } catch (e) { errors.push(e.message); }
  }
  return { errors, config: {
    certificates, certbotEmail: email, proxyAddress, certbotCronRenew: cron, staging: Boolean(env("CERTBOTMODE")),
  } };
}

const CERTBOT_TRIES = 5;        // certbot.sh MAXRETRIES
const CERTBOT_PAUSE_MS = 5000;  // certbot.sh TIMEOUT
const LIVE = "/etc/letsencrypt/live";
const READY_FILE = "/tmp/companion-ready";

// Runs a command; resolves { code, out } with stdout and stderr interleaved.
function run(cmd, args, { env: runEnv } = {}) {
  return new Promise((resolve) => {
    const child = require("node:child_process").spawn(cmd, args, { env: runEnv || process.env });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    child.on("error", (e) => resolve({ code: 127, out: `${cmd}: ${e.message}` }));
    child.on("close", (code) => resolve({ code: code ?? 1, out }));
  });
}

// certbot.sh's common arguments, --staging when CERTBOTMODE is set.
function certbotArgs(email, staging) {
  return ["--no-self-upgrade", "--no-bootstrap", "--standalone", "--non-interactive", "--expand",
    "--keep-until-expiring", "--email", email, "--agree-tos", "--preferred-challenges", "http-01",
    "--rsa-key-size", "4096", "--redirect", "--hsts", "--staple-ocsp", ...(staging ? ["--staging"] : [])];
}

// cron's environment for the renewal run: what renewcron sets, and HOME (cron's, from passwd).
function cronEnv() {
  const e = { PATH: "/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin", HOME: "/root",
    SHELL: "/bin/sh", PROXY_ADDRESS: env("PROXY_ADDRESS") };
  if (env("CERTBOTMODE")) e.CERTBOTMODE = env("CERTBOTMODE");
  return e;
}

// The start-up run (certbot.sh): validate each domain by a dry run, then one certonly per array.
async function obtain(config) {
  const args = certbotArgs(config.certbotEmail, config.staging);
  for (const c of config.certificates) {
    const validated = [];
    for (const d of c.domains) {
      let ok = false;
      for (let t = 1; t <= CERTBOT_TRIES && !ok; t++) {
        const r = await run("certbot", ["certonly", "--dry-run", ...args, "-d", d]);
        ok = r.out.includes("The dry run was successful.");
        if (!ok) {
          log(`certbot dry run for ${d} failed (try ${t}/${CERTBOT_TRIES}): ${r.out.trim().split("\n").slice(-4).join(" | ")}`);
          if (t < CERTBOT_TRIES) await sleep(CERTBOT_PAUSE_MS);
        }
      }
      if (ok) { log(`domain ${d} successfully validated`); validated.push(d); }
      else log(`unable to verify domain ownership of ${d} after ${CERTBOT_TRIES} attempts`);
    }
    if (!validated.length) continue;
    const name = fs.existsSync(path.join(LIVE, c.name)) ? ["--cert-name", c.name] : [];
    const r = await run("certbot", ["certonly", ...args, ...name, ...validated.flatMap((d) => ["-d", d])]);
    log(`certbot certonly ${validated.join(" ")}: exit ${r.code}${r.code ? ": " + r.out.trim().split("\n").slice(-4).join(" | ") : ""}`);
  }
}

// renewAndSendToProxy.sh: send what is there, `certbot renew`, send again.
async function renewAndSend() {
  const proxies = env("PROXY_ADDRESS").split(",").map((s) => s.trim()).filter(Boolean);
  const send = async (when) => {
    let names = [];
    try { names = fs.readdirSync(LIVE, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { /* none yet */ }
    for (const proxy of proxies) {
      for (const name of names) {
        const dir = path.join(LIVE, name);
        const pem = ["cert.pem", "chain.pem", "privkey.pem"].map((f) => fs.readFileSync(path.join(dir, f))).join("");
        fs.writeFileSync(path.join(dir, `${name}.combined.pem`), pem, { mode: 0o600 });
        const url = `http://${proxy}:8080/v1/docker-flow-proxy/cert?certName=${name}.combined.pem&distribute=true`;
        let sent = false;
        for (let t = 1; t <= CERTBOT_TRIES && !sent; t++) {
          try {
            const r = await httpRequest("PUT", url, pem);
            sent = r.status >= 200 && r.status < 300;
            if (!sent) log(`${when} ${name}.combined.pem to ${proxy}: HTTP ${r.status} ${r.body.trim().slice(0, 200)}`);
          } catch (e) { log(`${when} ${name}.combined.pem to ${proxy}: ${e.message}`); }
          if (!sent && t < CERTBOT_TRIES) await sleep(CERTBOT_PAUSE_MS);
        }
        log(sent ? `${when}: proxy ${proxy} received ${name}.combined.pem` : `${when}: transmit to ${proxy} failed after ${CERTBOT_TRIES} attempts`);
      }
    }
  };
  await send("old certificates");
  // Since certbot 1.x a non-interactive `renew` first sleeps up to 8 minutes at random; Ubuntu
  // 18.04's certbot (0.27/0.31), which the real image runs, has no such sleep.
  const r = await run("certbot", ["renew", "--no-bootstrap", "--no-self-upgrade", "--no-random-sleep-on-renew"], { env: cronEnv() });
  const lines = r.out.trim().split("\n");
  log(`certbot renew: exit ${r.code}: ${(r.code ? lines.slice(-8) : lines.filter((l) => /renew|success|fail|skip|not due/i.test(l))).join(" | ")}`);
  await send("current certificates");
  return r.code;
}

// A 5-field cron schedule (minute hour day-of-month month day-of-week): *, n, a-b, lists, /step.
function cronMatches(expr, d) {
  const [mi, h, dom, mon, dow] = expr.trim().split(/\s+/);
  const field = (spec, v, lo, hi) => spec.split(",").some((part) => {
    const [range, stepRaw] = part.split("/");
    const step = stepRaw ? Number(stepRaw) : 1;
    let [a, b] = range === "*" ? [lo, hi] : range.split("-").map(Number);
    if (b === undefined) b = stepRaw ? hi : a;
    return v >= a && v <= b && (v - a) % step === 0;
  });
  const dowOk = field(dow, d.getDay(), 0, 7) || (d.getDay() === 0 && field(dow, 7, 0, 7));
  const domOk = field(dom, d.getDate(), 1, 31);
  const dayOk = dom !== "*" && dow !== "*" ? domOk || dowOk : domOk && dowOk;
  return field(mi, d.getMinutes(), 0, 59) && field(h, d.getHours(), 0, 23) && field(mon, d.getMonth() + 1, 1, 12) && dayOk;
}


async function letsencrypt() {
  const { errors, config } = letsencryptConfig();
  if (errors.length) {
    for (const e of errors) process.stderr.write(`ERROR: ${e}\n`);
    die(`invalid configuration (${errors.length} error${errors.length > 1 ? "s" : ""})`, 1);
  }
  if (process.argv[2] === "renew") process.exit(await renewAndSend());
  for (const c of config.certificates) log(`certificate ${c.name}: ${c.domains.join(" ")} (email ${config.certbotEmail}${config.staging ? ", staging" : ""})`);
  if (!config.proxyAddress) log("WARNING: PROXY_ADDRESS is empty: certificates cannot be sent to a proxy");
  await obtain(config);
  await renewAndSend();
  fs.writeFileSync(READY_FILE, new Date().toISOString() + "\n");
  log(`renew schedule: ${config.certbotCronRenew.join(" | ") || "none"}`);
  let last = "";
  setInterval(async () => {
    const now = new Date();
    const minute = now.toISOString().slice(0, 16);
    if (minute === last || !config.certbotCronRenew.some((c) => cronMatches(c, now))) return;
    last = minute;
    log("cron: renewal run");
    await renewAndSend();
  }, 15000);
}

// ================================================================================================
// demo: "demo <hostname> <path>" on :$PORT.
// ================================================================================================
async function demo() {
  const port = Number(env("PORT", "8000"));
  const server = http.createServer((req, res) => {
    log(`${req.method} ${req.url} (from ${req.headers["x-forwarded-for"] || req.socket.remoteAddress})`);
    send(res, 200, `demo ${os.hostname()} ${req.url}\n`);
  });
  await listen(server, port, "demo");
}

// ================================================================================================
const HEALTH = {
  "swarm-listener": [8080, "/v1/docker-flow-swarm-listener/ping"],
  proxy: [8080, "/v1/docker-flow-proxy/ping"],
  letsencrypt: null,   // ready once the start-up run is over (READY_FILE)
  demo: [Number(env("PORT", "8000")), "/"],
};

async function main() {
  if (!ROLES.includes(ROLE)) die(`set ROLE to one of: ${ROLES.join(" | ")} (got ${JSON.stringify(ROLE)})`, 2);
  if (process.argv[2] === "health") {
    if (!HEALTH[ROLE]) process.exit(fs.existsSync(READY_FILE) ? 0 : 1);
    const [port, p] = HEALTH[ROLE];
    try {
      const r = await httpGet(`http://127.0.0.1:${port}${p}`, { timeoutMs: 3000 });
      process.exit(r.status === 200 ? 0 : 1);
    } catch { process.exit(1); }
  }
  if (process.argv[2] && !(process.argv[2] === "renew" && ROLE === "letsencrypt")) {
    die(`unknown argument ${process.argv[2]} (only "health", and "renew" for ROLE=letsencrypt)`, 2);
  }
  log(`stand-in (node ${process.version}, pid ${process.pid}, host ${os.hostname()})`);
  await ({ "swarm-listener": swarmListener, proxy: proxyRole, letsencrypt, demo })[ROLE]();
}
main().catch((e) => die(e.stack || String(e)));
