/**
 * Clones in the SQLite file, opened beside the running payguard (WAL: its reads go on; each
 * chunk is one BEGIN IMMEDIATE transaction). Every column of `records` and of `ledger` is
 * copied from the template's rows as the schema lists them (PRAGMA table_info) — only the
 * key (records.key, ledger.record) is new, from seed_key(), a JS function registered on this
 * connection. Each real record came with one ledger row, so each clone does too.
 */
import Database from "better-sqlite3";
import { type Seeder, seedKey } from "./seeder.js";

/** n(i) for i in [first, last] */
const SERIES = "WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)";

function columns(db: Database.Database, table: string, skip: string[]): string[] {
  const names = (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name);
  if (names.length === 0) throw new Error(`sqlite: no table ${table}`);
  return names.filter((name) => !skip.includes(name));
}

function cloneStatements(db: Database.Database) {
  const rec = columns(db, "records", ["key"]);
  const led = columns(db, "ledger", ["id", "record"]);
  const from = (cols: string[]) => cols.map((c) => `t.${c}`).join(", ");
  return {
    records: db.prepare(
      `INSERT INTO records (key, ${rec.join(", ")}) ${SERIES} SELECT seed_key(n.i), ${from(rec)} FROM n, (SELECT * FROM records WHERE key = ?) t`,
    ),
    ledger: db.prepare(
      `INSERT INTO ledger (record, ${led.join(", ")}) ${SERIES} SELECT seed_key(n.i), ${from(led)} FROM n, (SELECT * FROM ledger WHERE record = ? ORDER BY id LIMIT 1) t`,
    ),
  };
}

export function sqliteSeeder(path: string): Seeder {
  const db = new Database(path, { fileMustExist: true });
  db.pragma("busy_timeout = 10000");
  db.pragma("synchronous = NORMAL");
  db.function("seed_key", { deterministic: true }, (i) => seedKey(Number(i)));
  const template = db.prepare<[], string>("SELECT key FROM records WHERE state = 'completed' ORDER BY created_at LIMIT 1").pluck().get();
  if (!template) throw new Error("sqlite: no completed record to clone");
  const clone = cloneStatements(db);
  const count = db.prepare<[number], number>("SELECT COUNT(*) FROM records WHERE expires_at > ?").pluck();
  const has = db.prepare<[string], number>("SELECT 1 FROM records WHERE key = ?").pluck();
  const insert = db.transaction((first: number, n: number) => {
    const last = first + n - 1;
    const records = clone.records.run(first, last, template).changes;
    const ledger = clone.ledger.run(first, last, template).changes;
    if (records !== n || ledger !== n) throw new Error(`sqlite: ${n} clones made ${records} records and ${ledger} ledger rows`);
  });
  return {
    name: "sqlite",
    chunk: 50_000,
    count: async () => count.get(Date.now()) ?? 0,
    has: async (key) => has.get(key) === 1,
    insert: async (first, n) => insert.immediate(first, n),
    // The WAL back into the file, as payguard's checkpointer would do over the next seconds anyway.
    settle: async () => void db.pragma("wal_checkpoint(TRUNCATE)"),
    close: async () => {
      db.close();
    },
  };
}
