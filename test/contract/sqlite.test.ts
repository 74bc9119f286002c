import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { cipherFor } from "../../src/store/crypto.js";
import { sealedStore } from "../../src/store/sealing.js";
import { GroupCommit } from "../../src/store/sqlite/group-commit.js";
import { openSqliteStore } from "../../src/store/sqlite/store.js";
import { until } from "../support/until.js";
import { describeLedgerContract } from "./ledger.contract.js";
import { describeStoreContract, storeSecretAnswer } from "./store.contract.js";

const freshPath = () => join(mkdtempSync(join(tmpdir(), "payguard-sqlite-")), "payguard.db");
const cipher = cipherFor(Buffer.alloc(32, 9).toString("base64"));

describeStoreContract("sqlite", async () => openSqliteStore({ path: freshPath(), synchronous: "normal", ledgerRetentionMs: 86_400_000 }));
describeStoreContract("sqlite, encrypted", async () =>
  sealedStore(openSqliteStore({ path: freshPath(), synchronous: "full", ledgerRetentionMs: 86_400_000 }), cipher),
);

describeLedgerContract("sqlite", async () => openSqliteStore({ path: freshPath(), synchronous: "normal", ledgerRetentionMs: 86_400_000 }));

describe("sqlite store specifics", () => {
  it("stats() counts the live records off the event loop: at open, then as the background thread recounts", async () => {
    const path = freshPath();
    const first = openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000 });
    await storeSecretAnswer(first, "a");
    await first.close();
    const store = openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000, countEveryMs: 50 });
    expect(store.stats()).toMatchObject({ entries: 1, inFlight: 0 });
    await storeSecretAnswer(store, "b");
    expect(await store.claim("c", { token: "t", fingerprint: "fp", leaseMs: 60_000, ttlMs: 60_000 })).toMatchObject({ outcome: "claimed" });
    await until(() => store.stats().entries === 3 && store.stats().inFlight === 1, "the background count");
    await store.close();
  });

  it("with encryption on, neither the file nor its WAL holds a plaintext body or header", async () => {
    const path = freshPath();
    const store = sealedStore(openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000 }), cipher);
    const body = await storeSecretAnswer(store, "k");
    const got = await store.get("k");
    expect(got?.state === "completed" && got.response.body.equals(body)).toBe(true);
    const onDisk = readdirSync(join(path, "..")).map((name) => readFileSync(join(path, "..", name)));
    expect(onDisk.length).toBeGreaterThan(0);
    for (const bytes of onDisk) expect(bytes.includes("ch_secret_body")).toBe(false);
    await store.close();
  });

  it("a file of the first schema (records WITHOUT ROWID) is migrated with its records, and the ledger kept", async () => {
    const path = freshPath();
    const old = new Database(path);
    old.exec(`CREATE TABLE records (key TEXT PRIMARY KEY, state TEXT NOT NULL, token TEXT, fingerprint TEXT NOT NULL,
                created_at INTEGER NOT NULL, completed_at INTEGER, lease_until INTEGER, expires_at INTEGER NOT NULL,
                attempts INTEGER, reason TEXT, status INTEGER, headers TEXT, body BLOB) WITHOUT ROWID;
              CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL, route TEXT NOT NULL, method TEXT NOT NULL,
                path TEXT NOT NULL, state TEXT NOT NULL, status INTEGER, attempts INTEGER, gateway_request_id TEXT, fields TEXT,
                started_at INTEGER NOT NULL, settled_at INTEGER NOT NULL, replica TEXT NOT NULL);`);
    old
      .prepare("INSERT INTO records VALUES ('k', 'completed', NULL, 'fp', 1, 2, NULL, ?, 1, NULL, 201, '{\"x\":\"1\"}', ?)")
      .run(Date.now() + 60_000, Buffer.from("kept"));
    old.prepare("INSERT INTO ledger VALUES (NULL, 'k', 'default', 'POST', '/v1/charges', 'completed', 201, 1, NULL, NULL, 1, 2, 'r')").run();
    old.pragma("user_version = 2");
    old.close();
    const store = openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000 });
    const got = await store.get("k");
    expect(got?.state === "completed" && got.response.body.toString()).toBe("kept");
    expect((await store.outcomes?.({ since: 0, limit: 10 }))?.outcomes).toHaveLength(1);
    await store.close();
    const after = new Database(path, { readonly: true });
    expect(after.prepare("SELECT sql FROM sqlite_master WHERE name = 'records'").pluck().get()).not.toMatch(/WITHOUT ROWID/);
    after.close();
  });

  it("the settlement indexes exist only where webhook events settle: created over the rows there, used by the settling query, dropped when webhooks go", async () => {
    const path = freshPath();
    const indexes = () => {
      const db = new Database(path, { readonly: true });
      try {
        return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ledger_by_%' ORDER BY name").all() as { name: string }[]).map(
          (r) => r.name,
        );
      } finally {
        db.close();
      }
    };
    const open = (settles: boolean) => openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000, settles });
    await (await open(false)).close();
    expect(indexes()).toEqual(["ledger_by_event", "ledger_by_record", "ledger_by_state", "ledger_by_time"]);
    await (await open(true)).close();
    expect(indexes()).toEqual(["ledger_by_event", "ledger_by_gateway_request", "ledger_by_link", "ledger_by_record", "ledger_by_state", "ledger_by_time"]);
    const db = new Database(path, { readonly: true });
    try {
      const plan = db
        .prepare(
          `EXPLAIN QUERY PLAN SELECT record FROM ledger WHERE gateway = ? AND (link IN (SELECT value FROM json_each(?)) OR gateway_request_id IN (SELECT value FROM json_each(?)))`,
        )
        .all("adyen", "[]", "[]") as { detail: string }[];
      const details = plan.map((p) => p.detail).join("; ");
      expect(details).toContain("ledger_by_link");
      expect(details).toContain("ledger_by_gateway_request");
    } finally {
      db.close();
    }
    await (await open(false)).close();
    expect(indexes()).not.toContain("ledger_by_link");
  });

  it("group commit: writes of one turn commit together, each resolves only once committed, a failing one rejects alone", async () => {
    const path = freshPath();
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE t (k TEXT PRIMARY KEY)");
    const insert = db.prepare("INSERT INTO t VALUES (?)");
    const other = new Database(path, { readonly: true });
    const seen = other.prepare("SELECT COUNT(*) FROM t").pluck();
    const writes = new GroupCommit(db);
    const half = () => {
      insert.run("x");
      throw new Error("fails after its first statement");
    };
    // While the batch runs, another connection sees none of it: the writes share one commit.
    const duringBatch: number[] = [];
    const b = () => {
      insert.run("b");
      duringBatch.push(seen.get() as number);
    };
    const results = await Promise.allSettled(
      [() => insert.run("a"), b, half, () => insert.run("a"), () => insert.run("c")].map(
        (write) => writes.run(write).then(() => seen.get() as number), // another connection, at the moment it resolves
      ),
    );
    expect(duringBatch).toEqual([0]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "rejected", "fulfilled"]);
    // Resolved once committed, and nothing of the failed writes.
    expect(results.filter((r) => r.status === "fulfilled").map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual([3, 3, 3]);
    expect((results[3] as PromiseRejectedResult).reason).toMatchObject({ code: "SQLITE_CONSTRAINT_PRIMARYKEY" });
    expect(other.prepare("SELECT k FROM t ORDER BY k").pluck().all()).toEqual(["a", "b", "c"]);
    other.close();
    db.close();
  });

  it("the WAL is checkpointed into the database file off the serving connection, and at close", async () => {
    const path = freshPath();
    const store = openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000 });
    const body = Buffer.alloc(1024, 97);
    const schemaOnly = statSync(path).size;
    await Promise.all(
      Array.from({ length: 2000 }, async (_, i) => {
        await store.claim(`k${i}`, { token: "t", fingerprint: "fp", leaseMs: 60_000, ttlMs: 60_000 });
        await store.complete(
          `k${i}`,
          "t",
          { state: "completed", fingerprint: "fp", createdAt: 1, completedAt: 2, response: { status: 200, headers: {}, body } },
          60_000,
        );
      }),
    );
    // The serving connection never checkpoints (wal_autocheckpoint = 0): the worker moves the 2 MB over.
    await until(() => statSync(path).size > schemaOnly + 2_000_000, "the worker checkpointed the WAL", 5000);
    await store.close();
    const reopened = openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000 });
    expect((await reopened.get("k1999"))?.state).toBe("completed");
    await reopened.close();
  });
});
