/**
 * The shape the code keeps (issue #13): the config module is small functions, one home each.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import ts from "typescript";

const ROOT = path.join(__dirname, "..", "..");
const MAX_LINES = 80;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? tsFiles(path.join(dir, e.name))
      : e.name.endsWith(".ts")
        ? [path.join(dir, e.name)]
        : [],
  );
}

/** Every function, method and arrow function of a file with its length in lines. */
function functionLengths(file: string): { name: string; lines: number }[] {
  const text = readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: { name: string; lines: number }[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = (node as ts.FunctionDeclaration).name?.getText() ?? "(anonymous)";
      found.push({
        name: `${path.relative(ROOT, file)}:${start + 1} ${name}`,
        lines: end - start + 1,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test(`every function in config/, components/, program.ts, zones.ts and engines.ts is under ${MAX_LINES} lines`, () => {
  const all = [
    ...tsFiles(path.join(ROOT, "config")),
    ...tsFiles(path.join(ROOT, "components")),
    path.join(ROOT, "program.ts"),
    path.join(ROOT, "zones.ts"),
    path.join(ROOT, "engines.ts"),
  ].flatMap(functionLengths);
  for (const f of ["parseConfig", "deployStack", "declareZones", "declareRoutes", "configWriter"])
    assert.ok(
      all.some((x) => x.name.endsWith(` ${f}`)),
      `${f} was measured`,
    );
  const long = all.filter((f) => f.lines >= MAX_LINES);
  assert.deepEqual(long, []);
});
