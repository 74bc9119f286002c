/**
 * config/payguard.yaml through the real CLI: `check` accepts it as shipped, with no PAYGUARD_*
 * variable set, and `npm start` (the same command and file) turns the admin API on from the
 * environment alone: PAYGUARD_ADMIN_API and PAYGUARD_ADMIN_TOKEN.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway } from "../support/fake-gateway.js";
import { send } from "../support/http.js";
import { type Child, runNode, startChild } from "../support/payguard.js";

const MAIN = new URL("../../dist/main.js", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { scripts: Record<string, string> };

/** The file `npm start` serves, read from its script (which must stay this one command). */
function startConfig(): string {
  const match = /^node dist\/main\.js serve --config (\S+)$/.exec(pkg.scripts.start ?? "");
  if (!match?.[1]) throw new Error(`npm start is not "node dist/main.js serve --config FILE": ${pkg.scripts.start}`);
  return match[1];
}

describe("config/payguard.yaml in the CLI", () => {
  it("check accepts it as shipped, with no PAYGUARD_* variable set", async () => {
    const { code, stdout, stderr } = await runNode(MAIN, ["check", "--config", "config/payguard.yaml"], {}, { only: true });
    expect(code, stderr).toBe(0);
    expect(stdout).toContain("config config/payguard.yaml: ok");
    expect(stdout).toContain("admin API off (admin.api.enabled false");
  });

  it("check refuses the admin API turned on without its token, and prints no token", async () => {
    const short = "not-32-characters-long";
    const { code, stdout, stderr } = await runNode(
      MAIN,
      ["check", "--config", "config/payguard.yaml"],
      { PAYGUARD_ADMIN_API: "true", PAYGUARD_ADMIN_TOKEN: short },
      { only: true },
    );
    expect(code).toBe(1);
    expect(stderr).toContain("admin.api.token: must be at least 32 characters when admin.api is enabled");
    expect(stdout + stderr).not.toContain(short);
  });
});

describe("npm start", () => {
  let gw: FakeGateway;
  let child: Child | undefined;
  const token = randomBytes(32).toString("base64");
  const base = () => ({
    PAYGUARD_HOST: "127.0.0.1",
    PAYGUARD_PORT: "0",
    PAYGUARD_ADMIN_HOST: "127.0.0.1",
    PAYGUARD_ADMIN_PORT: "0",
    PAYGUARD_UPSTREAM_URL: gw.url,
    PAYGUARD_STORE_PATH: join(mkdtempSync(join(tmpdir(), "payguard-start-")), "payguard.db"),
  });

  beforeAll(async () => {
    gw = await startFakeGateway();
  });
  afterEach(async () => {
    child?.proc.kill("SIGTERM");
    await child?.exited;
    child = undefined;
  });
  afterAll(async () => {
    await gw.close();
  });

  it("serves the admin API with PAYGUARD_ADMIN_API=true and PAYGUARD_ADMIN_TOKEN: no config written", async () => {
    child = await startChild(startConfig(), { ...base(), PAYGUARD_ADMIN_API: "true", PAYGUARD_ADMIN_TOKEN: token });
    expect((await send(child.adminUrl, "/admin/records?state=indeterminate", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await send(child.adminUrl, "/admin/records")).status).toBe(401);
    expect([...child.stdout, ...child.stderr].join("\n")).not.toContain(token);
  });

  it("leaves it off by default", async () => {
    child = await startChild(startConfig(), base());
    expect((await send(child.adminUrl, "/admin/records", { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
  });
});
