/**
 * The README's worked examples, read by the tests that run them, so an example is the config a
 * test uses rather than a copy that can drift from it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";

const README = join(__dirname, "..", "..", "README.md");

/**
 * The `config:` map of the first ```yaml block under the README heading `heading` (the whole
 * heading line, e.g. "## Keep alive behind Cloudflare"), keys as written (`mqtt-edge:broker`).
 */
export function readmeExample(heading: string): Record<string, Record<string, unknown>> {
  const lines = readFileSync(README, "utf8").split("\n");
  const at = lines.indexOf(heading);
  if (at < 0) throw new Error(`README.md has no heading "${heading}"`);
  const next = lines.findIndex((l, i) => i > at && /^#{1,2} /.test(l));
  const section = lines.slice(at + 1, next < 0 ? undefined : next);
  const start = section.indexOf("```yaml");
  const end = section.indexOf("```", start + 1);
  if (start < 0 || end < 0) throw new Error(`no yaml block under "${heading}" in README.md`);
  const doc = parseYaml(section.slice(start + 1, end).join("\n")) as {
    config?: Record<string, Record<string, unknown>>;
  };
  if (!doc?.config) throw new Error(`the yaml block under "${heading}" has no config: map`);
  return doc.config;
}
