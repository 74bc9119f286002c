/**
 * Clones in Redis: one record payguard wrote (`<prefix>:{<lookup key>}`) copied with DUMP /
 * RESTORE by a Lua script under new keys, with the template's remaining TTL — whatever the
 * record's encoding, byte for byte. RESTORE refuses an existing key (BUSYKEY), so every clone
 * is a new record. Counted by SCAN over the prefix (the database may hold others' keys).
 */
import { createClient } from "@keyv/redis";
import { type Seeder, seedKey } from "./seeder.js";

/** KEYS[1] the template, KEYS[2..] new keys → how many were written */
const CLONE = `local dump = redis.call('DUMP', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if not dump or ttl <= 0 then return redis.error_reply('template record gone or without a TTL') end
for i = 2, #KEYS do redis.call('RESTORE', KEYS[i], ttl, dump) end
return #KEYS - 1`;

/** new keys per script call: one call blocks Redis for a few ms at the most */
const PER_CALL = 5_000;

/** What scanning needs of the client. */
interface Client {
  scan(cursor: string, options: { MATCH: string; COUNT: number }): Promise<{ cursor: string | number; keys: string[] }>;
  get(key: string): Promise<string | null>;
}

async function scan(client: Client, match: string, visit: (keys: string[]) => Promise<boolean> | boolean): Promise<void> {
  let cursor = "0";
  do {
    const page = await client.scan(cursor, { MATCH: match, COUNT: 10_000 });
    cursor = String(page.cursor);
    if (!(await visit(page.keys))) return;
  } while (cursor !== "0");
}

async function findTemplate(client: Client, match: string): Promise<string> {
  let found: string | undefined;
  await scan(client, match, async (keys) => {
    for (const key of keys) {
      const text = await client.get(key);
      if (text && (JSON.parse(text) as { value?: { state?: string } }).value?.state === "completed") found = key;
      if (found) return false;
    }
    return true;
  });
  if (!found) throw new Error(`redis: no completed record under ${match} to clone`);
  return found;
}

export async function redisSeeder(url: string, prefix: string): Promise<Seeder> {
  const client = createClient({ url });
  client.on("error", (err: unknown) => console.error(`redis seeder: ${String(err)}`));
  await client.connect();
  const keyOf = (key: string) => `${prefix}:{${key}}`;
  const match = `${prefix}:{*}`;
  try {
    const template = await findTemplate(client, match);
    const insert = async (first: number, n: number) => {
      for (let done = 0; done < n; done += PER_CALL) {
        const keys = Array.from({ length: Math.min(PER_CALL, n - done) }, (_, j) => keyOf(seedKey(first + done + j)));
        const written = Number(await client.eval(CLONE, { keys: [template, ...keys] }));
        if (written !== keys.length) throw new Error(`redis: ${keys.length} clones made ${written} records`);
      }
    };
    const count = async () => {
      let n = 0;
      await scan(client, match, (keys) => {
        n += keys.length;
        return true;
      });
      return n;
    };
    return {
      name: "redis",
      chunk: 50_000,
      count,
      has: async (key) => (await client.exists(keyOf(key))) === 1,
      insert,
      settle: async () => {},
      close: () => client.close(),
    };
  } catch (err) {
    client.destroy();
    throw err;
  }
}
