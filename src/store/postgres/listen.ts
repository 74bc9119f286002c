/**
 * Wake-ups from PostgreSQL: one dedicated connection LISTENs on the store's channel and
 * hands every notified key on. NOTIFY is delivered at commit and never to a disconnected
 * listener, so this connection reconnects with backoff, and waiters also re-check on their
 * own (the store's poll fallback): a missed notification costs a bounded delay, never a
 * stranded request. (Behind PgBouncer in transaction pooling, LISTEN fails silently: point
 * this at PostgreSQL itself — see docs/operations.md.)
 */
import pg from "pg";

export interface Listener {
  close(): Promise<void>;
}

export function listen(options: { url: () => string | undefined; channel: string; timeoutMs: number; onKey: (key: string) => void }): Listener {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let delay = 100;

  /** Once per lost connection: the next attempt, after a growing pause. */
  const again = () => {
    if (closed || retry) return;
    client = undefined;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, delay);
    retry.unref();
    delay = Math.min(delay * 2, 2_000);
  };
  const connect = async () => {
    const url = options.url();
    if (!url) return again();
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: options.timeoutMs });
    next.on("error", () => void next.end().catch(() => {}));
    next.on("end", again);
    next.on("notification", (message) => {
      if (message.channel === options.channel && message.payload) options.onKey(message.payload);
    });
    try {
      await next.connect();
      await next.query(`LISTEN "${options.channel}"`);
      client = next;
      delay = 100;
    } catch {
      await next.end().catch(() => {});
      again();
    }
  };
  void connect();

  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
