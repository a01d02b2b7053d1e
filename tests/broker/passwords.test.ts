/**
 * Password hashes in both directions. The program's `$7$` lines logging in on Debian's mosquitto
 * 2.0 is covered by broker.test.ts (every user connects with its generated password); here,
 * lines that Debian's `mosquitto_passwd -b` writes must verify under verifyPasswordLine, and the
 * broker must check the program's lines for real (a changed hash or iteration count locks out).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { SALT_BYTES, hashPasswordLine, verifyPasswordLine } from "../../components/render";
import {
  Broker,
  generatePassword,
  parseBroker,
  type RenderedFiles,
} from "../support/mosquittoBroker";
import { endAll, end, tryConnect } from "../support/mqttClients";

const TIMEOUT = { timeout: 120_000 };

describe("mosquitto_passwd lines verify under verifyPasswordLine", () => {
  const dir = mkdtempSync(join(tmpdir(), "mqtt-edge-passwd-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const passwords = [
    generatePassword(),
    generatePassword(),
    "short",
    "with space and : colon",
    "ünïcødé-密码",
    "x".repeat(200),
  ];
  passwords.forEach((password, i) => {
    test(`password ${i + 1} (${password.length} chars)`, () => {
      const file = join(dir, `passwd-${i}`);
      execFileSync("mosquitto_passwd", ["-c", "-b", file, `user${i}`, password]);
      const line = readFileSync(file, "utf8").trim();
      // Debian's 2.0.11 writes PBKDF2-SHA512, 101 iterations, a 12-byte salt: the program's format.
      const m = /^user\d+:\$7\$(\d+)\$([^$]+)\$([^$]+)$/.exec(line);
      assert.ok(m, `unexpected line ${line}`);
      assert.equal(Number(m[1]), 101);
      assert.equal(Buffer.from(m[2], "base64").length, SALT_BYTES);
      assert.equal(Buffer.from(m[3], "base64").length, 64);
      assert.equal(verifyPasswordLine(line, password), true, "the right password is refused");
      assert.equal(verifyPasswordLine(line, `${password}x`), false, "a wrong password is accepted");
      assert.equal(verifyPasswordLine(line, password.slice(0, -1)), false, "a prefix is accepted");
    });
  });
});

describe("the broker verifies the program's lines", TIMEOUT, () => {
  const brokers: Broker[] = [];
  after(async () => {
    await endAll();
    for (const b of brokers) await b.dispose();
  });

  /** Replaces sensor's line in the rendered password file. */
  const replaceLine = (line: (pw: string) => string, pw: string) => (f: RenderedFiles) => ({
    ...f,
    passwd: f.passwd!.replace(/^sensor:.*$/m, line(pw)),
  });
  const config = () =>
    parseBroker({
      users: [
        { name: "admin", acl: [] },
        { name: "sensor", acl: [] },
      ],
      persistence: false,
    });

  async function sensorLogsIn(edit?: (f: RenderedFiles) => RenderedFiles, pw = generatePassword()) {
    const b = await Broker.start({ config: config(), passwords: { sensor: pw }, edit });
    brokers.push(b);
    const r = await tryConnect(b.wsUrl, { username: "sensor", password: pw });
    if (r.ok) await end(r.client);
    // admin's untouched line keeps working whatever happened to sensor's.
    const admin = await tryConnect(b.wsUrl, { username: "admin", password: b.passwords.admin });
    assert.ok(admin.ok, "admin's line stopped working");
    await end(admin.client);
    return r.ok;
  }

  test("the rendered line logs in", async () => {
    assert.equal(await sensorLogsIn(), true);
  });

  test("the same password with a 1000-iteration line (2.1's count) logs in too", async () => {
    const salt = Buffer.alloc(SALT_BYTES, 9);
    assert.equal(
      await sensorLogsIn(
        replaceLine((pw) => hashPasswordLine("sensor", pw, salt, 1000), "p-1000"),
        "p-1000",
      ),
      true,
    );
  });

  test("a line whose iteration count was changed without rehashing locks the user out", async () => {
    const pw = generatePassword();
    const edit = replaceLine(
      (p) =>
        hashPasswordLine("sensor", p, Buffer.alloc(SALT_BYTES, 3)).replace("$7$101$", "$7$102$"),
      pw,
    );
    assert.equal(await sensorLogsIn(edit, pw), false);
  });

  test("a line with one hash byte changed locks the user out", async () => {
    const pw = generatePassword();
    const edit = replaceLine((p) => {
      const line = hashPasswordLine("sensor", p, Buffer.alloc(SALT_BYTES, 4));
      const [head, hash] = [
        line.slice(0, line.lastIndexOf("$") + 1),
        line.slice(line.lastIndexOf("$") + 1),
      ];
      const bytes = Buffer.from(hash, "base64");
      bytes[0] ^= 1;
      return head + bytes.toString("base64");
    }, pw);
    assert.equal(await sensorLogsIn(edit, pw), false);
  });
});
