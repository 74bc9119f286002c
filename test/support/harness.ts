/**
 * A test file's fake gateway, and the payguard instances its tests start: each instance is
 * closed and the gateway reset after every test, the gateway closed after the file.
 */
import { afterAll, afterEach, beforeAll } from "vitest";
import type { StartOptions } from "../../src/server.js";
import { type FakeGateway, startFakeGateway } from "./fake-gateway.js";
import { type Running, startInProcess, type TestUpstream } from "./payguard.js";

export interface ProxyEnv {
  readonly gw: FakeGateway;
  readonly pg: Running;
}

/** One fake gateway and one payguard (config `extra`) shared by every test of a file. */
export function useProxy(extra: string): ProxyEnv {
  let gateway: FakeGateway | undefined;
  let running: Running | undefined;
  beforeAll(async () => {
    gateway = await startFakeGateway();
    running = await startInProcess(gateway.url, extra);
  });
  afterAll(async () => {
    await running?.close();
    await gateway?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the gateway and payguard start in beforeAll");
    return value;
  };
  return {
    get gw() {
      return started(gateway);
    },
    get pg() {
      return started(running);
    },
  };
}

export interface GatewayEnv {
  /** the file's fake gateway (available from beforeAll on) */
  readonly gw: FakeGateway;
  /** starts payguard (config: `extra` YAML) in front of the gateway, or of `upstream` */
  payguard(extra?: string, upstream?: TestUpstream, options?: Pick<StartOptions, "store">): Promise<Running>;
}

/** `defaults` may rewrite each instance's extra YAML (e.g. a file-wide setting). */
export function useGateway(defaults: (extra: string) => string = (extra) => extra): GatewayEnv {
  let gateway: FakeGateway | undefined;
  const running: Running[] = [];
  beforeAll(async () => {
    gateway = await startFakeGateway();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
    gateway?.reset();
  });
  afterAll(async () => {
    await gateway?.close();
  });
  const env: GatewayEnv = {
    get gw() {
      if (!gateway) throw new Error("the fake gateway starts in beforeAll");
      return gateway;
    },
    async payguard(extra = "", upstream, options) {
      const pg = await startInProcess(upstream ?? env.gw.url, defaults(extra), options);
      running.push(pg);
      return pg;
    },
  };
  return env;
}
