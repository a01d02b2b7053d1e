/**
 * The README's config tables and Pulumi.yaml's key descriptions, rendered from the zod schemas of
 * config/schemas.ts: each key's `description`, `example` and `unset` metadata, its default taken
 * from the schema (which takes it from config/defaults.ts).
 *
 *   npm run docs:config            rewrites README.md and Pulumi.yaml
 *   npm run docs:config -- --check  exits 1, naming the files, when either is out of date
 *
 * tests/unit/docs.test.ts runs the same rendering and fails when the files differ from it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, parseDocument, Scalar } from "yaml";
import { z } from "zod";
import { PROTECT_DEFAULT } from "../config/defaults";
import {
  brokerSchema,
  dockerTlsSchema,
  hostsSchema,
  protectSchema,
  swarmSchema,
  tunnelSchema,
  tunnelTokenDoc,
} from "../config/schemas";
import { PROJECT } from "../config/values";

type Schema = z.core.$ZodType;

/** A top-level key as config/read.ts reads it; `default` where read.ts (not the schema) applies it. */
export interface TopLevelKey {
  key: string;
  schema: Schema;
  default?: unknown;
}

/** Every top-level key, in the order of the README's table. */
export const TOP_LEVEL_KEYS: TopLevelKey[] = [
  { key: "tunnel", schema: tunnelSchema },
  { key: "tunnelToken", schema: tunnelTokenDoc },
  { key: "broker", schema: brokerSchema },
  { key: "hosts", schema: hostsSchema },
  { key: "dockerTls", schema: dockerTlsSchema },
  { key: "swarm", schema: swarmSchema },
  { key: "protect", schema: protectSchema, default: PROTECT_DEFAULT },
];

/** One row of a config table; the cells are Markdown. */
export interface ConfigRow {
  /** The key path under `mqtt-edge:`, e.g. `tunnel.metrics.publish`, `broker.users[].name`. */
  key: string;
  default: string;
  example: string;
  description: string;
}

export interface ConfigDocs {
  rows: ConfigRow[];
  /** Keys without documentation, and documentation that contradicts itself; empty when complete. */
  problems: string[];
  /** `title` metadata of the top-level keys (Pulumi.yaml). */
  titles: Record<string, string>;
  /** The allowed values of the enum keys, by key path (Pulumi.yaml's key lists). */
  values: Record<string, string[]>;
}

/** The rows and problems of all top-level keys. */
export function configDocs(keys: TopLevelKey[] = TOP_LEVEL_KEYS): ConfigDocs {
  const docs: ConfigDocs = { rows: [], problems: [], titles: {}, values: {} };
  for (const k of keys) {
    const title = z.globalRegistry.get(k.schema)?.title;
    if (title !== undefined) docs.titles[k.key] = title;
    visit(docs, k.key, k.schema, { top: true, inherited: k.default });
  }
  return docs;
}

interface Place {
  /** A top-level key: optional whatever its schema says (read.ts makes it so). */
  top: boolean;
  /** The key's value in its parent's default, if the parent has one. */
  inherited: unknown;
}

/** The keys under a schema: its object shape, through wrappers, arrays (`[]`) and records. */
function children(schema: Schema): { sep: string; shape: Record<string, Schema> } | undefined {
  let s = schema;
  let sep = ".";
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault) {
      s = s.def.innerType;
    } else if (s instanceof z.ZodPipe) {
      s = s.def.in;
    } else if (s instanceof z.ZodArray) {
      s = s.def.element;
      sep = "[].";
    } else if (s instanceof z.ZodRecord) {
      s = s.def.valueType;
      sep = ".<name>.";
    } else if (s instanceof z.ZodObject) {
      return { sep, shape: s.def.shape };
    } else {
      return undefined;
    }
  }
}

/** The default a schema applies itself (`.default()`, `.prefault()`), as a stack would write it. */
function ownDefault(schema: Schema): { value: unknown } | undefined {
  let s = schema;
  while (s instanceof z.ZodOptional) s = s.def.innerType;
  // A .default() value is the parsed value and a .prefault() one the input; for every key with
  // one, both read as the YAML a stack would hold.
  if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault) return { value: s.def.defaultValue };
  return undefined;
}

function enumValues(schema: Schema): string[] | undefined {
  let s = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault) {
    s = s.def.innerType;
  }
  return s instanceof z.ZodEnum ? s.options.map(String) : undefined;
}

function description(schema: Schema): string | undefined {
  return z.globalRegistry.get(schema)?.description;
}

/** Described, or a key whose own keys all are (then it needs no row of its own). */
function documented(schema: Schema): boolean {
  if (description(schema) !== undefined) return true;
  const kids = children(schema);
  return kids !== undefined && Object.values(kids.shape).every(documented);
}

