/**
 * Sections that routes may override are written once as a function of `mode`: with
 * defaults at the top level, all-optional (no defaults) inside `routes[]`.
 */
import { z } from "zod";

export type Mode = "defaults" | "override";
type Opt<M extends Mode, T extends z.ZodType> = M extends "defaults" ? z.ZodDefault<T> : z.ZodOptional<T>;
type Section<M extends Mode, T extends z.core.$ZodShape> = M extends "defaults"
  ? z.ZodPrefault<z.ZodObject<T, z.core.$strict>>
  : z.ZodOptional<z.ZodObject<T, z.core.$strict>>;

/** A field: its default at the top level, optional in a route. */
export function opt<M extends Mode, T extends z.ZodType>(mode: M, field: T, value: z.output<T>): Opt<M, T> {
  return (mode === "defaults" ? field.default(value as never) : field.optional()) as Opt<M, T>;
}

/** A strict section: filled from its fields' defaults at the top level, optional in a route. */
export function section<M extends Mode, T extends z.core.$ZodShape>(mode: M, shape: T): Section<M, T> {
  const object = z.strictObject(shape);
  return (mode === "defaults" ? object.prefault({} as never) : object.optional()) as Section<M, T>;
}
