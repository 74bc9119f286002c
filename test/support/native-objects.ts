/**
 * Vitest setup, in every test worker: statements the tests prepare on their own better-sqlite3
 * databases are held for the life of the worker too, as payguard's are — one left to the
 * garbage collector can abort the worker on Node 24 (src/store/sqlite/driver.ts).
 */
import { holdNativeObjects } from "../../src/store/sqlite/driver.js";

holdNativeObjects();
