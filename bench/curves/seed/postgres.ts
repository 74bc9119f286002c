/**
 * Clones in payguard's PostgreSQL schema: INSERT … SELECT … FROM generate_series, every
 * column copied from the template's rows as information_schema lists them, only the key
 * (records.key, ledger.record) new: the same base64url SHA-256 as seedKey(), computed in SQL.
 * Records and their ledger rows in one transaction per chunk; afterwards VACUUM (ANALYZE)
 * and a CHECKPOINT, so autovacuum and a checkpoint do not land in the measurement.
 */
import pg from "pg";
import { SEED_PREFIX, type Seeder } from "./seeder.js";

/** seedKey(g) in SQL: base64url without padding of sha256($1 || g). */
const KEY = "rtrim(translate(encode(sha256(convert_to($1::text || g::text, 'UTF8')), 'base64'), '+/', '-_'), '=')";

async function columns(client: pg.Client, schema: string, table: string, skip: string[]): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
    [schema, table],
  );
  if (rows.length === 0) throw new Error(`postgres: no table ${schema}.${table}`);
  return rows.map((r) => r.name).filter((name) => !skip.includes(name));
}

async function cloneStatements(client: pg.Client, schema: string) {
  const rec = await columns(client, schema, "records", ["key"]);
  const led = await columns(client, schema, "ledger", ["id", "record"]);
  const from = (cols: string[]) => cols.map((c) => `t.${c}`).join(", ");
  const series = "generate_series($2::bigint, $3::bigint) g";
  return {
    records: `INSERT INTO ${schema}.records (key, ${rec.join(", ")}) SELECT ${KEY}, ${from(rec)} FROM ${series}, (SELECT * FROM ${schema}.records WHERE key = $4) t`,
    ledger: `INSERT INTO ${schema}.ledger (record, ${led.join(", ")}) SELECT ${KEY}, ${from(led)} FROM ${series}, (SELECT * FROM ${schema}.ledger WHERE record = $4 ORDER BY id LIMIT 1) t`,
  };
}

/** `application` names the session, so cleanup can end it (stores.ts). */
export async function postgresSeeder(url: string, schema: string, application: string): Promise<Seeder> {
  const client = new pg.Client({ connectionString: url, application_name: application });
  await client.connect();
  try {
    const found = await client.query<{ key: string }>(`SELECT key FROM ${schema}.records WHERE state = 'completed' ORDER BY created_at LIMIT 1`);
    const template = found.rows[0]?.key;
    if (!template) throw new Error("postgres: no completed record to clone");
    const clone = await cloneStatements(client, schema);
    const insert = async (first: number, n: number) => {
      const args = [SEED_PREFIX, first, first + n - 1, template];
      await client.query("BEGIN");
      try {
        const records = (await client.query(clone.records, args)).rowCount;
        const ledger = (await client.query(clone.ledger, args)).rowCount;
        if (records !== n || ledger !== n) throw new Error(`postgres: ${n} clones made ${records} records and ${ledger} ledger rows`);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      }
    };
    return {
      name: "postgres",
      chunk: 100_000,
      count: async () => Number((await client.query(`SELECT count(*) AS n FROM ${schema}.records WHERE expires_at > $1`, [Date.now()])).rows[0].n),
      has: async (key) => ((await client.query(`SELECT 1 FROM ${schema}.records WHERE key = $1`, [key])).rowCount ?? 0) === 1,
      insert,
      settle: async () => {
        await client.query(`VACUUM (ANALYZE) ${schema}.records, ${schema}.ledger`);
        await client.query("CHECKPOINT");
      },
      close: () => client.end(),
    };
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
}
