/**
 * The command line of `npm run bench:curves`: which curves, their points, and how long
 * each point is loaded. Every number is checked; a bad one stops the run before anything starts.
 */
import { parseArgs } from "node:util";

export const CURVES = ["store", "body", "connections"] as const;
export type CurveName = (typeof CURVES)[number];
export const STORES = ["sqlite", "redis", "postgres"] as const;
export type StoreKind = (typeof STORES)[number];

export interface Params {
  out: string;
  only: CurveName[];
  /** seconds of load per run (a point is `rounds` runs) */
  seconds: number;
  rounds: number;
  /** seconds of load before a point's runs (not measured) */
  warmup: number;
  /** connections of the closed-loop load for the store curve */
  loadConnections: number;
  /** connections of the closed-loop load for the body curve (a 1 MiB body keeps payguard busy for a while) */
  bodyConnections: number;
  /** live records per point of the store curve, ascending */
  sizes: number[];
  stores: StoreKind[];
  /** request body bytes per point of the body curve, ascending */
  bodies: number[];
  /** the stall test: rate of the small GETs, and connections sending 1 MB bodies meanwhile */
  stallRate: number;
  floodConnections: number;
  /** 1 MB bodies per second over all the flood's connections; 0: back to back */
  floodRate: number;
  /** concurrent keep-alive connections per point of the connections curve, ascending */
  connections: number[];
}

const USAGE = `npm run bench:curves -- [--out DIR] [--only store,body,connections] [--seconds N] [--rounds N] [--warmup N]
  [--sizes 10000,100000,1000000] [--stores sqlite,redis,postgres] [--bodies 1024,65536,1048576]
  [--connections 32,1000,5000] [--load-connections 32] [--body-connections 8] [--stall-rate 200] [--flood-connections 4]
  [--flood-rate 10 (0: back to back)]`;

function positive(name: string, text: string, allowZero = false): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) throw new Error(`--${name}: not a valid number (${text})\n${USAGE}`);
  return value;
}

function list(name: string, text: string): number[] {
  const values = text.split(",").map((part) => Math.round(positive(name, part.trim())));
  return [...new Set(values)].sort((a, b) => a - b);
}

function choices<T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  const picked = text.split(",").map((part) => part.trim());
  for (const p of picked) if (!allowed.includes(p as T)) throw new Error(`--${name}: ${p} is not one of ${allowed.join(", ")}\n${USAGE}`);
  return allowed.filter((a) => picked.includes(a));
}

export function parseParams(argv: string[]): Params {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: "string", default: "bench" },
      only: { type: "string", default: CURVES.join(",") },
      seconds: { type: "string", default: "5" },
      rounds: { type: "string", default: "3" },
      warmup: { type: "string", default: "1" },
      "load-connections": { type: "string", default: "32" },
      "body-connections": { type: "string", default: "8" },
      sizes: { type: "string", default: "10000,100000,1000000" },
      stores: { type: "string", default: STORES.join(",") },
      bodies: { type: "string", default: "1024,65536,1048576" },
      "stall-rate": { type: "string", default: "200" },
      "flood-connections": { type: "string", default: "4" },
      "flood-rate": { type: "string", default: "10" },
      connections: { type: "string", default: "32,1000,5000" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    out: values.out,
    only: choices("only", values.only, CURVES),
    seconds: positive("seconds", values.seconds),
    rounds: Math.round(positive("rounds", values.rounds)),
    warmup: positive("warmup", values.warmup, true),
    loadConnections: Math.round(positive("load-connections", values["load-connections"])),
    bodyConnections: Math.round(positive("body-connections", values["body-connections"])),
    sizes: list("sizes", values.sizes),
    stores: choices("stores", values.stores, STORES),
    bodies: list("bodies", values.bodies),
    stallRate: positive("stall-rate", values["stall-rate"]),
    floodConnections: Math.round(positive("flood-connections", values["flood-connections"])),
    floodRate: positive("flood-rate", values["flood-rate"], true),
    connections: list("connections", values.connections),
  };
}
