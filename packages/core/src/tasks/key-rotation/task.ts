import { createCrypto, rowAad, type UpkeepCrypto } from "../../crypto/crypto.ts";
import { envelopePrefix } from "../../crypto/envelope.ts";
import { type MultiFernet, multiFernet } from "../../crypto/fernet.ts";
import { type ConfigIssue, TaskError, UpkeepError } from "../../errors.ts";
import { defineTask, type TaskContext, type TaskDefinition } from "../../task.ts";
import { type EncryptedColumn, type FernetColumn, type KeyRotationInput, type KeyRotationOptions, keyRotationInput } from "./options.ts";
import { type PassOptions, type PassResult, type RowDecision, reencryptPass } from "./pass.ts";
import { startsWith } from "./sql.ts";
import { type ColumnKeyCounts, countEnvelopeColumn, countFernetColumn, fernetKeysOf, keyInUse } from "./status.ts";

const DAY_MS = 86_400_000;

/** One column's outcome in a run result: counts and row ids, never a value. */
export interface ColumnRotation extends ColumnKeyCounts {
  /** Rows re-encrypted under the active key (or that would be, in a dry run). */
  reencrypted: number;
  /** Rows changed by the host while this ran, left for the next run. */
  conflicts: number;
  /** Rows that no key could decrypt; left as they are. */
  undecryptable: number;
  /** Ids of the undecryptable rows, up to `reportLimit`. */
  undecryptableIds: Array<string | number>;
}

/** What a key-rotation run stores as its result. */
export interface KeyRotationResult {
  /** Whether this was a dry run, which changed nothing. */
  dryRun: boolean;
  /** Whether the active key had passed `maxAgeDays` (or there was none, or `force`). */
  rotationDue: boolean;
  /** Whether this run made a new data key. */
  rotated: boolean;
  /** The active data key's id after the run; undefined when the keyring has none. */
  activeKeyId: string | undefined;
  /** Keys retired by this run: no registered row uses them any more. */
  retired: string[];
  /** What happened in each registered column. */
  columns: ColumnRotation[];
  /** The run stopped between batches (timeout or shutdown); the next run continues. */
  stopped: boolean;
  /** Says so when nothing was changed (a dry run). */
  note?: string;
}

function isRowError(error: unknown): boolean {
  return error instanceof UpkeepError && (error.code === "DECRYPT_FAILED" || error.code === "KEY_NOT_FOUND");
}

function aadFor(column: EncryptedColumn, id: string | number): string | Promise<string> | undefined {
  if (column.aad === "none") return undefined;
  if (column.aad === "row") return rowAad(column.table, column.column, id);
  return column.aad(id);
}

function columnOutcome(counts: ColumnKeyCounts, pass?: PassResult): ColumnRotation {
  return {
    ...counts,
    reencrypted: pass?.reencrypted ?? 0,
    conflicts: pass?.conflicts ?? 0,
    undecryptable: pass?.undecryptable ?? 0,
    undecryptableIds: pass?.undecryptableIds ?? [],
  };
}

/** Re-encrypts one registered column; `decide` returns the new value, and a row error marks the row undecryptable. */
function rotateColumn(
  ctx: TaskContext,
  input: KeyRotationInput,
  column: EncryptedColumn | FernetColumn,
  decide: (id: string | number, value: string) => Promise<RowDecision> | RowDecision,
  narrow?: PassOptions["narrow"],
): Promise<PassResult> {
  return reencryptPass(ctx, {
    db: ctx.db as NonNullable<TaskContext["db"]>,
    table: column.table,
    id: column.id,
    column: column.column,
    batchSize: column.batchSize ?? input.batchSize,
    reportLimit: input.reportLimit,
    dryRun: false,
    narrow,
    decide: async (id, value) => {
      try {
        return await decide(id, value);
      } catch (error) {
        if (isRowError(error)) return "fail";
        throw error;
      }
    },
  });
}

function rotateEnvelopeColumn(
  ctx: TaskContext,
  input: KeyRotationInput,
  crypto: UpkeepCrypto,
  activeKeyId: string,
  column: EncryptedColumn,
): Promise<PassResult> {
  const onActive = startsWith(ctx.db as NonNullable<TaskContext["db"]>, column.column, envelopePrefix(activeKeyId));
  return rotateColumn(
    ctx,
    input,
    column,
    async (id, value) => {
      const aad = await aadFor(column, id);
      return { write: await crypto.encrypt(await crypto.decryptBytes(value, { aad }), { aad }) };
    },
    (query) => query.whereNot((inner) => inner.whereRaw(onActive.sql, onActive.bindings)),
  );
}