function visit(docs: ConfigDocs, path: string, schema: Schema, place: Place): void {
  const meta = z.globalRegistry.get(schema) ?? {};
  const kids = children(schema);
  if (meta.description !== undefined) {
    docs.rows.push(row(docs, path, schema, meta, place));
    const values = enumValues(schema);
    if (values) docs.values[path] = values;
  } else if (kids === undefined) {
    docs.problems.push(`${path}: no description`);
    return;
  }
  if (kids === undefined) return;
  const entries = Object.entries(kids.shape);
  if (meta.description !== undefined && !entries.some(([, s]) => documented(s))) {
    // Documented as a whole: its description names each of its keys.
    const code = [...meta.description.matchAll(/`([^`]*)`/g)].map((m) => m[1]).join(" ");
    for (const [key] of entries) {
      if (!new RegExp(`\\b${key}\\b`).test(code)) {
        docs.problems.push(
          `${path}${kids.sep}${key}: no description, and ${path}'s description names no \`${key}\``,
        );
      }
    }
    return;
  }
  const base = ownDefault(schema)?.value ?? place.inherited;
  for (const [key, child] of entries) {
    const inherited =
      kids.sep === "." && base !== null && typeof base === "object"
        ? (base as Record<string, unknown>)[key]
        : undefined;
    visit(docs, `${path}${kids.sep}${key}`, child, { top: false, inherited });
  }
}

function row(
  docs: ConfigDocs,
  key: string,
  schema: Schema,
  meta: z.GlobalMeta,
  place: Place,
): ConfigRow {
  const own =
    ownDefault(schema) ?? (place.inherited !== undefined ? { value: place.inherited } : undefined);
  if (own && meta.unset !== undefined) {
    docs.problems.push(`${key}: a default (${show(own.value)}) and an unset text; give one`);
  }
  const required = !place.top && !z.safeParse(schema, undefined).success;
  const cells: ConfigRow = {
    key,
    default: meta.unset ?? (own ? `\`${show(own.value)}\`` : required ? "required" : ""),
    example: meta.example ?? "",
    description: meta.description ?? "",
  };
  for (const [name, text] of Object.entries(cells)) {
    if (/[|\n]/.test(text)) docs.problems.push(`${key}: its ${name} holds a "|" or a line break`);
  }
  return cells;
}

/** A value as it is written in a stack's YAML (flow style), e.g. `[a, "0 3 * * *"]`. */
export function show(value: unknown): string {
  if (typeof value === "string") return plainScalar(value) ? value : JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${show(v)}`)
      .join(", ")}}`;
  }
  return String(value);
}

