import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createCipher, parseKeys } from "../../src/store/crypto.js";
import { sealedStore } from "../../src/store/sealing.js";
import { openSqliteStore } from "../../src/store/sqlite/store.js";
import { describeLedgerContract } from "./ledger.contract.js";
import { describeStoreContract } from "./store.contract.js";

const freshPath = () => join(mkdtempSync(join(tmpdir(), "payguard-sqlite-")), "payguard.db");
const cipher = createCipher(parseKeys(Buffer.alloc(32, 9).toString("base64")));

describeStoreContract("sqlite", async () => openSqliteStore({ path: freshPath(), synchronous: "normal", ledgerRetentionMs: 86_400_000 }));
describeStoreContract("sqlite, encrypted", async () =>
  sealedStore(openSqliteStore({ path: freshPath(), synchronous: "full", ledgerRetentionMs: 86_400_000 }), cipher),
);

describeLedgerContract("sqlite", async () => openSqliteStore({ path: freshPath(), synchronous: "normal", ledgerRetentionMs: 86_400_000 }));

describe("sqlite store specifics", () => {
  it("with encryption on, neither the file nor its WAL holds a plaintext body or header", async () => {
    const path = freshPath();
    const store = sealedStore(openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000 }), cipher);
    const body = Buffer.from('{"id":"ch_secret_body","amount":4242}');
    await store.claim("k", { token: "t", fingerprint: "fp", leaseMs: 60_000, ttlMs: 60_000 });
    await store.complete(
      "k",
      "t",
      {
        state: "completed",
        fingerprint: "fp",
        createdAt: 1,
        completedAt: 2,
        response: { status: 201, headers: { location: "/v1/charges/ch_secret_body" }, body },
      },
      60_000,
    );
    const got = await store.get("k");
    expect(got?.state === "completed" && got.response.body.equals(body)).toBe(true);
    const onDisk = readdirSync(join(path, "..")).map((name) => readFileSync(join(path, "..", name)));
    expect(onDisk.length).toBeGreaterThan(0);
    for (const bytes of onDisk) expect(bytes.includes("ch_secret_body")).toBe(false);
    await store.close();
  });
});
