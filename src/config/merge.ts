/** Merging a section's overrides over its defaults (routes over the top level, a store section over its type's defaults). */

/** Deep merge of plain objects; arrays and scalars in `override` replace; undefined is skipped. */
export function mergeDefined<T>(base: T, override: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : (override as T);
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value !== undefined) out[key] = mergeDefined(out[key], value);
  }
  return out as T;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
