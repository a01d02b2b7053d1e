/**
 * The README's list of API token permissions is the list the program needs
 * (shared/cloudflarePermissions.ts), no more and no less.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { PERMISSIONS, requiredPermissions } from "../../shared/cloudflarePermissions";

const README = readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");

test("the README names exactly the permissions a managed stack needs", () => {
  const start = README.indexOf("<!-- permissions -->");
  const end = README.indexOf("<!-- /permissions -->");
  assert.ok(start > 0 && end > start, "the README marks its permission list");
  const listed = [...README.slice(start, end).matchAll(/\*([^*]+)\*/g)].map((m) => m[1]);
  const needed = new Set([
    ...requiredPermissions({ access: true, tcpHostname: true, manageZoneSettings: false }),
    ...requiredPermissions({ access: true, tcpHostname: true, manageZoneSettings: true }),
  ]);
  assert.deepEqual(new Set(listed), needed);
  assert.ok(!listed.includes(PERMISSIONS.botManagementRead), "Bot Management Read is optional");
});
