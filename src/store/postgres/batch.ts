/**
 * Statements shared by one event-loop turn: the calls that arrive in one turn go to
 * PostgreSQL as one statement over arrays (`unnest`) — one round trip and one commit flush
 * for all of them, where a statement each would flush once each. `run` answers every item
 * in order. A failure of the database fails every item of the batch, as it would fail each;
 * a failure `isolate` says one item's value may have caused (a value the database refused)
 * runs each item again on its own, so it fails only that item, never its batch-mates.
 */
export class TurnBatch<I, O> {
  private queue: Queued<I, O>[] = [];

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly isolate: (err: unknown) => boolean = () => false,
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      if (this.queue.push({ item, resolve, reject }) === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    try {
      const outs = await this.run(batch.map((q) => q.item));
      for (const [i, q] of batch.entries()) q.resolve(outs[i] as O);
    } catch (err) {
      if (batch.length > 1 && this.isolate(err)) await Promise.all(batch.map((q) => this.alone(q)));
      else for (const q of batch) q.reject(err);
    }
  }

  private async alone(q: Queued<I, O>): Promise<void> {
    try {
      q.resolve((await this.run([q.item]))[0] as O);
    } catch (err) {
      q.reject(err);
    }
  }
}

interface Queued<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

/** The i-th value of every row, as one array per column: the parameters of an `unnest`. */
export function columns(rows: readonly (readonly unknown[])[], width: number): unknown[][] {
  return Array.from({ length: width }, (_, i) => rows.map((row) => row[i] ?? null));
}
