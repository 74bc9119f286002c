/**
 * The benchmark's upstream: the scripted fake gateway from the test suite, run in its own
 * process so it does not share an event loop with payguard or the load generator. It answers
 * every request with a small fixed JSON body and prints its URL on the first stdout line.
 */
import { startFakeGateway, steps } from "../test/support/fake-gateway.js";

const gateway = await startFakeGateway();
gateway.setDefault(steps.json(200, { id: "ch_bench", object: "charge", amount: 1999, currency: "eur", status: "succeeded" }, { "request-id": "req_bench" }));
// The fake records every request for tests; a benchmark must not grow memory.
setInterval(() => gateway.requests.splice(0), 1000).unref();
process.stdout.write(`${gateway.url}\n`);
process.on("SIGTERM", () => void gateway.close().then(() => process.exit(0)));
