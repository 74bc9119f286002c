/**
 * better-sqlite3, with its native objects never left to the garbage collector.
 *
 * better-sqlite3 12 on Node 24 aborts the whole process (`Assertion failed: (env) != nullptr`
 * in `node::RemoveEnvironmentCleanupHook`, from `Statement::~Statement`) when the collector
 * destroys one of its objects at a moment no Node environment is current: Node 24's
 * `ObjectWrap` removes a cleanup hook in its destructor and checks for one
 * (WiseLibs/better-sqlite3#1515, closed unfixed; 13 moved to Node-API but needs Node ≥ 22,
 * and payguard runs on Node 20 too). Seen here: the contract suite's worker aborting on
 * Node 24 after a store's statements became garbage. Objects still alive when Node tears an
 * environment down are freed by Node's own cleanup hooks, safely.
 *
 * So every database opened here and every statement prepared on any database (`prepare`, and
 * `pragma`, which prepares one each call) is held for the life of the process. The stores
 * prepare their statements once at open; nothing on a request's path or a timer prepares one
 * per call (the stats and checkpoint pragmas are prepared once). Installed once per process
 * (and per worker thread that loads it), for every caller of better-sqlite3 in it.
 */
import { createRequire } from "node:module";
import Database from "better-sqlite3";

const held = new Set<object>();
const require = createRequire(import.meta.url);
/** better-sqlite3's private key for the native database (lib/util.js), which `pragma` calls directly. */
const { cppdb } = require("better-sqlite3/lib/util") as { cppdb: symbol };

type Native = { prepare(sql: string, db: Database.Database, pragma: boolean): Database.Statement };

let installed = false;

/** Makes every statement prepared from now on, by anyone in this thread, live as long as the process. */
export function holdNativeObjects(): void {
  if (installed) return;
  installed = true;
  const prepare = Database.prototype.prepare;
  Database.prototype.prepare = function (this: Database.Database, ...args: Parameters<typeof prepare>) {
    return hold(prepare.apply(this, args));
  } as typeof prepare;
  Database.prototype.pragma = function (this: Database.Database, source: string, options: Database.PragmaOptions = {}) {
    const native = (this as unknown as Record<symbol, Native>)[cppdb] as Native;
    const statement = hold(native.prepare(`PRAGMA ${source}`, this, true));
    return options.simple ? statement.pluck().get() : statement.all();
  };
}

function hold<T extends object>(object: T): T {
  held.add(object);
  return object;
}

/** Opens a database whose native objects are never garbage (see above). */
export function openDatabase(path: string, options?: Database.Options): Database.Database {
  holdNativeObjects();
  return hold(new Database(path, options));
}
