/**
 * Connector failover on a real Docker engine: how long a killed cloudflared connector is down
 * before its restart policy (unless-stopped) brings it back, and whether its sibling is touched.
 *
 *   eval "$(bash scripts/engine.sh start a)" && bash scripts/images.sh && npm run bench:failover
 *
 * The containers are deployed by `pulumi up` of the program (managed mode against the fake
 * Cloudflare API, two replicas) with the real providers. The connectors point at a closed local
 * edge address, so they run and retry without internet. Each round crashes connector 1 (SIGKILL
 * to its main process, from this machine, which runs the engine) and polls `docker inspect` every
 * 50 ms until it is Running with a new StartedAt; meanwhile connector 2 must keep its StartedAt
 * and RestartCount. Five rounds (BENCH_ROUNDS), min/median/max of the time from the kill to
 * connector 1 running again. Bounded (about 2.5 minutes of rounds); `pulumi destroy` removes
 * everything at the end, also on failure.
 *
 * Why not `docker kill`: the engine records a kill through its API as a manual stop, and the
 * restart policy (unless-stopped, also always) does not restart the container (Docker 20.10,
 * checked at the end of every run). A crash, an OOM kill or a kill on the host is what the policy
 * restarts.
 *
 * Docker's restart manager waits 100 ms before the first restart and doubles the delay after a
 * container that ran less than 10 s, up to 1 min; it resets after 10 s of uptime. Rounds are
 * therefore spaced 11 s apart so each one measures the first-restart delay, not the backoff.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import {
  API_TOKEN,
  E2EStack,
  IMAGES,
  dockerJson,
  exitWithoutPlugins,
  requireTools,
  sleep,
  startFakeCloudflare,
  managedTunnel,
} from "../tests/support/e2eStack";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const POLL_MS = 50;
const ROUND_TIMEOUT_MS = 15_000;
/** Uptime after which Docker resets the restart backoff (restartmanager: 10 s). */
const SETTLE_MS = 11_000;
const BUDGET_MS = 150_000;

interface State {
  Running: boolean;
  StartedAt: string;
  RestartCount: number;
  Pid: number;
}

function state(name: string): State {
  const [running, startedAt, restarts, pid] = execFileSync(
    "docker",
    [
      "inspect",
      "--format",
      "{{.State.Running}}|{{.State.StartedAt}}|{{.RestartCount}}|{{.State.Pid}}",
      name,
    ],
    { encoding: "utf8" },
  )
    .trim()
    .split("|");
  return {
    Running: running === "true",
    StartedAt: startedAt,
    RestartCount: Number(restarts),
    Pid: Number(pid),
  };
}

/** SIGKILL to the container's main process: a crash, as the restart manager sees one. */
function crash(name: string, pid: number): void {
  let comm = "";
  try {
    comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    throw new Error(
      `${name}: its process ${pid} is not visible here; the engine must run on this machine`,
    );
  }
  if (comm !== "cloudflared") throw new Error(`${name}: pid ${pid} is "${comm}", not cloudflared`);
  process.kill(pid, "SIGKILL");
}

async function main(): Promise<void> {
  exitWithoutPlugins("bench:failover");
  const tools = requireTools();
  const { fake, baseUrl } = await startFakeCloudflare();
  const stack = new E2EStack(`benchfo${Date.now().toString(36).slice(-5)}`);
  const prefix = `mqtt-edge-${stack.name}-local`;
  const [victim, sibling] = [1, 2].map((i) => `${prefix}-cloudflared-${i}`);
  const times: number[] = [];
  let apiKill = "not tried";
  try {
    await stack.configure(
      {
        tunnel: managedTunnel(tools.cloudflaredImage, {
          hostname: "mqtt-failover.example.com",
          replicas: 2,
        }),
        broker: { image: IMAGES.mosquitto, users: [{ name: "sensor", acl: [] }] },
        "cloudflare:baseUrl": baseUrl,
      },
      { "cloudflare:apiToken": API_TOKEN },
    );
    const t0 = performance.now();
    await stack.up();
    console.log(
      `stack ${stack.name}: pulumi up in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const restart = dockerJson("inspect", victim)[0].HostConfig.RestartPolicy.Name;
    console.log(`${victim} (restart: ${restart}) and ${sibling}; ${ROUNDS} rounds`);
    const started = Date.now();
    await sleep(SETTLE_MS);
    const siblingBefore = state(sibling);
    if (!siblingBefore.Running) throw new Error(`${sibling} is not running`);
    for (let round = 1; round <= ROUNDS; round++) {
      if (Date.now() - started > BUDGET_MS - ROUND_TIMEOUT_MS - SETTLE_MS) {
        console.log(`budget spent: stopping after ${round - 1} rounds`);
        break;
      }
      const before = state(victim);
      if (!before.Running) throw new Error(`${victim} is not running before round ${round}`);
      crash(victim, before.Pid);
      const t0 = performance.now();
      let back: State | undefined;
      while (performance.now() - t0 < ROUND_TIMEOUT_MS) {
        const s = state(victim);
        const sib = state(sibling);
        if (
          !sib.Running ||
          sib.StartedAt !== siblingBefore.StartedAt ||
          sib.RestartCount !== siblingBefore.RestartCount
        ) {
          throw new Error(
            `round ${round}: ${sibling} was disturbed: ${JSON.stringify(sib)} (before ${JSON.stringify(siblingBefore)})`,
          );
        }
        if (s.Running && s.StartedAt !== before.StartedAt) {
          back = s;
          break;
        }
        await sleep(POLL_MS);
      }
      if (!back)
        throw new Error(`round ${round}: ${victim} not running again after ${ROUND_TIMEOUT_MS} ms`);
      const ms = performance.now() - t0;
      times.push(ms);
      console.log(
        `round ${round}: back in ${ms.toFixed(0)} ms (RestartCount ${before.RestartCount} -> ${back.RestartCount}); ${sibling} untouched`,
      );
      if (round < ROUNDS) await sleep(SETTLE_MS);
    }
    // The same container after `docker kill` (an API kill): does the policy restart it?
    const beforeApiKill = state(victim);
    execFileSync("docker", ["kill", victim], { stdio: "ignore" });
    await sleep(5_000);
    const afterApiKill = state(victim);
    apiKill = afterApiKill.Running
      ? `restarted (RestartCount ${beforeApiKill.RestartCount} -> ${afterApiKill.RestartCount})`
      : `not restarted within 5 s (the engine treats an API kill as a manual stop)`;
  } finally {
    await stack.cleanup();
    await fake.stop();
  }
  if (!times.length) throw new Error("no round completed");
  const sorted = [...times].sort((a, b) => a - b);
  const median =
    sorted.length % 2
      ? sorted[(sorted.length - 1) / 2]
      : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  console.log(
    `connector restart after a crash (SIGKILL, ${times.length} rounds, ${POLL_MS} ms polling): ` +
      `min ${sorted[0].toFixed(0)} ms, median ${median.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms; ` +
      `sibling connector kept running throughout (same StartedAt, RestartCount unchanged)`,
  );
  console.log(`after \`docker kill\` instead of a crash: ${apiKill}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
