/**
 * The floor for a Node.js proxy on this stack: node:http in, one undici Pool out, headers
 * copied minus hop-by-hop, the body buffered and the answer piped back — no routing,
 * policies, idempotency, metrics or logs. payguard can only be as fast as this; the bench
 * reports payguard against it to show what payguard itself costs on top of Node.
 * Prints its URL on the first stdout line.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";

const upstream = process.argv[2];
if (!upstream) throw new Error("usage: floor.ts UPSTREAM_URL");
const pool = new Pool(upstream, { connections: 64 });
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "host"]);

const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    if (!HOP.has(name.toLowerCase())) headers.push(name, req.rawHeaders[i + 1] as string);
  }
  try {
    const answer = await pool.request({ method: req.method as never, path: req.url as string, headers, body: chunks.length ? Buffer.concat(chunks) : null });
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP.has(name)) out[name] = value;
    res.writeHead(answer.statusCode, out);
    answer.body.pipe(res);
  } catch {
    res.writeHead(502).end();
  }
});
server.keepAliveTimeout = 10_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
