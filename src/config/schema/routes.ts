/** `routes[]`: each entry's match, and its overrides of the top-level sections (every key optional). */
import { z } from "zod";
import { httpMethod } from "./fields.js";
import { idempotencySection } from "./idempotency.js";
import { resilienceSection } from "./resilience.js";

export const routeSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 letters, digits, '_', '.' or '-'")
    .optional(),
  methods: z.array(httpMethod).min(1).optional(),
  path: z.string().startsWith("/", "must start with '/'"),
  resilience: resilienceSection("override"),
  idempotency: idempotencySection("override"),
});
