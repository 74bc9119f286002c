/**
 * A test-owned DNS server on loopback (UDP, port 0): answers A queries from a table, NXDOMAIN
 * otherwise, and counts the questions. Packets are encoded by dns-packet.
 */
import { createSocket } from "node:dgram";
import type { AddressInfo } from "node:net";
import packet from "dns-packet";

export interface TestDns {
  /** host:port, for upstream.dnsServers */
  readonly server: string;
  readonly asked: string[];
  close(): Promise<void>;
}

export async function startDns(table: Record<string, string>): Promise<TestDns> {
  const socket = createSocket("udp4");
  const asked: string[] = [];
  socket.on("message", (message, from) => {
    const query = packet.decode(message);
    const question = query.questions?.[0];
    if (!question) return;
    asked.push(`${question.type} ${question.name}`);
    const address = question.type === "A" ? table[question.name.toLowerCase()] : undefined;
    const known = Object.hasOwn(table, question.name.toLowerCase());
    const answer = packet.encode({
      type: "response",
      id: query.id,
      flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | (known ? 0 : 3),
      questions: [question],
      answers: address ? [{ type: "A", name: question.name, ttl: 5, data: address }] : [],
    });
    socket.send(answer, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const { port } = socket.address() as AddressInfo;
  return { server: `127.0.0.1:${port}`, asked, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}