/** Whether a string reads back as itself unquoted, also inside a flow collection. */
function plainScalar(s: string): boolean {
  if (s === "" || /[\s,[\]{}#"'`|>&*!%@]/.test(s) || /^[-?:]/.test(s)) return false;
  try {
    return parseYaml(s) === s;
  } catch {
    return false;
  }
}

type Column = "key" | "default" | "example" | "meaning";

/** The README's tables: its marker name, columns, and which rows it holds. */
const TABLES: { marker: string; columns: Column[]; holds: (key: string) => boolean }[] = [
  {
    marker: "config-table",
    columns: ["key", "default", "example", "meaning"],
    holds: (key: string) => !key.startsWith("swarm."),
  },
  {
    marker: "swarm-config-table",
    columns: ["key", "default", "meaning"],
    holds: (key: string) => key.startsWith("swarm."),
  },
];

const CELL: Record<Column, (r: ConfigRow) => string> = {
  key: (r) => `\`${r.key}\``,
  default: (r) => r.default,
  example: (r) => r.example,
  meaning: (r) => r.description,
};

/** The Markdown table of one marker: header and rows. */
export function renderTable(marker: string, docs: ConfigDocs = configDocs()): string {
  const table = TABLES.find((t) => t.marker === marker);
  if (!table) throw new Error(`no config table named ${marker}`);
  const rows = docs.rows.filter((r) => table.holds(r.key));
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`.replace(/ {2,}\|/g, " |");
  return [
    line(table.columns),
    line(table.columns.map(() => "---")),
    ...rows.map((r) => {
      if (!table.columns.includes("example") && r.example) {
        throw new Error(`${r.key} has an example, which the ${marker} table has no column for`);
      }
      return line(table.columns.map((c) => CELL[c](r)));
    }),
  ].join("\n");
}

/** The lines between `<!-- <marker>: ... -->` and `<!-- /<marker> -->`, and where they are. */
export function between(text: string, marker: string): { start: number; end: number } {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`<!-- ${marker}:`));
  const end = lines.findIndex((l) => l === `<!-- /${marker} -->`);
  if (start < 0 || end < start) {
    throw new Error(`README.md has no <!-- ${marker}: ... --> ... <!-- /${marker} --> markers`);
  }
  return { start, end };
}

/** README.md with each config table rewritten between its markers. */
export function renderReadme(readme: string, docs: ConfigDocs = configDocs()): string {
  let text = readme;
  for (const { marker } of TABLES) {
    const { start, end } = between(text, marker);
    const lines = text.split("\n");
    lines.splice(start + 1, end - start - 1, "", renderTable(marker, docs), "");
    text = lines.join("\n");
  }
  return text;
}

/** Markdown to the plain text of a Pulumi.yaml description. */
function plainText(markdown: string): string {
  return markdown.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/`/g, "");
}

/**
 * The description Pulumi.yaml gives `mqtt-edge:<key>`: a key with keys of its own lists them
 * (`users (name, acl, passwordVersion)`, an enum with its values); a plain key has its meaning.
 */
export function pulumiDescription(key: string, docs: ConfigDocs = configDocs()): string {
  interface Node {
    name: string;
    path: string;
    isRow: boolean;
    kids: Node[];
  }
  const root: Node = { name: key, path: key, isRow: false, kids: [] };
  for (const r of docs.rows) {
    if (r.key === key) root.isRow = true;
    if (!r.key.startsWith(`${key}.`) && !r.key.startsWith(`${key}[]`)) continue;
    let node = root;
    const names = r.key
      .slice(key.length)
      .split(".")
      .filter((s) => s && s !== "[]");
    for (const raw of names) {
      const name = raw.replace(/\[\]$/, "");
      let next = node.kids.find((n) => n.name === name);
      if (!next) {
        next = { name, path: "", isRow: false, kids: [] };
        node.kids.push(next);
      }
      node = next;
    }
    node.isRow = true;
    node.path = r.key;
  }
  const render = (n: Node): string => {
    if (n.kids.length === 0) {
      const values = docs.values[n.path];
      return values ? `${n.name} (${values.join(" | ")})` : n.name;
    }
    if (!n.isRow && n.kids.length === 1) return `${n.name}.${render(n.kids[0])}`;
    return `${n.name} (${n.kids.map(render).join(", ")})`;
  };
  const own = docs.rows.find((r) => r.key === key);
  if (root.kids.length === 0) {
    if (!own) throw new Error(`${key} has no description`);
    return plainText(own.description);
  }
  const title = docs.titles[key] ?? (own ? plainText(own.description) : key);
  return `${title}: ${root.kids.map(render).join(", ")}. Each key's default and meaning: README.md, Configuration.`;
}

/** Pulumi.yaml with the description of each declared `mqtt-edge:` key rewritten. */
export function renderPulumiYaml(text: string, docs: ConfigDocs = configDocs()): string {
  const doc = parseDocument(text);
  const config = doc.get("config");
  if (!config || typeof config !== "object" || !("items" in config)) {
    throw new Error("Pulumi.yaml has no config map");
  }
  for (const item of (config as { items: { key: unknown }[] }).items) {
    const name = String(item.key);
    if (!name.startsWith(`${PROJECT}:`)) continue;
    const text = pulumiDescription(name.slice(PROJECT.length + 1), docs);
    const description = new Scalar(text);
    // One line when it fits beside `    description: `, folded otherwise.
    if (text.length > 100 - 17) description.type = Scalar.BLOCK_FOLDED;
    doc.setIn(["config", name, "description"], description);
  }
  return doc.toString({ lineWidth: 100 });
}

const ROOT = join(__dirname, "..");

function main(argv: string[]): number {
  const check = argv.includes("--check");
  const docs = configDocs();
  if (docs.problems.length) {
    console.error(
      `config/schemas.ts documents its keys incompletely:\n  ${docs.problems.join("\n  ")}`,
    );
    return 1;
  }
  const stale: string[] = [];
  for (const [file, render] of [
    ["README.md", renderReadme],
    ["Pulumi.yaml", renderPulumiYaml],
  ] as const) {
    const path = join(ROOT, file);
    const before = readFileSync(path, "utf8");
    const after = render(before, docs);
    if (after === before) continue;
    stale.push(file);
    if (!check) writeFileSync(path, after);
  }
  if (check) {
    if (stale.length) console.error(`out of date (run npm run docs:config): ${stale.join(", ")}`);
    return stale.length ? 1 : 0;
  }
  console.log(
    stale.length ? `rewrote ${stale.join(", ")}` : "README.md and Pulumi.yaml are up to date",
  );
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
