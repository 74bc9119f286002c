/**
 * Statements shared by one event-loop turn: the calls that arrive in one turn go to
 * PostgreSQL as one statement over arrays (`unnest`) — one round trip and one commit flush
 * for all of them, where a statement each would flush once each. `run` answers every item
 * in order; a failure fails every item of the batch, as a failure of each would.
 */
export class TurnBatch<I, O> {
  private queue: { item: I; resolve: (out: O) => void; reject: (err: unknown) => void }[] = [];

  constructor(private readonly run: (items: I[]) => Promise<O[]>) {}

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
      for (const q of batch) q.reject(err);
    }
  }
}

/** The i-th value of every row, as one array per column: the parameters of an `unnest`. */
export function columns(rows: readonly (readonly unknown[])[], width: number): unknown[][] {
  return Array.from({ length: width }, (_, i) => rows.map((row) => row[i] ?? null));
}
