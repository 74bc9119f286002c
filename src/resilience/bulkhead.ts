/**
 * A bulkhead slot for all of a request's attempts, waited for at most until its deadline.
 * cockatiel's queue never looks at the signal while a request waits (it checks it only once a
 * slot frees), so a request that must queue is raced against the deadline. One that gets a
 * slot at once needs no timer: its attempts and backoffs stop at the deadline themselves.
 */
import type { BulkheadPolicy, IDefaultPolicyContext } from "cockatiel";
import type { Deadline } from "./deadline.js";

export function inSlot<T>(bulk: BulkheadPolicy, deadline: Deadline, fn: (context: IDefaultPolicyContext) => Promise<T>): Promise<T> {
  if (bulk.executionSlots > 0) return bulk.execute(fn, deadline.signal);
  return deadline.race(() => bulk.execute(fn, deadline.signal));
}
