/**
 * Type guards by brand: an error class carries a marker property (`readonly isStoreError =
 * true`) and its guard checks that marker, not the class, so it holds where `instanceof` fails
 * (two copies of a module loaded, as with a bundled dependency). Pure.
 */

/** The guard for `T`, whose instances carry `brand: true`; the brand must be one of T's keys. */
export function brandGuard<T>(brand: keyof T & string): (value: unknown) => value is T {
  return function hasBrand(value: unknown): value is T {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[brand] === true;
  };
}
