"use strict";
/**
 * A thin Node.js language host in front of the real one, so that `pulumi preview --policy-pack
 * policy` works with our toolchain (scripts/policy-shim/pulumi-language-nodejs starts this file).
 *
 * Why: Pulumi CLI v3.259 starts a policy pack whose PulumiPolicy.yaml says `runtime: nodejs` by
 * asking the nodejs language host to run it (LanguageRuntime.RunPlugin with kind "analyzer";
 * pkg/resource/plugin/analyzer_plugin.go and plugin.go ExecPlugin). It uses the old
 * `pulumi-analyzer-policy[-nodejs]` script only when no nodejs language host is found at all,
 * which never happens here because the program itself needs one. Our language host is built from
 * sdk/v3 v3.68.0 (the newest the Go module proxy serves), whose RunPlugin just returns "not
 * supported", so the CLI fails with `policy pack "policy" failed to start: could not read plugin
 * [.../policy]: not supported`.
 *
 * What: this process starts the real pulumi-language-nodejs (the next one on PATH after this
 * directory, or $MQTT_EDGE_NODEJS_LANGUAGE_HOST) with the same arguments and forwards every
 * LanguageRuntime call to it byte for byte, except RunPlugin with kind "analyzer". That one it
 * answers itself, as newer language hosts do: it runs
 *   node <pack>/node_modules/@pulumi/pulumi/cmd/run-policy-pack <args from the engine> <pack dir>
 * in the pack directory with the environment the engine sent, and streams the child's stdout,
 * stderr and exit code back. The engine then reads the pack's port from that stdout and speaks
 * the analyzer protocol to the pack directly, as it would with a current toolchain.
 *
 * Not done (newer hosts do it through a proxy of the analyzer protocol): setting
 * PULUMI_NODEJS_STACK / _PROJECT / _ORGANIZATION / _DRY_RUN and PULUMI_CONFIG for the pack. The
 * mqtt-edge policies read none of them; stack tags still arrive through ConfigureStack.
 */
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const languageGrpc = require("@pulumi/pulumi/proto/language_grpc_pb");
const languagePb = require("@pulumi/pulumi/proto/language_pb");

const HOST_BIN = "pulumi-language-nodejs";
/** The limit Pulumi's own gRPC servers and clients use (rpcutil.MaxRPCMessageSize). */
const MAX_MESSAGE = 1024 * 1024 * 400;
const GRPC_OPTIONS = {
  "grpc.max_receive_message_length": MAX_MESSAGE,
  "grpc.max_send_message_length": MAX_MESSAGE,
};

function fail(message) {
  process.stderr.write(`policy-shim: ${message}\n`);
  process.exit(1);
}

