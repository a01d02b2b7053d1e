/**
 * Pebble, Let's Encrypt's ACME test server (github.com/letsencrypt/pebble, built by
 * scripts/toolchain.sh --only pebble), with pebble-challtestsrv as its DNS: every name resolves to
 * 127.0.0.1, so an HTTP-01 validation of any name goes to `httpPort` on this machine's loopback,
 * where the swarm's proxy publishes its HTTP port.
 *
 * The ACME directory listens on `listenIp` (the swarm's docker_gwbridge gateway: task containers
 * reach the host there), with an HTTPS certificate for that address signed by a CA made here:
 * `serverCa` is what the ACME clients must trust (`swarm.letsencrypt.caCertificate`). Pebble's
 * own issuing root is new on every start; `issuingRoot()` fetches it from the management API
 * (loopback only).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { until, which } from "./e2eStack";

export interface PebbleOptions {
  /** Where the ACME directory listens (an address the ACME clients reach). */
  listenIp: string;
  /** The port Pebble validates HTTP-01 challenges on (the proxy's published HTTP port). */
  httpPort: number;
  /** Certificate lifetime in seconds (Pebble's default profile). */
  validitySeconds: number;
}

const PORTS = { acme: 14000, management: 15000, dns: 18053, dnsManagement: 18055 };

/** The binaries this needs, or what to run to get them. */
export function missingPebble(): string[] {
  return ["pebble", "pebble-challtestsrv", "openssl"]
    .filter((b) => !which(b))
    .map((b) =>
      b === "openssl"
        ? "openssl (apt-get install openssl)"
        : `${b} (eval "$(bash scripts/toolchain.sh --only pebble)")`,
    );
}

export class Pebble {
  readonly directory: string;
  readonly serverCa: string;
  private readonly procs: ChildProcess[] = [];
  private readonly logs: string[] = [];

  private constructor(
    private readonly dir: string,
    opts: PebbleOptions,
  ) {
    this.directory = `https://${opts.listenIp}:${PORTS.acme}/dir`;
    this.serverCa = readFileSync(join(dir, "ca.pem"), "utf8");
  }

  static async start(opts: PebbleOptions): Promise<Pebble> {
    const missing = missingPebble();
    if (missing.length) throw new Error(`the ACME tests need: ${missing.join(", ")}`);
    const dir = mkdtempSync(join(tmpdir(), "mqtt-edge-pebble-"));
    makeServerCertificate(dir, opts.listenIp);
    writeFileSync(
      join(dir, "pebble.json"),
      JSON.stringify({
        pebble: {
          listenAddress: `${opts.listenIp}:${PORTS.acme}`,
          managementListenAddress: `127.0.0.1:${PORTS.management}`,
          certificate: join(dir, "server.pem"),
          privateKey: join(dir, "server.key"),
          httpPort: opts.httpPort,
          tlsPort: 5001,
          ocspResponderURL: "",
          externalAccountBindingRequired: false,
          retryAfter: { authz: 1, order: 1 },
          profiles: { default: { description: "e2e", validityPeriod: opts.validitySeconds } },
        },
      }),
    );
    const p = new Pebble(dir, opts);
    p.run("pebble-challtestsrv", [
      "-dnsserver",
      `127.0.0.1:${PORTS.dns}`,
      "-management",
      `127.0.0.1:${PORTS.dnsManagement}`,
      "-defaultIPv4",
      "127.0.0.1",
      "-defaultIPv6",
      "",
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-doh",
      "",
    ]);
    // No random waits before validations and no random nonce rejections: Pebble's defaults
    // exercise client retries, which is not what these tests are about.
    p.run("pebble", ["-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${PORTS.dns}`], {
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_WFE_NONCEREJECT: "0",
    });
    await until("Pebble's ACME directory", 20_000, async () => {
      try {
        return (await p.get(p.directory)).includes("newOrder") || undefined;
      } catch {
        return undefined;
      }
    }).catch(async (e: Error) => {
      await p.stop();
      throw new Error(`${e.message}\n${p.log()}`);
    });
    return p;
  }

  private run(bin: string, args: string[], env: Record<string, string> = {}): void {
    const child = spawn(bin, args, {
      cwd: this.dir,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (d: Buffer) => {
      this.logs.push(
        ...d
          .toString()
          .split("\n")
          .filter(Boolean)
          .map((l) => `${bin}: ${l}`),
      );
      if (this.logs.length > 400) this.logs.splice(0, this.logs.length - 400);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    this.procs.push(child);
  }

  /** GET over HTTPS, trusting the CA made here. */
  private get(url: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        { ca: this.serverCa, timeout: 5000, headers: { "User-Agent": "mqtt-edge-e2e" } },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () =>
            res.statusCode === 200
              ? resolve(body)
              : reject(
                  new Error(`${url}: ${res.statusCode} ${body.replace(/\s+/g, " ").slice(0, 300)}`),
                ),
          );
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${url}: timeout`)));
      req.on("error", reject);
      req.end();
    });
  }

  /** The root Pebble signs with (new on each start). */
  issuingRoot(): Promise<string> {
    return this.get(`https://127.0.0.1:${PORTS.management}/roots/0`);
  }

  /** Pebble's recent log lines (for failure messages). */
  log(lines = 40): string {
    return this.logs.slice(-lines).join("\n");
  }

  /** Orders Pebble finalized, by its own log. */
  issued(): string[] {
    return this.logs.filter((l) => /Issued certificate serial/i.test(l));
  }

  /** Stops both (SIGKILL after 3 s) and removes their files. */
  async stop(): Promise<void> {
    await Promise.all(
      this.procs.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const gone = new Promise((r) => p.once("exit", r));
        p.kill("SIGTERM");
        const timer = setTimeout(() => p.kill("SIGKILL"), 3000);
        await gone;
        clearTimeout(timer);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A throwaway CA and, signed by it, a certificate for `ip` (Pebble's HTTPS listener). */
function makeServerCertificate(dir: string, ip: string): void {
  const ssl = (...args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  ssl(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=e2e ACME server CA",
  );
  ssl("req", "-new", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=pebble");
  writeFileSync(
    join(dir, "ext.cnf"),
    `subjectAltName=IP:${ip},IP:127.0.0.1,DNS:pebble\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
  );
  ssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
}
