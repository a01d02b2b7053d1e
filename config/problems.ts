/**
 * The problem collector every rule reports to, and the error it throws: one problem per offending
 * key path, all reported together.
 */
import { PROJECT } from "./values";

/** A config problem, one per offending key path. */
export interface ConfigProblem {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(public readonly problems: ConfigProblem[]) {
    super(
      `invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  ${p.path}: ${p.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** A value as a problem message shows it: JSON, cut at 80 characters; "missing" if undefined. */
export function show(value: unknown): string {
  if (value === undefined) return "missing";
  const s = JSON.stringify(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** `mqtt-edge:<key>` followed by `.name` / `[index]` for each step of `path`. */
export function keyPath(key: string, path: readonly PropertyKey[]): string {
  let s = `${PROJECT}:${key}`;
  for (const k of path) s += typeof k === "number" ? `[${k}]` : `.${String(k)}`;
  return s;
}

/** Where a rule reports: one key (and a path inside it) of the stack config. */
export interface ProblemSink {
  /** Records a problem at this key, or at `path` below it. */
  add(path: PropertyKey | readonly PropertyKey[] | undefined, message: string): void;
  /** The sink for `path` below this one. */
  at(...path: PropertyKey[]): ProblemSink;
}

export class Problems {
  private readonly found: ConfigProblem[] = [];
  /** How many of `found` came from the schemas (see throwIfAny). */
  private fromSchemas = 0;

  /** Records a problem at a full key path (`mqtt-edge:tunnel.mode`). */
  addAt(path: string, message: string): void {
    this.found.push({ path, message });
  }

  /** The sink for `mqtt-edge:<key>` and the `path` below it. */
  at(key: string, ...path: PropertyKey[]): ProblemSink {
    return {
      add: (sub, message) => {
        const rest = sub === undefined ? [] : Array.isArray(sub) ? sub : [sub as PropertyKey];
        this.addAt(keyPath(key, [...path, ...rest]), message);
      },
      at: (...more) => this.at(key, ...path, ...more),
    };
  }

  /** Marks the problems so far as the schemas'; the rules after this may run on salvaged values. */
  endOfSchemas(): void {
    this.fromSchemas = this.found.length;
  }

  /**
   * Throws a ConfigError listing every problem, if there is any. A rule that ran on a salvaged
   * value can repeat a schema problem in other words (an invalid user removed, then "no users"):
   * the schema's, which names the cause, is kept and the rule's dropped.
   */
  throwIfAny(): void {
    if (this.found.length === 0) return;
    const schemas = this.found.slice(0, this.fromSchemas);
    const schemaPaths = schemas.map((p) => p.path);
    const related = (a: string, b: string) =>
      a === b ||
      a.startsWith(`${b}.`) ||
      a.startsWith(`${b}[`) ||
      b.startsWith(`${a}.`) ||
      b.startsWith(`${a}[`);
    const rules = this.found
      .slice(this.fromSchemas)
      .filter((p) => !schemaPaths.some((s) => related(s, p.path)));
    throw new ConfigError([...schemas, ...rules]);
  }
}
