/**
 * CPU per payguard feature, from a V8 CPU profile: each sample goes to the innermost frame on its
 * stack that belongs to a feature (a pipeline stage, the policies, the upstream call, logging,
 * metrics, hono, the stores), so the native work a feature calls (a socket write, a hash) counts
 * as that feature's. Samples with no feature frame are node:http's and the runtime's own (the
 * floor's work too); GC and idle are kept apart.
 */

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface FeatureTime {
  feature: string;
  ms: number;
}

const RUNTIME = "node:http, undici's socket and the runtime (no payguard frame)";

/** Ordered: the first rule whose pattern matches a frame's url names its feature. */
const RULES: [RegExp, string][] = [
  [/dist\/pipeline\/(respond|answer)\.js/, "respond (write the answer)"],
  [/dist\/pipeline\/forward\.js|dist\/upstream\/|node_modules\/undici\//, "forward + upstream call (undici)"],
  [/dist\/resilience\/|node_modules\/cockatiel\//, "policies (bulkhead, retry, breaker, timeouts)"],
  [/dist\/pipeline\/(idempotency|completion)\.js|dist\/idempotency\/|dist\/store\//, "idempotency + store"],
  [/dist\/pipeline\/observe\.js|dist\/log\.js|node_modules\/(pino|sonic-boom|fast-redact|pino-std-serializers)\//, "observe: access line (pino)"],
  [/dist\/metrics\/|node_modules\/prom-client\//, "observe: metrics (prom-client)"],
  [/dist\/pipeline\/(guard|normalize|body|route|request-id|context)\.js|dist\/gateways\/|dist\/config\//, "guard, route, body, headers"],
  [/node_modules\/(hono|@hono)\//, "hono (compose, Context, node-server)"],
  [/dist\//, "other payguard code"],
];

function featureOf(url: string): string | undefined {
  for (const [pattern, feature] of RULES) if (pattern.test(url)) return feature;
  return undefined;
}

/** Each profile node's parent, by id. */
export function parentsOf(nodes: ProfileNode[]): Map<number, number> {
  const parent = new Map<number, number>();
  for (const n of nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  return parent;
}

/**
 * `selfUs` is each node's sampled self time in µs (as from the profile's samples and timeDeltas).
 * Returns ms per feature, largest first, with "(garbage collector)", "(idle)" and the runtime's share.
 */
export function featureTimes(nodes: ProfileNode[], selfUs: Map<number, number>): FeatureTime[] {
  const parent = parentsOf(nodes);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const memo = new Map<number, string>();
  const attribute = (id: number): string => {
    const known = memo.get(id);
    if (known) return known;
    const node = byId.get(id);
    const name = node?.callFrame.functionName ?? "";
    const feature =
      name === "(garbage collector)" || name === "(idle)"
        ? name
        : (featureOf(node?.callFrame.url ?? "") ?? (parent.has(id) ? attribute(parent.get(id) as number) : RUNTIME));
    memo.set(id, feature);
    return feature;
  };
  const totals = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const feature = attribute(id);
    totals.set(feature, (totals.get(feature) ?? 0) + us / 1000);
  }
  return [...totals].map(([feature, ms]) => ({ feature, ms })).sort((a, b) => b.ms - a.ms);
}
