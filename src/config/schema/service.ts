/** The service shell's sections: where payguard listens (server, admin), how it stops, reloads and logs. */
import { z } from "zod";
import { duration, flag, port } from "./fields.js";

export const serverSection = z.strictObject({ host: z.string().min(1).default("0.0.0.0"), port: port.default(8080) }).prefault({});

export const adminSection = z
  .strictObject({
    host: z.string().min(1).default("0.0.0.0"),
    port: port.default(9090),
    /** /admin/records: look into and resolve idempotency records (off by default) */
    api: z
      .strictObject({
        enabled: flag.default(false),
        /** the bearer token operators send; required (≥ 32 characters) when enabled */
        token: z.string().default(""),
        /** whether `?include=body` may return stored response bodies */
        revealBodies: flag.default(false),
      })
      .refine((api) => !api.enabled || api.token.length >= 32, { message: "must be at least 32 characters when admin.api is enabled", path: ["token"] })
      .prefault({}),
  })
  .prefault({});

export const shutdownSection = z
  .strictObject({
    readinessDelay: duration().default(2_000),
    drainTimeout: duration().default(30_000),
    /**
     * after the connections are closed, how long upstream calls still running may take to
     * settle their keys (and answers the store refused, to be written) before the store
     * closes: at least the longest resilience.timeout.total
     */
    settleTimeout: duration().default(30_000),
  })
  .prefault({});

export const reloadSection = z
  .strictObject({
    /** reload when the config file changes (a ConfigMap update swaps a symlink: handled) */
    watch: flag.default(true),
    /** wait this long after a change for the writer to finish */
    debounce: duration().default(250),
  })
  .prefault({});

export const logSection = z.strictObject({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") }).prefault({});

/**
 * `intercept`: a TLS listener that answers for the gateways' own host names with certificates
 * minted from a CA payguard is given (tls/cert-store.ts). Off unless `ca` is set.
 */
export const interceptSection = z
  .strictObject({
    host: z.string().min(1).default("0.0.0.0"),
    port: port.default(443),
    /** the CA's certificate and private key, PEM files (a Kubernetes Secret, e.g. cert-manager's) */
    ca: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
    /** how long a minted certificate is valid */
    validity: duration({ min: 60_000 }).default(24 * 3600_000),
    /** HTTPS proxy mode: hosts a CONNECT may reach untouched (tunnelled, not intercepted); any other non-gateway host gets 403 */
    passThrough: z.array(z.string().regex(/^[a-z0-9.-]+$/, "must be a lower-case host name")).default([]),
  })
  .prefault({});
