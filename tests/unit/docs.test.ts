/**
 * The README's config tables and Pulumi.yaml's key descriptions say what config/schemas.ts says:
 * every key of the schemas documented, no documented key missing from them, and each key's
 * default, example and meaning the schemas' (the defaults those of config/defaults.ts, through
 * the schemas). `npm run docs:config` rewrites both files when these tests fail.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { PROTECT_DEFAULT } from "../../config";
import { KNOWN_KEYS } from "../../config/read";
import { brokerSchema, protectSchema, tunnelSchema } from "../../config/schemas";
import {
  type ConfigRow,
  TOP_LEVEL_KEYS,
  between,
  configDocs,
  pulumiDescription,
  renderPulumiYaml,
  renderReadme,
  show,
} from "../../scripts/config-docs";

const ROOT = join(__dirname, "..", "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const PULUMI_YAML = readFileSync(join(ROOT, "Pulumi.yaml"), "utf8");
const FIX = "run `npm run docs:config`";

/** The rows of the README's table between the markers, cells as written. */
function readmeRows(marker: string): ConfigRow[] {
  const { start, end } = between(README, marker);
  const lines = README.split("\n").slice(start + 1, end);
  const header = lines.find((l) => l.startsWith("| key |"));
  assert.ok(header, `README.md has no table between the ${marker} markers`);
  const columns = header.slice(2, -2).split(" | ");
  return lines
    .filter((l) => /^\| `[^`]+` \|/.test(l))
    .map((l) => {
      const cells = l
        .slice(1, -1)
        .split("|")
        .map((c) => c.trim());
      const at = (c: string) => (columns.includes(c) ? cells[columns.indexOf(c)] : "");
      return {
        key: at("key").slice(1, -1),
        default: at("default"),
        example: at("example"),
        description: at("meaning"),
      };
    });
}

const docs = configDocs();
const documented = [...readmeRows("config-table"), ...readmeRows("swarm-config-table")];

describe("the config docs come from config/schemas.ts", () => {
  test("every key of the schemas is described, once, with one default", () => {
    assert.deepEqual(docs.problems, []);
  });

  test("the documented top-level keys are the ones config/read.ts reads", () => {
    assert.deepEqual(TOP_LEVEL_KEYS.map((k) => k.key).sort(), [...KNOWN_KEYS].sort());
  });

  test("the README's config tables have a row for every key of the schemas and no other", () => {
    const expected = docs.rows.map((r) => r.key);
    const actual = documented.map((r) => r.key);
    assert.deepEqual(
      {
        undocumented: expected.filter((k) => !actual.includes(k)),
        notInTheSchemas: actual.filter((k) => !expected.includes(k)),
      },
      { undocumented: [], notInTheSchemas: [] },
      FIX,
    );
  });

  test("each row's default, example and meaning are the schemas'", () => {
    for (const row of documented) {
      const want = docs.rows.find((r) => r.key === row.key);
      if (want) assert.deepEqual(row, want, `${row.key}: ${FIX}`);
    }
  });

  test("the README between the markers is exactly what npm run docs:config writes", () => {
    const rendered = renderReadme(README, docs);
    for (const marker of ["config-table", "swarm-config-table"]) {
      const region = (text: string) => {
        const { start, end } = between(text, marker);
        return text
          .split("\n")
          .slice(start, end + 1)
          .join("\n");
      };
      assert.equal(region(README), region(rendered), `${marker}: ${FIX}`);
    }
    assert.equal(rendered, README, FIX);
  });

  test("Pulumi.yaml declares only keys of the contract, each described as the schemas say", () => {
    const project = parseYaml(PULUMI_YAML) as { config: Record<string, { description?: string }> };
    for (const [name, decl] of Object.entries(project.config)) {
      const [ns, key] = name.split(":");
      assert.equal(ns, "mqtt-edge", name);
      assert.ok(KNOWN_KEYS.includes(key), `${name} is not a key config/read.ts reads`);
      assert.equal(decl.description, pulumiDescription(key, docs), `${name}: ${FIX}`);
    }
    assert.equal(renderPulumiYaml(PULUMI_YAML, docs), PULUMI_YAML, FIX);
  });

  test("a Pulumi.yaml description lists every key under it", () => {
    const tunnel = pulumiDescription("tunnel", docs);
    for (const key of Object.keys(tunnelSchema.unwrap().shape)) {
      assert.match(tunnel, new RegExp(`\\b${key}\\b`), `tunnel.${key}`);
    }
    const broker = pulumiDescription("broker", docs);
    for (const key of Object.keys(brokerSchema.unwrap().in.shape)) {
      assert.match(broker, new RegExp(`\\b${key}\\b`), `broker.${key}`);
    }
  });

  test("Pulumi.yaml's declared defaults mean what the schemas do without the key", () => {
    const project = parseYaml(PULUMI_YAML) as { config: Record<string, { default?: unknown }> };
    const declared = (key: string) => project.config[`mqtt-edge:${key}`].default;
    assert.deepEqual(tunnelSchema.parse(declared("tunnel")), tunnelSchema.parse(undefined));
    assert.deepEqual(brokerSchema.parse(declared("broker")), brokerSchema.parse(undefined));
    assert.equal(protectSchema.parse(declared("protect")), PROTECT_DEFAULT);
  });
});

describe("the config docs checker", () => {
  const check = (schema: z.ZodType) => configDocs([{ key: "k", schema }]);

  test("names a key without a description", () => {
    const docs = check(z.object({ a: z.string().describe("A."), b: z.number() }));
    assert.deepEqual(docs.problems, ["k.b: no description"]);
    assert.deepEqual(
      docs.rows.map((r) => r.key),
      ["k.a"],
    );
  });

  test("names a key that a description of its whole object leaves out", () => {
    const whole = z.array(z.object({ access: z.string(), topic: z.string() }));
    const docs = check(z.object({ acl: whole.meta({ description: "rules of `access` only" }) }));
    assert.deepEqual(docs.problems, [
      "k.acl[].topic: no description, and k.acl's description names no `topic`",
    ]);
  });

  test("refuses a key with a default value and an unset text both", () => {
    const docs = check(
      z.object({ n: z.number().default(3).meta({ description: "N.", unset: "three" }) }),
    );
    assert.deepEqual(docs.problems, ["k.n: a default (3) and an unset text; give one"]);
  });

  test("takes a default from the schema, or from the parent's default", () => {
    const schema = z
      .object({
        mode: z.enum(["a", "b"]).describe("Mode."),
        n: z.number().default(3).describe("N."),
        name: z.string().describe("Name."),
        note: z.string().optional().describe("Note."),
      })
      .prefault({ mode: "a", name: "x" });
    const rows = check(schema).rows.map((r) => [r.key, r.default]);
    assert.deepEqual(rows, [
      ["k.mode", "`a`"],
      ["k.n", "`3`"],
      ["k.name", "`x`"],
      ["k.note", ""],
    ]);
    const required = check(z.object({ name: z.string().describe("Name.") }));
    assert.equal(required.rows[0].default, "required");
  });

  test("shows a default as a stack's YAML would hold it", () => {
    assert.equal(show("quick"), "quick");
    assert.equal(show("1"), '"1"');
    assert.equal(show("true"), '"true"');
    assert.equal(show(["0 3 * * *"]), '["0 3 * * *"]');
    assert.equal(show({ http: 80, https: 443 }), "{http: 80, https: 443}");
    assert.equal(show([]), "[]");
    assert.equal(show("eclipse-mosquitto:2.0.22"), "eclipse-mosquitto:2.0.22");
  });
});
