/**
 * What the simulated gateway remembers: every charge, the fault each arrival met, and (with
 * `dedupe: true`) its own Idempotency-Key records. No I/O: the HTTP side is handler.ts.
 */
import { draws, FAULTS, type Fault, type FaultRates, pickFault } from "./faults.js";

export interface Charge {
  id: string;
  tenant: string;
  payment: string;
  /** the Idempotency-Key the request carried, if any */
  key: string | undefined;
  /** the X-Request-Id the request carried (payguard sets one), if any */
  requestId: string | undefined;
  fault: Fault | "none";
  /** performance.now() when the charge was made */
  at: number;
  /** the 200 answer was written out completely (the peer may still have hung up) */
  answered: boolean;
}

/** A completed answer the gateway's own dedupe replays, and the charge it answers for. */
export interface Stored {
  status: number;
  body: string;
  charge: Charge;
}

/** What an arrival drew: its fault, and how long its normal processing takes. */
export interface Arrival {
  fault: Fault | "none";
  latency: number;
}

export interface ArrivalDraw {
  seed: number;
  faults: Partial<FaultRates>;
  latencyMs: readonly [number, number];
}

export class Ledger {
  /** every charge, in the order they were made */
  readonly charges: Charge[] = [];
  readonly faults = Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<Fault, number>;
  /** per "tenant payment": the fault each of its arrivals met, in arrival order */
  readonly arrivalsOf = new Map<string, (Fault | "none")[]>();
  arrivals = 0;
  replays = 0;
  private readonly completed = new Map<string, Stored>();
  private readonly inFlight = new Set<string>();

  /** Counts one arrival of the payment and draws what it meets. */
  arrive(opts: ArrivalDraw, tenant: string, payment: string): Arrival {
    this.arrivals++;
    const id = `${tenant} ${payment}`;
    const met = this.arrivalsOf.get(id) ?? [];
    this.arrivalsOf.set(id, met);
    const [faultDraw, latencyDraw] = draws(opts.seed, tenant, payment, met.length + 1);
    const fault = pickFault(opts.faults, faultDraw);
    met.push(fault);
    if (fault !== "none") this.faults[fault]++;
    const [min, max] = opts.latencyMs;
    return { fault, latency: min + Math.floor(latencyDraw * (max - min + 1)) };
  }

  /**
   * Stripe-like dedupe of one key: the stored answer of a completed key (counted as a
   * replay), "in-flight" while another request holds it, else "claimed" (now held).
   */
  claim(dedupeKey: string): Stored | "in-flight" | "claimed" {
    const stored = this.completed.get(dedupeKey);
    if (stored) {
      this.replays++;
      return stored;
    }
    if (this.inFlight.has(dedupeKey)) return "in-flight";
    this.inFlight.add(dedupeKey);
    return "claimed";
  }

  /** The claimed key's answer, replayed from now on. */
  complete(dedupeKey: string, stored: Stored): void {
    this.completed.set(dedupeKey, stored);
    this.inFlight.delete(dedupeKey);
  }

  charge(made: Pick<Charge, "tenant" | "payment" | "key" | "requestId" | "fault">): Charge {
    const { tenant, payment, key, requestId, fault } = made;
    const charge: Charge = { id: `ch_${this.charges.length + 1}`, tenant, payment, key, requestId, fault, at: performance.now(), answered: false };
    this.charges.push(charge);
    return charge;
  }

  chargesByPayment(): Map<string, Charge[]> {
    const byPayment = new Map<string, Charge[]>();
    for (const charge of this.charges) {
      const id = `${charge.tenant} ${charge.payment}`;
      const list = byPayment.get(id);
      if (list) list.push(charge);
      else byPayment.set(id, [charge]);
    }
    return byPayment;
  }
}
