/**
 * A remote store's in-flight count, as this replica sees it: the keys it claimed and has not
 * settled yet (a shared database holds everyone's; `stats().inFlight` is this replica's share,
 * the payguard_store_in_flight gauge). A claim that won counts; a completion or release, done
 * or failed, settles it — a failed completion's answer is the journal's from then on. Written
 * once here, around the Redis and PostgreSQL stores alike.
 */
import type { RemoteStore } from "../types.js";

export function countedClaims(remote: RemoteStore): RemoteStore {
  let claimed = 0;
  const settled = () => {
    claimed = Math.max(0, claimed - 1);
  };
  return {
    ...remote,
    async claim(key, request) {
      const result = await remote.claim(key, request);
      if (result.outcome !== "exists") claimed++;
      return result;
    },
    complete: (key, token, record, ttlMs, entry) => remote.complete(key, token, record, ttlMs, entry).finally(settled),
    release: (key, token, entry) => remote.release(key, token, entry).finally(settled),
    stats: () => ({ ...remote.stats(), inFlight: claimed }),
  };
}
