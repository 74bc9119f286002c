/**
 * A child process for the stall test: new-key POSTs with a BYTES-byte JSON body over
 * CONNECTIONS connections for SECONDS (then it exits by itself), RATE of them per second in
 * total (autocannon's overallRate; 0: each connection back to back), so the load generator's
 * own work on big bodies does not share an event loop with the latency being measured.
 * Prints "started", then its result as one JSON line.
 *
 *   node --import tsx bench/curves/flood.ts URL BYTES CONNECTIONS SECONDS RATE
 */
import { fire } from "./cannon.js";
import { freshCharge } from "./shots.js";

const [url, bytes, connections, seconds, rate] = process.argv.slice(2);
if (!url || !bytes || !connections || !seconds || !rate) throw new Error("usage: flood.ts URL BYTES CONNECTIONS SECONDS RATE");
const shot = freshCharge(Number(bytes));
process.stdout.write("started\n");
const run = await fire(url, shot, { seconds: Number(seconds), connections: Number(connections), rate: Number(rate), timeoutSeconds: 30 });
process.stdout.write(`${JSON.stringify(run)}\n`);
