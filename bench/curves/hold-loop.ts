/**
 * One connection of hold.ts: its own undici Client (so its requests cannot go to another
 * socket) and its request loop — one request every 1.5–2 s while the loops only keep their
 * connections warm, then the next request as soon as the answer is in. A connection counts as
 * held from its first answer (the server accepted it and serves it) until it closes.
 */
import { Client } from "undici";
import type { Shot } from "./cannon.js";
import type { Tally } from "./tally.js";

/** while only keeping warm, a connection sends a request at least this often (at random in [¾, 1] of it) */
export const WARM_MS = 2_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** What all the loops do: keep warm (until `load()`), load, or stop (`running = false`); `held` counts their connections. */
export class Loops {
  running = true;
  loaded = false;
  held = 0;
  private go: () => void = () => {};
  readonly loading = new Promise<void>((resolve) => {
    this.go = resolve;
  });
  load(): void {
    this.loaded = true;
    this.go();
  }
}

export interface LoopOptions {
  url: string;
  shot: Shot;
  timeoutMs: number;
  tally: Tally;
  loops: Loops;
}

/** Opens one connection's Client and starts its loop; resolves with the Client when the loop has stopped. */
export async function connectionLoop({ url, shot, timeoutMs, tally, loops }: LoopOptions): Promise<Client> {
  const timeouts = { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs };
  const client = new Client(url, { pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, ...timeouts });
  let answered = false;
  client.on("disconnect", () => {
    tally.dropped();
    if (answered) loops.held--;
    answered = false;
  });
  while (loops.running) {
    const sentAt = performance.now();
    try {
      const res = await client.request({ method: shot.method, path: shot.path, headers: shot.headers ?? {}, body: shot.body ?? null });
      await res.body.dump();
      tally.answered(res.statusCode, sentAt, performance.now());
      if (!answered) loops.held++;
      answered = true;
    } catch (err) {
      tally.failed(err);
    }
    if (!loops.loaded) await Promise.race([sleep(sentAt + WARM_MS * (0.75 + Math.random() / 4) - performance.now()), loops.loading]);
  }
  return client;
}
