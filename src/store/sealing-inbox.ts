/**
 * Encryption at rest for the webhook inbox: an event's body (customer and payment details
 * the gateway sent) is sealed with store.encryption's key, bound to its (gateway, event id),
 * and marked by one stored header that never leaves the store; ids, states and times stay
 * readable. What goes in is sealed; what comes out (to the deliverer, to the admin API) is
 * opened. Events stored before a key was configured are read as they are. An event none of
 * the keys opens (its key was removed) is dead-lettered when leased, never delivered sealed,
 * and shown to the admin API as stored.
 */
import type { Cipher } from "./crypto.js";
import type { InboundEvent, StoredEvent, WebhookInbox } from "./types.js";

/** The stored header that marks a sealed body (the same name as a sealed record's). */
export const SEALED_EVENT = "payguard-sealed";
const SEALED = SEALED_EVENT;

const contextOf = (event: Pick<InboundEvent, "gateway" | "eventId">) => `webhook\0${event.gateway}\0${event.eventId}`;

function sealEvent(event: InboundEvent, cipher: Cipher): InboundEvent {
  return { ...event, body: cipher.encrypt(event.body, contextOf(event)), headers: { ...event.headers, [SEALED]: "v1" } };
}

function openEvent<E extends InboundEvent>(event: E, cipher: Cipher): E {
  if (event.headers[SEALED] === undefined) return event;
  const { [SEALED]: _marker, ...headers } = event.headers;
  return { ...event, body: cipher.decrypt(event.body, contextOf(event)), headers };
}

/** The event opened, or as stored when no key opens it. */
function tryOpen<E extends InboundEvent>(event: E, cipher: Cipher): E {
  try {
    return openEvent(event, cipher);
  } catch {
    return event;
  }
}

/** `inbox`, sealing every event it stores and opening every event it gives. */
export function sealedInbox(inbox: WebhookInbox, cipher: Cipher): WebhookInbox {
  return {
    accept: (event, settlement) => inbox.accept(sealEvent(event, cipher), settlement),
    event: async (gateway, eventId) => {
      const event = await inbox.event(gateway, eventId);
      return event && tryOpen(event, cipher);
    },
    lease: async (endpoint, owner, now, leaseMs, limit) => {
      const opened: StoredEvent[] = [];
      for (const event of await inbox.lease(endpoint, owner, now, leaseMs, limit)) {
        try {
          opened.push(openEvent(event, cipher));
        } catch (err) {
          const error = `its body cannot be opened with store.encryption's keys (${err instanceof Error ? err.message : String(err)})`;
          await inbox.settle(event, owner, { state: "dead", at: now, error });
        }
      }
      return opened;
    },
    settle: (...args) => inbox.settle(...args),
    list: async (query) => {
      const page = await inbox.list(query);
      return { ...page, events: page.events.map((e) => tryOpen(e, cipher)) };
    },
    redeliver: (...args) => inbox.redeliver(...args),
    redeliverRange: (...args) => inbox.redeliverRange(...args),
    matchLate: (...args) => inbox.matchLate(...args),
  };
}
