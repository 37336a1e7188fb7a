import type { Knex } from "knex";

/** The part of a better-sqlite3 statement the store uses. */
interface Statement {
  readonly reader: boolean;
  all(bindings: readonly unknown[]): unknown[];
  run(bindings: readonly unknown[]): { changes: number | bigint };
}

/** The part of a better-sqlite3 database (knex's raw connection) the store uses. */
interface Connection {
  prepare(sql: string): Statement;
  __knexUid?: string;
  __knexTxId?: string;
}

/** A raw statement with `??` identifiers, compiled once: its SQL and which bindings are identifiers. */
interface Compiled {
  sql: string;
  identifier: boolean[];
}

/** What a statement gave: the rows of a reader (`select`, `returning`), else the changed count. */
export type SqliteResult = { rows: Record<string, unknown>[]; changes?: undefined } | { rows?: undefined; changes: number };

/** Statements prepared on each connection, dropped with it (a closed or replaced connection's go too). */
const prepared = new WeakMap<object, Map<string, Statement>>();

/** Dates and booleans as knex's better-sqlite3 client binds them. */
const bindable = (value: unknown): unknown =>
  value instanceof Date ? value.getTime() : typeof value === "boolean" ? Number(value) : value;

/**
 * Runs the store's hot statements (the claim, the finish) on knex's own better-sqlite3
 * connection with a statement prepared once per connection, where knex builds and better-sqlite3
 * prepares every statement again on every call. The connection is taken from and given back to
 * knex (`client.acquireConnection` / `releaseConnection`), so a transaction's connection and the
 * pool's single SQLite connection are used exactly as knex uses them; the statement runs
 * synchronously in between. knex's `query`, `query-response` and `query-error` events fire as
 * for any query. Undefined for other drivers (they take the ordinary knex path).
 */
export function sqliteStatements(db: Knex): ((template: string, bindings: readonly unknown[]) => Promise<SqliteResult>) | undefined {
  if ((db.client as { driverName?: string }).driverName !== "better-sqlite3") return undefined;
  const compiled = new Map<string, Compiled>();

  /** The template's SQL as knex writes it (identifiers quoted, `wrapIdentifier` honoured), once. */
  const compile = (template: string, bindings: readonly unknown[]): Compiled => {
    let done = compiled.get(template);
    if (done === undefined) {
      const identifier: boolean[] = [];
      for (const match of template.matchAll(/\\\?|\?\??/g)) if (match[0] !== "\\?") identifier.push(match[0] === "??");
      if (identifier.length !== bindings.length) throw new Error(`expected ${identifier.length} bindings, saw ${bindings.length}`);
      done = { sql: db.raw(template, bindings as Knex.RawBinding[]).toSQL().sql, identifier };
      compiled.set(template, done);
    }
    return done;
  };

  return async (template, bindings) => {
    const { sql, identifier } = compile(template, bindings);
    const values = bindings.filter((_, i) => !identifier[i]).map(bindable);
    const client = db.client as Knex.Client & { emit(event: string, ...args: unknown[]): boolean };
    // As knex refuses a query on a finished transaction, rather than run it outside the transaction.
    const trx = db as unknown as Partial<Knex.Transaction>;
    if (trx.isTransaction && trx.isCompleted?.()) throw new Error(`Transaction query already complete: ${sql}`);
    const connection = (await client.acquireConnection()) as Connection;
    try {
      let statements = prepared.get(connection);
      if (statements === undefined) {
        statements = new Map();
        prepared.set(connection, statements);
      }
      const query = { __knexUid: connection.__knexUid, __knexTxId: connection.__knexTxId, method: "raw", sql, bindings: values };
      client.emit("query", query);
      let result: SqliteResult;
      try {
        let statement = statements.get(sql);
        if (statement === undefined) {
          statement = connection.prepare(sql);
          statements.set(sql, statement);
        }
        result = statement.reader
          ? { rows: statement.all(values) as Record<string, unknown>[] }
          : { changes: Number(statement.run(values).changes) };
      } catch (error) {
        if (error instanceof Error) error.message = `${sql} - ${error.message}`;
        client.emit("query-error", error, query);
        throw error;
      }
      client.emit("query-response", result.rows ?? result.changes, query);
      return result;
    } finally {
      await client.releaseConnection(connection);
    }
  };
}
