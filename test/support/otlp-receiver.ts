/**
 * A real OTLP/HTTP trace receiver on port 0: what an OpenTelemetry Collector's `otlphttp`
 * receiver accepts on /v1/traces. payguard's exporter (@opentelemetry/exporter-trace-otlp-http)
 * posts the OTLP JSON encoding; each request is decoded into flat spans with their resource,
 * and every raw body is kept so a test can search all of it for a value that must not be
 * there. `answer` scripts the receiver's status (a failing or stalled collector).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: AnyValue }[];
  status?: { code?: number };
  links?: unknown[];
}
interface OtlpExport {
  resourceSpans: { resource?: { attributes?: { key: string; value: AnyValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
}

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: "internal" | "server" | "client" | "producer" | "consumer";
  attributes: Record<string, string | number | boolean>;
  /** 2: error */
  statusCode: number;
  resource: Record<string, string | number | boolean>;
}

const KINDS = ["internal", "internal", "server", "client", "producer", "consumer"] as const;

export interface OtlpReceiver {
  /** http://127.0.0.1:port/v1/traces */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  /** every request body, raw, as received */
  readonly raw: string[];
  /** the content types the exporter sent */
  readonly contentTypes: Set<string>;
  /** status to answer with (200 by default); "hang" never answers */
  answer: number | "hang";
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const raw: string[] = [];
  const contentTypes = new Set<string>();
  const state = { answer: 200 as number | "hang" };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (state.answer === "hang") return;
      if (req.url !== "/v1/traces" || req.method !== "POST") return void res.writeHead(404).end();
      const text = Buffer.concat(chunks).toString("utf8");
      raw.push(text);
      contentTypes.add(String(req.headers["content-type"]));
      if (state.answer === 200) spans.push(...decode(JSON.parse(text) as OtlpExport));
      res.writeHead(state.answer, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    raw,
    contentTypes,
    get answer() {
      return state.answer;
    },
    set answer(value) {
      state.answer = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function decode(body: OtlpExport): ReceivedSpan[] {
  return body.resourceSpans.flatMap((rs) => {
    const resource = attributesOf(rs.resource?.attributes);
    return rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((s) => ({
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId || undefined,
        name: s.name,
        kind: KINDS[s.kind] ?? "internal",
        attributes: attributesOf(s.attributes),
        statusCode: s.status?.code ?? 0,
        resource,
      })),
    );
  });
}

function attributesOf(list: { key: string; value: AnyValue }[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
  }
  return out;
}
