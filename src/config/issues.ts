/**
 * zod issues → "path: message" lines, worded for operators rather than programmers. Pure.
 *
 * The schema's own messages read "must be …" (fields.ts), and they win. A value a vocabulary
 * refuses (an enum, a union) is named beside everything it could have been, so a list entry
 * of the right type is never told it has the wrong one.
 */
import type { z } from "zod";

type Issue = z.core.$ZodIssue;

export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(root)";
  return path.reduce<string>((acc, part) => {
    if (typeof part === "number") return `${acc}[${part}]`;
    // A key that is not a plain name ("", "a b", "x: y") is quoted, so the path stays readable.
    if (!/^[A-Za-z0-9_$-]+$/.test(String(part))) return `${acc}[${JSON.stringify(String(part))}]`;
    return acc === "" ? String(part) : `${acc}.${String(part)}`;
  }, "");
}

/**
 * Every issue as "path: message" lines, but none at or under a path in `explained`: a value
 * whose problem was already told (an unset `${VAR}`) gets that one line, not a second one
 * about what the empty value it became fails.
 */
export function formatIssues(issues: readonly Issue[], explained: readonly (readonly PropertyKey[])[] = []): string[] {
  return issues.filter((issue) => !explained.some((path) => isUnder(issue.path, path))).flatMap((issue) => formatIssue(issue));
}

function isUnder(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((part, i) => part === path[i]);
}

/** One issue → its lines; `base` is where a union's inner issues sit. */
function formatIssue(issue: Issue, base: readonly PropertyKey[] = []): string[] {
  const path = [...base, ...issue.path];
  const at = formatPath(path);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => `${formatPath([...path, k])}: unknown key`);
    case "invalid_union":
      return unionLines(issue, path);
    case "invalid_value":
      if (issue.input === undefined) return [`${at}: is required`];
      return [`${at}: must be ${issue.values.length > 1 ? "one of " : ""}${issue.values.map(show).join(", ")} (got ${show(issue.input)})`];
    case "invalid_type":
      if (issue.input === undefined) return [`${at}: is required`];
      return [`${at}: must be ${ownWords(issue) ?? typeName(issue.expected)} (got ${typeOf(issue.input)})`];
    default:
      return [`${at}: ${wording(issue)}`];
  }
}

/**
 * A union none of whose options took the value. When one option took its shape (a mapping
 * with a wrong member), that option's problems are the ones to fix; else the value is named
 * beside every option.
 */
function unionLines(issue: z.core.$ZodIssueInvalidUnion, path: readonly PropertyKey[]): string[] {
  if (issue.input === undefined) return [`${formatPath(path)}: is required`];
  const took = issue.errors.find((option) => option.some((inner) => inner.path.length > 0 || inner.code === "unrecognized_keys"));
  if (took) return took.flatMap((inner) => formatIssue(inner, path));
  return [`${formatPath(path)}: must be ${oneOf([...new Set(alternatives(issue))])} (got ${show(issue.input)})`];
}

/** What each option of a union accepts, as a phrase ("a status code 100–599", "\"5xx\""). */
function alternatives(issue: z.core.$ZodIssueInvalidUnion): string[] {
  return issue.errors.flatMap((option) => {
    const first = option[0];
    if (first === undefined) return [];
    if (first.code === "invalid_union") return alternatives(first);
    if (first.code === "invalid_value") return first.values.map(show);
    const own = ownWords(first);
    if (own !== undefined) return [own];
    return [first.code === "invalid_type" ? typeName(first.expected) : wording(first)];
  });
}

/** The schema's own wording of what is wanted, without its "must be ". */
function ownWords(issue: Issue): string | undefined {
  return issue.message.startsWith("must be ") ? issue.message.slice("must be ".length) : undefined;
}

/** The schema's own message, else ours for the codes it leaves to zod's default. */
function wording(issue: Issue): string {
  if (ownWords(issue) !== undefined) return issue.message;
  switch (issue.code) {
    case "too_big":
      return `must be ≤ ${String(issue.maximum)}${issue.origin === "array" ? " items" : ""}`;
    case "too_small":
      return `must be ≥ ${String(issue.minimum)}${issue.origin === "array" ? " items" : issue.origin === "string" ? " characters" : ""}`;
    default:
      return issue.message;
  }
}

const TYPE_NAMES: Record<string, string> = { object: "a mapping", array: "a list", int: "an integer", boolean: "true or false" };

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? `a ${expected}`;
}

/** The kind of a value, never the value: a wrong-typed secret stays unprinted. */
function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "a mapping" : `a ${typeof value}`;
}

/**
 * A refused value as the file wrote it: only a vocabulary's (an enum's, a union's) is shown,
 * and a long one is cut, so no secret is printed whole.
 */
function show(value: unknown): string {
  if (typeof value === "object" && value !== null) return typeOf(value);
  const text = typeof value === "string" ? JSON.stringify(value) : String(value);
  return text.length > 40 ? `${text.slice(0, 37)}…` : text;
}

/** "a", "a or b", "a, b or c". */
function oneOf(phrases: readonly string[]): string {
  if (phrases.length <= 1) return phrases[0] ?? "something else";
  return `${phrases.slice(0, -1).join(", ")} or ${phrases.at(-1)}`;
}
