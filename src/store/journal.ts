/**
 * The local outcome journal (journal/journal.ts): the answers a shared store could not take,
 * kept in a SQLite table until they are written back.
 */
export type { JournalEntry } from "./journal/entry.js";
export { Journal, type JournalOptions } from "./journal/journal.js";
export type { TornLine } from "./journal/legacy.js";
