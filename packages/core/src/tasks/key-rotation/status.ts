import type { Knex } from "knex";
import { envelopePrefix, KEY_ID } from "../../crypto/envelope.ts";
import { multiFernet } from "../../crypto/fernet.ts";
import { type KeyInfo, keyInfo, keyringTable } from "../../crypto/keyring.ts";
import type { EncryptedColumn, FernetColumn } from "./options.ts";
import { startsWith } from "./sql.ts";

const DAY_MS = 86_400_000;

/** Rows of one column per key: key id (or Fernet key index) → rows, plus rows no key accounts for. */
export interface ColumnKeyCounts {
  /** The host's table. */
  table: string;
  /** The encrypted column. */
  column: string;
  /** How the column is encrypted: `upkeep.crypto` envelopes or Fernet tokens. */
  kind: "envelope" | "fernet";
  /** Non-empty rows per key id (for Fernet, per key's position in the list). */
  rowsByKey: Record<string, number>;
  /** Non-empty rows that name no key in the keyring (envelope) or that no Fernet key signed. */
  unrecognised: number;
}

/**
 * Counts a column's rows per data key in one scan (`sum(case when … like 'upk1:<id>:%')`), without
 * reading a single ciphertext into the process.
 */
export async function countEnvelopeColumn(db: Knex, column: EncryptedColumn, keyIds: readonly string[]): Promise<ColumnKeyCounts> {
  const ids = keyIds.filter((id) => KEY_ID.test(id));
  const select = [db.raw("count(*) as ??", ["total"])];
  ids.forEach((id, index) => {
    const match = startsWith(db, column.column, envelopePrefix(id));
    select.push(db.raw(`sum(case when ${match.sql} then 1 else 0 end) as ??`, [...match.bindings, `k${index}`]));
  });
  const row = (await db(column.table).whereNotNull(column.column).first(select)) as Record<string, unknown> | undefined;
  const rowsByKey: Record<string, number> = {};
  let known = 0;
  ids.forEach((id, index) => {
    const n = Number(row?.[`k${index}`] ?? 0);
    if (n > 0) rowsByKey[id] = n;
    known += n;
  });
  return { table: column.table, column: column.column, kind: "envelope", rowsByKey, unrecognised: Number(row?.total ?? 0) - known };
}

/** Whether any row of the column still uses the key (stops at the first). */
export async function keyInUse(db: Knex, column: EncryptedColumn, keyId: string): Promise<boolean> {
  const match = startsWith(db, column.column, envelopePrefix(keyId));
  const row = await db(column.table).whereRaw(match.sql, match.bindings).first(column.id);
  return row !== undefined;
}

/** The Fernet key list of a column, read now. */
export function fernetKeysOf(column: FernetColumn): string[] {
  return typeof column.keys === "function" ? column.keys() : column.keys;
}

/** Counts a Fernet column's rows per key index (0 is the primary) by checking each token's HMAC, in batches. */
export async function countFernetColumn(db: Knex, column: FernetColumn, batchSize = 1000): Promise<ColumnKeyCounts> {
  const codec = multiFernet(fernetKeysOf(column));
  const rowsByKey: Record<string, number> = {};
  let unrecognised = 0;
  let cursor: unknown;
  for (;;) {
    let query = db(column.table)
      .whereNotNull(column.column)
      .select({ id: column.id, value: column.column })
      .orderBy(column.id)
      .limit(batchSize);
    if (cursor !== undefined) query = query.where(column.id, ">", cursor as Knex.Value);
    const rows = (await query) as Array<{ id: unknown; value: unknown }>;
    if (rows.length === 0) break;
    cursor = rows[rows.length - 1]?.id;
    for (const row of rows) {
      const index = codec.keyIndexOf(String(row.value));
      if (index < 0) unrecognised++;
      else rowsByKey[String(index)] = (rowsByKey[String(index)] ?? 0) + 1;
    }
  }
  return { table: column.table, column: column.column, kind: "fernet", rowsByKey, unrecognised };
}

/** What `upkeep keys status` shows. */
export interface KeysStatus {
  /** The active data key, its age in days and when it is due for rotation. */
  active:
    | (KeyInfo & {
        /** Days since the key was made. */
        ageDays: number;
        /** When the key passes `maxAgeDays`. */
        dueAt: Date;
        /** Whether `dueAt` has passed. */
        due: boolean;
      })
    | undefined;
  /** Every key of the keyring, whatever its status. */
  keys: KeyInfo[];
  /** Row counts per key of each registered column. */
  columns: ColumnKeyCounts[];
}

/** Options of `keysStatus`: the keyring's database and the columns to count rows of. */
export interface KeysStatusOptions {
  /** The host's knex instance holding `<prefix>keys` and the registered columns. */
  db: Knex;
  /** Where `<prefix>keys` lives. @default "upkeep_" */
  tablePrefix?: string;
  /** Envelope-encrypted columns whose rows are counted per data key. @default [] */
  columns?: readonly EncryptedColumn[];
  /** Fernet columns whose rows are counted per key. @default [] */
  fernet?: readonly FernetColumn[];
  /** Age in days after which the active key is due. @default 30 */
  maxAgeDays?: number;
  /** The moment ages are measured at. @default new Date() */
  now?: Date;
}

/** The keyring and the rows per key per registered column. Needs no KEK: nothing is decrypted. */
export async function keysStatus(options: KeysStatusOptions): Promise<KeysStatus> {
  const now = options.now ?? new Date();
  const stored = await keyringTable(options.db, options.tablePrefix ?? "upkeep_").load();
  const keys = stored.map(keyInfo);
  const activeKey = keys.find((key) => key.status === "active");
  const maxAgeMs = (options.maxAgeDays ?? 30) * DAY_MS;
  const columns: ColumnKeyCounts[] = [];
  for (const column of options.columns ?? []) {
    columns.push(
      await countEnvelopeColumn(
        options.db,
        column,
        keys.map((key) => key.id),
      ),
    );
  }
  for (const column of options.fernet ?? []) columns.push(await countFernetColumn(options.db, column));
  const active = activeKey && {
    ...activeKey,
    ageDays: Math.floor((now.getTime() - activeKey.createdAt.getTime()) / DAY_MS),
    dueAt: new Date(activeKey.createdAt.getTime() + maxAgeMs),
    due: now.getTime() - activeKey.createdAt.getTime() >= maxAgeMs,
  };
  return { active, keys, columns };
}
