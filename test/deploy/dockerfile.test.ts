/** The Dockerfile's structure (no Docker engine here): stages, base, user, signals, no secrets. */
import { describe, expect, it } from "vitest";
import { ROOT, read } from "./chart.js";

interface Instruction {
  op: string;
  args: string;
}

/** Instructions with continuation lines joined and comments dropped, grouped by stage. */
function stages(text: string): Instruction[][] {
  const joined = text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ");
  const result: Instruction[][] = [];
  for (const line of joined.split("\n")) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m?.[1] || m[2] === undefined) continue;
    const op = m[1].toUpperCase();
    if (op === "FROM") result.push([]);
    result.at(-1)?.push({ op, args: m[2].trim() });
  }
  return result;
}

const text = read(`${ROOT}Dockerfile`);
const all = stages(text);
const final = all.at(-1) ?? [];
const args = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op).map((i) => i.args);

describe("Dockerfile", () => {
  it("is multi-stage, every stage on node:24-slim (pinned by major)", () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const stage of all) expect(stage[0]?.args).toMatch(/^node:24-slim(\s+AS\s+\w+)?$/i);
  });

  it("builds with dev dependencies and a compiler (better-sqlite3 builds from source) in the build stage, then prunes them", () => {
    const build = all[0] ?? [];
    expect(args(build, "RUN").some((r) => /apt-get install\b.*\bpython3\b.*\bmake\b.*\bg\+\+/.test(r))).toBe(true);
    expect(args(build, "RUN").some((r) => /\bnpm ci\b/.test(r) && !r.includes("--omit=dev"))).toBe(true);
    expect(args(build, "RUN").some((r) => r.includes("npm run build") && r.includes("npm prune --omit=dev"))).toBe(true);
  });

  it("ships only dist/, config/, package files and the production dependencies compiled in the build stage", () => {
    expect(args(final, "RUN").some((r) => /npm (ci|install|run build)\b|apt-get/.test(r))).toBe(false);
    expect(args(final, "COPY").some((c) => c.startsWith("--from=build") && c.includes("/app/node_modules"))).toBe(true);
    const sources = args(final, "COPY").flatMap((c) =>
      c
        .split(/\s+/)
        .filter((w) => !w.startsWith("--"))
        .slice(0, -1),
    );
    for (const s of sources) expect(["package.json", "package-lock.json", "/app/node_modules", "/app/dist", "config", "config/payguard.yaml"]).toContain(s);
    expect(args(final, "COPY").some((c) => c.startsWith("--from=build") && c.includes("/app/dist"))).toBe(true);
  });

  it("runs as a numeric non-root user", () => {
    const users = args(final, "USER");
    expect(users.length).toBeGreaterThan(0);
    const last = users.at(-1) ?? "";
    expect(last).toMatch(/^\d+(:\d+)?$/);
    expect(Number(last.split(":")[0])).toBeGreaterThan(0);
  });

  it("declares the data volume (SQLite store and journal), ports, config and store paths, stop signal and an exec-form entrypoint", () => {
    expect(JSON.parse(args(final, "VOLUME")[0] ?? "[]")).toEqual(["/var/lib/payguard"]);
    expect(args(final, "ENV").join(" ")).toMatch(/\bPAYGUARD_STORE_PATH=\/var\/lib\/payguard\/payguard\.db\b/);
    expect(args(final, "EXPOSE").join(" ").split(/\s+/).sort()).toEqual(["8080", "9090"]);
    expect(args(final, "ENV").join(" ")).toMatch(/\bPAYGUARD_CONFIG=\/etc\/payguard\/payguard\.yaml\b/);
    expect(args(final, "STOPSIGNAL")).toEqual(["SIGTERM"]);
    const entry = JSON.parse(args(final, "ENTRYPOINT")[0] ?? "null") as string[];
    const cmd = JSON.parse(args(final, "CMD")[0] ?? "null") as string[];
    expect([...entry, ...cmd]).toEqual(["node", "dist/main.js", "serve"]);
  });

  it("carries OCI labels and no secrets", () => {
    expect(args(final, "LABEL").join(" ")).toContain("org.opencontainers.image.title=");
    for (const stage of all) {
      for (const { op, args: a } of stage.filter((i) => i.op === "ENV" || i.op === "ARG")) {
        for (const [, name] of a.matchAll(/([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)/g)) {
          expect(`${op} ${name}`).not.toMatch(/PASSWORD|TOKEN|SECRET|KEY/i);
        }
      }
    }
  });

  it("has a .dockerignore keeping node_modules, git and env files out of the context", () => {
    const ignored = read(`${ROOT}.dockerignore`).split("\n");
    for (const entry of ["node_modules", ".git", "dist", ".env", "test"]) expect(ignored).toContain(entry);
  });
});
