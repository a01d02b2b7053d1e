/**
 * scripts/images.json, the one list of the e2e image tags: in the form scripts/images.sh reads,
 * in step with the binaries scripts/toolchain.sh builds, and typed nowhere else.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { E2E_IMAGE_ROLES, IMAGE_MANIFEST, e2eImage } from "../support/e2eImages";

const ROOT = join(__dirname, "..", "..");
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

test("scripts/images.json names one mqtt-edge-e2e tag per role, one role a line", () => {
  const manifest = JSON.parse(readFileSync(IMAGE_MANIFEST, "utf8"));
  assert.deepEqual(Object.keys(manifest).sort(), [...E2E_IMAGE_ROLES].sort());
  const lines = readFileSync(IMAGE_MANIFEST, "utf8").split("\n");
  for (const role of E2E_IMAGE_ROLES) {
    assert.match(e2eImage(role), new RegExp(`^mqtt-edge-e2e/${role}:[\\w][\\w.-]*$`));
    // images.sh finds a tag with sed, on a line of its own: "ROLE": "TAG"
    const found = lines
      .map((l) => new RegExp(`^ *"${role}": *"([^"]*)",? *$`).exec(l)?.[1])
      .filter(Boolean);
    assert.deepEqual(found, [e2eImage(role)], role);
  }
});

test("the cloudflared and traefik tags name the versions scripts/toolchain.sh builds", () => {
  const toolchain = read("scripts/toolchain.sh");
  const pin = (name: string) =>
    new RegExp(`^${name}_VERSION="\\$\\{MQTT_EDGE_${name}_VERSION:-([^}]+)\\}"`, "m").exec(
      toolchain,
    )?.[1];
  assert.equal(e2eImage("cloudflared"), `mqtt-edge-e2e/cloudflared:${pin("CLOUDFLARED")}`);
  assert.equal(e2eImage("traefik"), `mqtt-edge-e2e/traefik:${pin("TRAEFIK")}`);
});

test("no test, benchmark or script types a tag of scripts/images.json", () => {
  const tags = new Set(E2E_IMAGE_ROLES.map(e2eImage));
  const files = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? files(join(dir, e.name))
        : /\.(ts|sh|js)$/.test(e.name)
          ? [join(dir, e.name)]
          : [],
    );
  const typed = ["tests", "bench", "scripts"]
    .flatMap(files)
    .flatMap((file) =>
      (read(file).match(/mqtt-edge-e2e\/[\w-]+:[\w.-]+/g) ?? [])
        .filter((tag) => tags.has(tag))
        .map((tag) => `${file}: ${tag}`),
    );
  assert.deepEqual(typed, []);
});