function rotateFernetColumn(ctx: TaskContext, input: KeyRotationInput, codec: MultiFernet, column: FernetColumn): Promise<PassResult> {
  return rotateColumn(ctx, input, column, (_id, value) => {
    const index = codec.keyIndexOf(value);
    if (index === 0) return "keep";
    if (index < 0) return "fail";
    return { write: codec.rotate(value) };
  });
}

/**
 * Why the task cannot rotate with the KEK it is given, as a ConfigIssue (path relative to the
 * input), or undefined when it can. With its own `kek` the task keeps a keyring of its own, which
 * must wrap under the configuration's KEK, or `upkeep.crypto` could not unwrap the keys the task
 * makes; without one it rotates the configuration's `upkeep.crypto` itself. The KEKs' ids are not
 * named: only whether they match.
 */
function kekIssue(crypto: UpkeepCrypto | undefined, tablePrefix: string, input: KeyRotationInput): ConfigIssue | undefined {
  // Read first: an envKek() whose variable is unset throws here, naming it, so a missing KEK stops
  // start() and the run before anything is written.
  const configKekId = crypto?.kekId;
  const taskKekId = input.kek?.id;
  if (input.kek) {
    if (configKekId === undefined || configKekId === taskKekId) return undefined;
    return {
      path: "kek",
      message:
        "is not the configuration's crypto.kek, so upkeep.crypto could not unwrap the data keys it makes: leave it out to use crypto.kek",
    };
  }
  if (!crypto) return { path: "kek", message: "no KEK: give the configuration crypto: { kek } (or the task its own kek)" };
  if (input.tablePrefix !== undefined && input.tablePrefix !== tablePrefix) {
    return {
      path: "tablePrefix",
      message:
        "differs from the configuration's, where upkeep.crypto keeps its keyring: a keyring of the task's own needs the task's own kek",
    };
  }
  return undefined;
}