/** The real language host: $MQTT_EDGE_NODEJS_LANGUAGE_HOST, or the first one on PATH not in our directory. */
function findRealHost() {
  const override = process.env.MQTT_EDGE_NODEJS_LANGUAGE_HOST;
  if (override) return override;
  const self = fs.realpathSync(__dirname);
  for (const dir of (process.env.PATH || "").split(path.delimiter)) {
    if (!dir) continue;
    let real;
    try {
      real = fs.realpathSync(dir);
    } catch {
      continue;
    }
    if (real === self) continue;
    const candidate = path.join(dir, HOST_BIN);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Messages pass through undecoded. */
const raw = (b) => b;

const children = new Set();

function killChildren(signal) {
  for (const child of children) child.kill(signal);
}

/** RunPlugin for a policy pack: runs @pulumi/pulumi/cmd/run-policy-pack from the pack's own node_modules. */
function runPolicyPack(req, call) {
  const send = (field, value) => {
    if (call.cancelled || call.writableEnded) return;
    const res = new languagePb.RunPluginResponse();
    res[field](value);
    call.write(Buffer.from(res.serializeBinary()));
  };
  const finish = (code) => {
    send("setExitcode", code);
    if (!call.cancelled && !call.writableEnded) call.end();
  };

  const dir = req.getInfo()?.getProgramDirectory();
  if (!dir) {
    call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: "no program directory" });
    return;
  }
  let script;
  try {
    script = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [dir] });
  } catch {
    // The engine recognises this message and tells the user to install the pack's dependencies.
    send("setStderr", Buffer.from(`Cannot find module '@pulumi/pulumi/cmd/run-policy-pack'\n`));
    finish(1);
    return;
  }

  const env = {};
  for (const entry of req.getEnvList()) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  // Policy packs run in their own directory, with the program directory as the last argument
  // (what the old pulumi-analyzer-policy script and newer language hosts both do).
  const child = spawn(process.execPath, [script, ...req.getArgsList(), dir], {
    cwd: dir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.stdout.on("data", (b) => send("setStdout", b));
  child.stderr.on("data", (b) => send("setStderr", b));
  child.on("error", (e) => {
    send("setStderr", Buffer.from(`policy-shim: could not start node: ${e.message}\n`));
  });
  child.on("close", (code, signal) => {
    children.delete(child);
    finish(code ?? 128 + (os.constants.signals[signal] || 0));
  });
  // The engine cancels the call when it is done with the pack.
  call.on("cancelled", () => {
    child.kill("SIGINT");
    setTimeout(() => child.kill("SIGKILL"), 5000).unref();
  });
}

function main() {
  const real = findRealHost();
  if (!real) {
    fail(`no other ${HOST_BIN} on PATH (eval "$(bash scripts/toolchain.sh --only cli,nodejs)")`);
  }

  const host = spawn(real, process.argv.slice(2), { stdio: ["ignore", "pipe", "inherit"] });
  children.add(host);
  host.on("error", (e) => fail(`could not start ${real}: ${e.message}`));
  host.on("exit", (code, signal) => {
    children.delete(host);
    killChildren("SIGINT");
    process.exit(code ?? (signal ? 1 : 0));
  });
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
      killChildren(signal);
      setTimeout(() => process.exit(0), 5000).unref();
    });
  }

  // The real host prints its port on the first line of stdout; everything after goes to ours,
  // once we have printed our own port.
  let head = "";
  const onData = (chunk) => {
    head += chunk.toString("utf8");
    const nl = head.indexOf("\n");
    if (nl < 0) return;
    host.stdout.off("data", onData);
    // Hold the rest until it can be piped to our stdout after our own port line.
    host.stdout.pause();
    const port = Number(head.slice(0, nl).trim());
    if (!Number.isInteger(port) || port <= 0) fail(`${real} printed no port: ${head}`);
    serve(host, port, head.slice(nl + 1));
  };
  host.stdout.on("data", onData);
}

function serve(host, realPort, rest) {
  const client = new grpc.Client(
    `127.0.0.1:${realPort}`,
    grpc.credentials.createInsecure(),
    GRPC_OPTIONS,
  );
  const definition = {};
  const handlers = {};
  for (const [name, method] of Object.entries(languageGrpc.LanguageRuntimeService)) {
    definition[name] = {
      ...method,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    };
    if (method.requestStream) {
      fail(`${method.path} streams requests, which this shim does not forward`);
    }
    const forward = method.responseStream
      ? (call) => {
          const upstream = client.makeServerStreamRequest(
            method.path,
            raw,
            raw,
            call.request,
            new grpc.Metadata(),
          );
          upstream.on("data", (d) => call.write(d));
          upstream.on("end", () => call.end());
          upstream.on("error", (e) => call.emit("error", e));
          call.on("cancelled", () => upstream.cancel());
        }
      : (call, callback) => {
          const upstream = client.makeUnaryRequest(
            method.path,
            raw,
            raw,
            call.request,
            new grpc.Metadata(),
            callback,
          );
          call.on("cancelled", () => upstream.cancel());
        };
    handlers[name] =
      method.path === "/pulumirpc.LanguageRuntime/RunPlugin"
        ? (call) => {
            const req = languagePb.RunPluginRequest.deserializeBinary(call.request);
            if (req.getKind() === "analyzer") runPolicyPack(req, call);
            else forward(call);
          }
        : forward;
  }

  const server = new grpc.Server(GRPC_OPTIONS);
  server.addService(definition, handlers);
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) fail(`could not listen: ${err.message}`);
    process.stdout.write(`${port}\n`);
    if (rest) process.stdout.write(rest);
    host.stdout.pipe(process.stdout);
  });
}

main();
