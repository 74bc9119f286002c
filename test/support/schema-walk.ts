/**
 * The key paths of a zod schema, for tests that hold something else (the example config, the
 * error messages) against every key. Through defaults, optionals, pipes and unions; "[]" is an
 * array's items, "*" a record's keys: "routes[].path", "gateways.*.url".
 */
import { z } from "zod";

/** The schema a wrapper stands for: defaults and optionals removed, a pipe's input side (its output when the input is a preprocess). */
export function unwrap(schema: z.ZodType): z.ZodType {
  let node: z.ZodType = schema;
  for (;;) {
    if (node instanceof z.ZodDefault || node instanceof z.ZodPrefault || node instanceof z.ZodOptional || node instanceof z.ZodNullable) {
      node = node.unwrap() as z.ZodType;
    } else if (node instanceof z.ZodPipe) {
      node = (node.def.in instanceof z.ZodTransform ? node.def.out : node.def.in) as z.ZodType;
    } else {
      return node;
    }
  }
}

/** "a.b", "routes[].path": an array's "[]" sticks to its key. */
export function joinPath(path: readonly string[]): string {
  return path.reduce((acc, part) => (part === "[]" ? `${acc}[]` : acc === "" ? part : `${acc}.${part}`), "");
}

/** Every key path of `schema`, each with the schema found there first, as written (unwrap() it to see its kind). */
export function keyPaths(schema: z.ZodType): Map<string, z.ZodType> {
  const found = new Map<string, z.ZodType>();
  const walk = (node: z.ZodType, path: string[]): void => {
    const bare = unwrap(node);
    const key = joinPath(path);
    if (path.length > 0 && !found.has(key)) found.set(key, node);
    if (bare instanceof z.ZodObject) for (const [name, field] of Object.entries(bare.shape)) walk(field as z.ZodType, [...path, name]);
    else if (bare instanceof z.ZodArray) walk(bare.element as z.ZodType, [...path, "[]"]);
    else if (bare instanceof z.ZodRecord) walk(bare.def.valueType as z.ZodType, [...path, "*"]);
    else if (bare instanceof z.ZodUnion) for (const option of bare.options) walk(option as z.ZodType, path);
  };
  walk(schema, []);
  return found;
}

/** The paths under `prefix` (not itself), relative to it: "idempotency" → "ttl", "fingerprint.body", … */
export function under(paths: Iterable<string>, prefix: string): string[] {
  const out: string[] = [];
  for (const path of paths) {
    if (path.startsWith(`${prefix}.`)) out.push(path.slice(prefix.length + 1));
    else if (path.startsWith(`${prefix}[]`)) out.push(path.slice(prefix.length));
  }
  return out.sort();
}
