// SQLite: the form each policy's time columns hold, read from their rows, so the cutoff is bound
// in that form and compares in index order (see sqlite-time.ts).
import type { Knex } from "knex";
import { describeForm, detectSqliteTimeForm, lexicalProblem, mergeForms, type SqliteTimeForm } from "../../sqlite-time.ts";
import type { TimeFormat } from "./options.ts";
import type { PolicyIssue, ResolvedPolicy } from "./policies.ts";

/** What a column must hold for an explicit `timeFormat`, and what an empty column is taken to hold. */
const EXPECTED: Record<TimeFormat, { kind: SqliteTimeForm["kind"] | undefined; empty: SqliteTimeForm }> = {
  date: { kind: undefined, empty: { kind: "epoch_ms" } },
  utc: { kind: undefined, empty: { kind: "epoch_ms" } },
  epoch_ms: { kind: "epoch_ms", empty: { kind: "epoch_ms" } },
  epoch_s: { kind: "epoch_s", empty: { kind: "epoch_s" } },
  iso: { kind: "text", empty: { kind: "text", separator: "T", zone: "Z", digits: 3 } },
};

/**
 * The one form of the policy's time columns (the age column and those its preset's `where` reads):
 * each column's rows must hold one form that sorts in time order, agree with an explicit
 * `timeFormat`, and every column the same form (a `where` gets one `time()`). A column with no rows
 * yet is taken to hold what `timeFormat` says (`"date"`: knex's epoch milliseconds).
 */
export async function sqliteTimeForm(
  db: Knex,
  policy: ResolvedPolicy,
  indexed: ReadonlySet<string>,
): Promise<{ issues: PolicyIssue[]; form: SqliteTimeForm | undefined }> {
  const issues: PolicyIssue[] = [];
  const expected = EXPECTED[policy.timeFormat];
  let form: SqliteTimeForm | undefined;
  let formColumn = "";
  for (const column of new Set(policy.timeColumns)) {
    const path = column === policy.age?.column ? [...policy.path, "column"] : policy.path;
    const name = `"${policy.table}.${column}"`;
    const found = await detectSqliteTimeForm(db, policy.table, column, indexed.has(column));
    if (found === "empty") continue;
    const problem = "problem" in found ? found.problem : lexicalProblem(found);
    if (problem) {
      issues.push({ path, message: `column ${name} ${problem}` });
      continue;
    }
    const seen = found as SqliteTimeForm;
    if (expected.kind && seen.kind !== expected.kind) {
      issues.push({
        path: [...policy.path, "timeFormat"],
        message: `timeFormat is "${policy.timeFormat}" but column ${name} holds ${describeForm(seen)}`,
      });
      continue;
    }
    const merged = form ? mergeForms(form, seen) : seen;
    if (!merged && form) {
      const both = `${describeForm(form)} in "${formColumn}", ${describeForm(seen)} in "${column}"`;
      issues.push({ path, message: `the policy's time columns hold different forms (${both}): one cutoff cannot compare with both` });
    } else {
      form = merged;
      formColumn = column;
    }
  }
  return { issues, form: issues.length > 0 ? undefined : (form ?? expected.empty) };
}
