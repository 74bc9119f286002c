/**
 * The progress line, on stderr (stdout is for the summary): on a terminal one line
 * rewritten in place; otherwise (CI, a pipe) a plain line every two seconds.
 */
export interface Progress {
  update(done: number): void;
  finish(done: number): void;
}

const PLAIN_EVERY_MS = 2_000;
const TTY_EVERY_MS = 100;

export function progress(run: string, total: number, charges: () => number, out: NodeJS.WriteStream = process.stderr): Progress {
  const started = performance.now();
  const tty = out.isTTY === true;
  let last = started;
  const line = (done: number) =>
    `${run.padEnd(8)} ${String(done).padStart(String(total).length)}/${total} payments · ${charges()} charges at the gateway · ${((performance.now() - started) / 1000).toFixed(1)} s`;
  return {
    update(done) {
      const now = performance.now();
      if (now - last < (tty ? TTY_EVERY_MS : PLAIN_EVERY_MS)) return;
      last = now;
      out.write(tty ? `\r${line(done)}\x1b[K` : `${line(done)}\n`);
    },
    finish(done) {
      out.write(tty ? `\r${line(done)}\x1b[K\n` : `${line(done)}\n`);
    },
  };
}
