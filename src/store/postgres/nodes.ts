/**
 * The connection to PostgreSQL's writable node: a pg Pool with connect, statement and query
 * timeouts. With several nodes (a primary and its standbys), payguard uses the first that is
 * not in recovery — target_session_attrs=read-write, checked not only at connect but again
 * whenever a connection fails or a write is refused as read-only, so a failover (a standby
 * promoted, the old primary gone or read-only) is followed. Failures of the database reaching
 * payguard become StoreError("store_unavailable"); SQL errors stay what they are.
 */
import { createHash } from "node:crypto";
import pg from "pg";
import { StoreError } from "../types.js";

export interface NodesOptions {
  nodes: readonly string[];
  /** connect, statement and query deadline */
  operationTimeout: number;
  poolSize: number;
  onError?: (err: unknown) => void;
}

export interface Nodes {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /** `fn` in one transaction on one connection; COMMIT included */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** the node in use, for the LISTEN connection */
  current(): string | undefined;
  healthy(): boolean;
  close(): Promise<void>;
}

/** SQLSTATE classes and codes by which the server, not the statement, failed. */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3]|25006)/;
const UNAVAILABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH"]);

export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_CODES.has(code))) return true;
  return /Connection terminated|timeout exceeded|Query read timeout|connection is closed|Client has encountered a connection error/i.test(err.message);
}

/**
 * A statement refused for a value it carries (SQLSTATE class 22, data exception; 23, integrity
 * constraint): the server is fine, and in a batch only the item with that value is at fault.
 */
export function isValueError(err: unknown): boolean {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^2[23]/.test(code);
}

export function openNodes(options: NodesOptions): Nodes {
  let pool: pg.Pool | undefined;
  let node: string | undefined;
  let healthy = false;
  let choosing: Promise<pg.Pool> | undefined;
  let closed = false;

  const newPool = (url: string) => {
    const created = new pg.Pool({
      connectionString: url,
      max: options.poolSize,
      connectionTimeoutMillis: options.operationTimeout,
      query_timeout: options.operationTimeout,
      statement_timeout: options.operationTimeout,
      idleTimeoutMillis: 30_000,
    });
    // An idle connection's error (the server went away) must not take the process down.
    created.on("error", (err) => options.onError?.(err));
    return created;
  };

  /** The first writable node, probed in order; with one node, that one. */
  const choose = async (): Promise<pg.Pool> => {
    for (const url of options.nodes) {
      if (options.nodes.length > 1 && !(await writable(url, options.operationTimeout))) continue;
      const previous = pool;
      pool = newPool(url);
      node = url;
      previous?.end().catch(() => {});
      return pool;
    }
    throw new StoreError("store_unavailable", "no writable PostgreSQL node answers");
  };
  const connected = (): Promise<pg.Pool> => {
    if (closed) return Promise.reject(new StoreError("store_unavailable", "the PostgreSQL store is closed"));
    if (pool) return Promise.resolve(pool);
    choosing ??= choose().finally(() => {
      choosing = undefined;
    });
    return choosing;
  };
  /** After a failure: the next use looks for the writable node again (a failover may have happened). */
  const failed = (err: unknown): never => {
    // A value the server refused says nothing of the server (see isValueError).
    if (!isValueError(err)) healthy = false;
    if (isUnavailable(err)) {
      if (options.nodes.length > 1 && pool) {
        pool.end().catch(() => {});
        pool = undefined;
      }
      throw new StoreError("store_unavailable", `postgres: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  };
  const succeeded = <T>(value: T): T => {
    healthy = true;
    return value;
  };

  return {
    async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      try {
        return succeeded(await (await connected()).query<R>({ name: statementName(text), text, values: values ?? [] }));
      } catch (err) {
        return failed(err);
      }
    },
    async transaction(fn) {
      let client: pg.PoolClient | undefined;
      try {
        client = await (await connected()).connect();
        await client.query("BEGIN");
        const result = await fn(client);
        await client.query("COMMIT");
        return succeeded(result);
      } catch (err) {
        await client?.query("ROLLBACK").catch(() => {});
        return failed(err);
      } finally {
        client?.release();
      }
    },
    current: () => node,
    healthy: () => healthy,
    async close() {
      closed = true;
      await pool?.end().catch(() => {});
    },
  };
}

/**
 * Every statement payguard sends is one of a fixed set, so each is a named (prepared)
 * statement: parsed and planned once per connection, not on every call. (PgBouncer in
 * transaction mode does not keep them; docs/operations.md asks for session mode.)
 */
const names = new Map<string, string>();
function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `payguard_${createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
    names.set(text, name);
  }
  return name;
}

/** Whether `url` answers and is not a standby. */
async function writable(url: string, timeoutMs: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on("error", () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby");
    return rows[0]?.standby === false;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}
