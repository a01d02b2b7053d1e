/**
 * The provider mocks the unit tests and the evaluation benchmarks share
 * (tests/support/providerMocks.ts): they answer exactly the invokes the program makes, and an
 * invoke they do not answer fails the run, naming it.
 */
import assert from "node:assert/strict";
import { describe, mock, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { INVOKES } from "../../shared/resourceTypes";
import { managedConfig, runProgram } from "../support/programRunner";
import {
  containsSecret,
  INVOKE_ANSWERS,
  ProviderMocks,
  SECRET_SIG,
  SECRET_SIG_KEY,
  unwrap,
} from "../support/providerMocks";

const UNKNOWN = "cloudflare:index/getAccount:getAccount";

describe("provider mocks", () => {
  test("answer exactly the invokes of shared/resourceTypes.ts", () => {
    assert.deepEqual(Object.keys(INVOKE_ANSWERS).sort(), Object.values(INVOKES).sort());
  });

  test("an invoke without an answer throws, naming its token, and is kept", () => {
    const error = mock.method(console, "error", () => {});
    try {
      const mocks = new ProviderMocks();
      assert.throws(() => mocks.call({ token: UNKNOWN, inputs: {}, provider: "" }), {
        message: new RegExp(UNKNOWN),
      });
      assert.equal(mocks.unexpected.length, 1);
      assert.match(String(error.mock.calls[0]?.arguments[0]), new RegExp(UNKNOWN));
      assert.throws(() => mocks.assertNoUnexpectedCalls(), { message: new RegExp(UNKNOWN) });
    } finally {
      error.mock.restore();
    }
  });

  test("the preflight's websockets read is answered, another setting is not", () => {
    const mocks = new ProviderMocks({ websocketsOff: ["zone-a"] });
    const read = (settingId: string) =>
      mocks.call({
        token: INVOKES.zoneSetting,
        inputs: { zoneId: "zone-a", settingId },
        provider: "",
      });
    assert.equal(read("websockets").value, "off");
    const error = mock.method(console, "error", () => {});
    try {
      assert.throws(() => read("ssl"), { message: new RegExp(INVOKES.zoneSetting) });
    } finally {
      error.mock.restore();
    }
  });

  test("the secret marker is the SDK's", () => {
    assert.equal(SECRET_SIG_KEY, pulumi.runtime.specialSigKey);
    assert.equal(SECRET_SIG, pulumi.runtime.specialSecretSig);
    const wrapped = { a: [{ [SECRET_SIG_KEY]: SECRET_SIG, value: "s" }] };
    assert.equal(containsSecret(wrapped), true);
    assert.deepEqual(unwrap(wrapped), { a: ["s"] });
  });

  test("a program run fails on an unanswered invoke even when the program catches it", async () => {
    // The zone preflight only warns when getBotManagement fails: without the runner's check the
    // run would pass.
    const invokes = { ...INVOKE_ANSWERS };
    delete invokes[INVOKES.botManagement];
    const error = mock.method(console, "error", () => {});
    try {
      await assert.rejects(runProgram(managedConfig(), { invokes }), {
        message: new RegExp(INVOKES.botManagement),
      });
    } finally {
      error.mock.restore();
    }
  });
});
