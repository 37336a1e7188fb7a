// The guards a policy cannot talk its way past: protected tables and retention floors are matched
// the way a database could resolve the name, and a raw `where` must be one closed expression, so the
// `(where)` it is wrapped in holds and the knex-built age bound beside it always applies.

/**
 * Whether two table names may name the same table. Case is ignored: SQLite folds it, MySQL and
 * MariaDB do with `lower_case_table_names` set (which registration cannot see), and a guard errs on
 * the side of refusing. An unqualified name matches the same name in any schema (`accounts` and
 * `public.accounts`), since the search path decides which one it reaches.
 */
export function sameTable(a: string, b: string): boolean {
  const split = (name: string) => {
    const parts = name.toLowerCase().split(".");
    return { table: parts.pop(), schema: parts.length > 0 ? parts.join(".") : undefined };
  };
  const x = split(a);
  const y = split(b);
  return x.table === y.table && (x.schema === undefined || y.schema === undefined || x.schema === y.schema);
}

/**
 * Why a raw `where` could escape the parentheses it is wrapped in, or undefined when it cannot:
 * parentheses must balance outside quotes and never close more than they opened, every quote
 * (`'`, `"`, `` ` ``, a doubled quote inside being that quote) must close, and there may be no
 * backslash (MySQL reads it as an escape inside strings, PostgreSQL does not), no `;`, no comment
 * (`--`, `/*`, MySQL's `#`) and no PostgreSQL dollar quote outside quotes.
 */
export function rawSqlProblem(sql: string): string | undefined {
  let depth = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === "`") {
      let end = -1;
      for (let j = i + 1; j < sql.length; j++) {
        if (sql[j] === "\\") return "raw SQL may not contain a backslash";
        if (sql[j] !== c) continue;
        if (sql[j + 1] === c) j++;
        else {
          end = j;
          break;
        }
      }
      if (end < 0) return `raw SQL has an unclosed ${c} quote`;
      i = end;
    } else if (c === "(") depth++;
    else if (c === ")" && --depth < 0) return "raw SQL closes a parenthesis it did not open";
    else if (c === ";") return "raw SQL may not contain ';': give one condition";
    else if ((c === "-" && sql[i + 1] === "-") || (c === "/" && sql[i + 1] === "*") || (c === "*" && sql[i + 1] === "/") || c === "#") {
      return "raw SQL may not contain a comment";
    } else if (c === "$" || c === "\\") return `raw SQL may not contain '${c}' outside quotes`;
  }
  return depth === 0 ? undefined : "raw SQL leaves a parenthesis unclosed";
}
