/**
 * Encryption at rest for the webhook inbox: an event's body (customer and payment details
 * the gateway sent) is sealed with store.encryption's key, bound to its (gateway, event id),
 * and marked by one stored header that never leaves the store; ids, states and times stay
 * readable. What goes in is sealed; what comes out (to the deliverer, to the admin API) is
 * opened. Events stored before a key was configured are read as they are.
 */
import type { Cipher } from "./crypto.js";
import type { InboundEvent, WebhookInbox } from "./types.js";

/** The stored header that marks a sealed body (the same name as a sealed record's). */
const SEALED = "payguard-sealed";

const contextOf = (event: Pick<InboundEvent, "gateway" | "eventId">) => `webhook\0${event.gateway}\0${event.eventId}`;

function sealEvent(event: InboundEvent, cipher: Cipher): InboundEvent {
  return { ...event, body: cipher.encrypt(event.body, contextOf(event)), headers: { ...event.headers, [SEALED]: "v1" } };
}

function openEvent<E extends InboundEvent>(event: E, cipher: Cipher): E {
  if (event.headers[SEALED] === undefined) return event;
  const { [SEALED]: _marker, ...headers } = event.headers;
  return { ...event, body: cipher.decrypt(event.body, contextOf(event)), headers };
}

/** `inbox`, sealing every event it stores and opening every event it gives. */
export function sealedInbox(inbox: WebhookInbox, cipher: Cipher): WebhookInbox {
  return {
    accept: (event, settlement) => inbox.accept(sealEvent(event, cipher), settlement),
    event: async (gateway, eventId) => {
      const event = await inbox.event(gateway, eventId);
      return event && openEvent(event, cipher);
    },
    lease: async (...args) => (await inbox.lease(...args)).map((e) => openEvent(e, cipher)),
    settle: (...args) => inbox.settle(...args),
    list: async (query) => {
      const page = await inbox.list(query);
      return { ...page, events: page.events.map((e) => openEvent(e, cipher)) };
    },
    redeliver: (...args) => inbox.redeliver(...args),
    redeliverRange: (...args) => inbox.redeliverRange(...args),
    matchLate: (...args) => inbox.matchLate(...args),
  };
}
