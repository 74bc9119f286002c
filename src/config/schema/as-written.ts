/** Reading a section as a file wrote it, before its defaults are filled in. */
import { z } from "zod";

/**
 * A strict object as a file writes it: every default and prefault removed, in its sections too,
 * so a key the file left out stays out. The default stays as metadata (the chart's JSON schema).
 */
export function asWritten(schema: z.ZodObject): z.ZodObject {
  const written = (field: z.ZodType): z.ZodType => {
    if (field instanceof z.ZodDefault || field instanceof z.ZodPrefault) {
      return written(field.unwrap() as z.ZodType)
        .optional()
        .meta({ default: field.def.defaultValue });
    }
    return field instanceof z.ZodObject ? asWritten(field) : field;
  };
  return z.strictObject(Object.fromEntries(Object.entries(schema.shape).map(([key, field]) => [key, written(field as z.ZodType)])));
}