async function run(ctx: TaskContext, input: KeyRotationInput): Promise<KeyRotationResult> {
  const db = ctx.db;
  if (!db) throw new TaskError("key-rotation needs the configuration's db (the keyring lives in <prefix>keys)", { reason: "NO_DATABASE" });
  const issue = kekIssue(ctx.crypto, ctx.tablePrefix, input);
  if (issue) throw new TaskError(`${issue.path}: ${issue.message}`, { reason: "NO_KEK" });
  const crypto = input.kek
    ? createCrypto({
        db,
        kek: input.kek,
        previousKeks: input.previousKeks,
        tablePrefix: input.tablePrefix ?? ctx.tablePrefix,
        clock: () => ctx.now(),
        cacheFor: "1h",
      })
    : (ctx.crypto as UpkeepCrypto); // kekIssue made sure the configuration has one
  const log = ctx.logger;
  // Before anything is written or counted: the configured KEKs must unwrap the keyring's active key.
  await crypto.verifyKek().catch((error: unknown) => {
    if (!(error instanceof UpkeepError && error.code === "KEK_FAILED")) throw error;
    throw new TaskError(error.message, { reason: "WRONG_KEK" });
  });
  const before = await crypto.activeKey();
  const ageMs = before ? ctx.now().getTime() - before.createdAt.getTime() : Number.POSITIVE_INFINITY;
  const rotationDue = input.force || ageMs >= input.maxAgeDays * DAY_MS;
  const fernetCodecs = input.fernet.map((column) => multiFernet(fernetKeysOf(column)));

  if (ctx.dryRun) {
    const keyIds = (await crypto.keys()).map((key) => key.id);
    const columns: ColumnRotation[] = [];
    for (const column of input.columns) columns.push(columnOutcome(await countEnvelopeColumn(db, column, keyIds)));
    for (const column of input.fernet) columns.push(columnOutcome(await countFernetColumn(db, column, input.batchSize)));
    log.info({ rotationDue, activeKeyId: before?.id }, "[upkeep] key-rotation dry run: nothing was changed");
    return {
      dryRun: true,
      rotationDue,
      rotated: false,
      activeKeyId: before?.id,
      retired: [],
      columns,
      stopped: false,
      note: "dry run: nothing was changed",
    };
  }

  let active = before;
  if (rotationDue) {
    // The event commits with the new key: it exists exactly when the key became active.
    active = await crypto.rotate({
      within: (trx, key) =>
        ctx.emit({ type: "key-rotation.rotated", security: true, data: { keyId: key.id, previousKeyId: before?.id ?? null } }, { trx }),
    });
    log.info({ keyId: active.id, previousKeyId: before?.id, generation: active.generation }, "[upkeep] new data key is active");
  }
  const result: KeyRotationResult = {
    dryRun: false,
    rotationDue,
    rotated: rotationDue,
    activeKeyId: active?.id,
    retired: [],
    columns: [],
    stopped: false,
  };

  const report = (counts: ColumnKeyCounts, pass: PassResult) => {
    const outcome = columnOutcome(counts, pass);
    result.columns.push(outcome);
    const fields = { table: outcome.table, column: outcome.column, reencrypted: outcome.reencrypted, conflicts: outcome.conflicts };
    log.info({ ...fields, undecryptable: outcome.undecryptable }, "[upkeep] column re-encrypted");
    if (outcome.undecryptable > 0) {
      log.warn(
        { ...fields, undecryptable: outcome.undecryptable, ids: outcome.undecryptableIds },
        "[upkeep] rows failed to decrypt and were left as they are",
      );
      ctx.emit({
        type: "key-rotation.undecryptable",
        security: true,
        severity: "warning",
        data: { table: outcome.table, column: outcome.column, count: outcome.undecryptable, ids: outcome.undecryptableIds },
      });
    }
    if (pass.stopped) result.stopped = true;
  };

  if (active) {
    const keyIds = (await crypto.keys()).map((key) => key.id);
    for (const column of input.columns) {
      if (result.stopped) break;
      const pass = await rotateEnvelopeColumn(ctx, input, crypto, active.id, column);
      report(await countEnvelopeColumn(db, column, keyIds), pass);
    }
  }
  for (const [index, column] of input.fernet.entries()) {
    if (result.stopped) break;
    const pass = await rotateFernetColumn(ctx, input, fernetCodecs[index] as MultiFernet, column);
    report(await countFernetColumn(db, column, input.batchSize), pass);
  }

  // Retire only after a complete pass, and only keys no registered row names. A retired key keeps
  // its wrapped material, so a row a stale process writes with it later still decrypts and moves
  // on the next run.
  if (!result.stopped && active) {
    for (const key of await crypto.keys()) {
      if (key.status !== "old") continue;
      let used = false;
      for (const column of input.columns) {
        if (await keyInUse(db, column, key.id)) {
          used = true;
          break;
        }
      }
      if (used) continue;
      // The event commits with the retirement.
      const retired = await crypto.retire(key.id, {
        within: (trx) => ctx.emit({ type: "key-rotation.retired", data: { keyId: key.id } }, { trx }),
      });
      if (retired) {
        result.retired.push(key.id);
        log.info({ keyId: key.id }, "[upkeep] data key retired: no registered row uses it");
      }
    }
  }
  if (result.stopped) log.warn({}, "[upkeep] key-rotation stopped between batches; the next run continues");
  return result;
}

/**
 * The built-in `key-rotation` task: when the active data key is older than `maxAgeDays` (or there
 * is none) it adds a new one, then moves every registered column's rows to the active key in
 * resumable compare-and-set batches, rotates Fernet columns to their first key, and retires keys no
 * row uses.
 */
export function keyRotationTask(options: KeyRotationOptions): TaskDefinition<KeyRotationInput, KeyRotationResult> {
  const { id, schedule, timezone, ...input } = options ?? ({} as KeyRotationOptions);
  return defineTask({
    needsDb: true,
    id: id ?? "key-rotation",
    description: "Rotates the data-encryption key past its lifetime and re-encrypts registered columns",
    schedule: schedule ?? "20 0 * * *",
    timezone,
    input: keyRotationInput,
    defaultInput: input,
    run,
    // No database: the run says so. Otherwise a KEK problem stops start() before anything runs.
    verify: ({ db, crypto, tablePrefix, input }) => {
      const issue = db ? kekIssue(crypto, tablePrefix, input) : undefined;
      return issue ? [issue] : [];
    },
  });
}
