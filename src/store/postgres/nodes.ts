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
  return new NodePool(options);
}

/** One pg Pool on the writable node, replaced when a failure may mean a failover. */
class NodePool implements Nodes {
  private pool: pg.Pool | undefined;
  private node: string | undefined;
  private isHealthy = false;
  private choosing: Promise<pg.Pool> | undefined;
  private closed = false;

  constructor(private readonly options: NodesOptions) {}

  async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return this.succeeded(await (await this.connected()).query<R>({ name: statementName(text), text, values: values ?? [] }));
    } catch (err) {
      return this.failed(err);
    }
  }

  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient | undefined;
    try {
      client = await (await this.connected()).connect();
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      return this.succeeded(result);
    } catch (err) {
      await client?.query("ROLLBACK").catch(() => {});
      return this.failed(err);
    } finally {
      client?.release();
    }
  }

  current(): string | undefined {
    return this.node;
  }

  healthy(): boolean {
    return this.isHealthy;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.end().catch(() => {});
  }

  private connected(): Promise<pg.Pool> {
    if (this.closed) return Promise.reject(new StoreError("store_unavailable", "the PostgreSQL store is closed"));
    if (this.pool) return Promise.resolve(this.pool);
    this.choosing ??= this.choose().finally(() => {
      this.choosing = undefined;
    });
    return this.choosing;
  }

  /** The first writable node, probed in order; with one node, that one. */
  private async choose(): Promise<pg.Pool> {
    const { nodes, operationTimeout } = this.options;
    for (const url of nodes) {
      if (nodes.length > 1 && !(await writable(url, operationTimeout))) continue;
      const previous = this.pool;
      this.pool = this.newPool(url);
      this.node = url;
      previous?.end().catch(() => {});
      return this.pool;
    }
    throw new StoreError("store_unavailable", "no writable PostgreSQL node answers");
  }

  private newPool(url: string): pg.Pool {
    const { poolSize, operationTimeout, onError } = this.options;
    const created = new pg.Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: operationTimeout,
      query_timeout: operationTimeout,
      statement_timeout: operationTimeout,
      idleTimeoutMillis: 30_000,
    });
    // An idle connection's error (the server went away) must not take the process down.
    created.on("error", (err) => onError?.(err));
    return created;
  }

  /** After a failure: the next use looks for the writable node again (a failover may have happened). */
  private failed(err: unknown): never {
    // A value the server refused says nothing of the server (see isValueError).
    if (!isValueError(err)) this.isHealthy = false;
    if (isUnavailable(err)) {
      if (this.options.nodes.length > 1 && this.pool) {
        this.pool.end().catch(() => {});
        this.pool = undefined;
      }
      throw new StoreError("store_unavailable", `postgres: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }

  private succeeded<T>(value: T): T {
    this.isHealthy = true;
    return value;
  }
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
