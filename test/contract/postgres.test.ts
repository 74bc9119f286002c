import { randomUUID } from "node:crypto";
import { createPostgresStore } from "../../src/store/postgres/store.js";
import type { RemoteStore } from "../../src/store/types.js";
import { SHARED_POSTGRES, useDroppedSchemas } from "../support/postgres-server.js";
import { describeLedgerContract } from "./ledger.contract.js";
import { describeStoreContract } from "./store.contract.js";

/** Each store in a schema of its own on the machine's PostgreSQL, dropped after the file. */
const schemas = useDroppedSchemas();

export function postgresStore(): Promise<RemoteStore> {
  const schema = `pgtest_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  schemas.push(schema);
  // The poll fallback far beyond the contract's wake-up bounds: a waiter woken in time was woken by NOTIFY.
  return createPostgresStore({ nodes: [SHARED_POSTGRES], schema, operationTimeout: 2000, poolSize: 4, pollFallbackMs: 30_000, ledgerRetentionMs: 86_400_000 });
}

describeStoreContract("postgres", postgresStore);
describeLedgerContract("postgres", postgresStore);
