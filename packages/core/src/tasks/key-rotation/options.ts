import * as z from "zod";
import { decodeFernetKey } from "../../crypto/fernet.ts";
import { type KekProvider, kekSchema } from "../../crypto/kek.ts";

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
const identifier = z.string().regex(IDENTIFIER, "expected a table or column name (letters, digits, '_', optionally schema.name)");

/** Builds a row's associated data from its primary key. */
export type AadFunction = (id: string | number) => string | Promise<string>;

const aadSchema = z.union([
  z.enum(["row", "none"]),
  z.custom<AadFunction>((value) => typeof value === "function", "expected 'row', 'none' or a function (id) => string"),
]);

const batchSize = z.number().int().min(1).max(10_000);

const columnSchema = z
  .object({
    /** The host's table holding the column (`schema.table` allowed). */
    table: identifier,
    /** The primary key column; batches walk it in order. */
    id: identifier.default("id"),
    /** The column holding `upkeep.crypto` ciphertexts. */
    column: identifier,
    /** The associated data the host encrypted with: `"row"`, `"none"` or a function of the row id. */
    aad: aadSchema.default("row"),
    /** Rows per batch for this column; absent, the task's `batchSize`. */
    batchSize: batchSize.optional(),
  })
  .strict();

const fernetKeys = z.union([
  z.array(z.string().refine((key) => decodeFernetKey(key) !== undefined, "expected a Fernet key: url-safe base64 of 32 bytes")).min(1),
  z.custom<() => string[]>(
    (value) => typeof value === "function",
    "expected a list of Fernet keys (primary first) or a function returning one",
  ),
]);

const fernetColumnSchema = z
  .object({
    /** The host's table holding the column (`schema.table` allowed). */
    table: identifier,
    /** The primary key column; batches walk it in order. */
    id: identifier.default("id"),
    /** The column holding Fernet tokens. */
    column: identifier,
    /** The MultiFernet key list, primary first, or a function reading it; rows move to the first key. */
    keys: fernetKeys,
    /** Rows per batch for this column; absent, the task's `batchSize`. */
    batchSize: batchSize.optional(),
  })
  .strict();

/** The key-rotation task's input: its options without `id`, `schedule` and `timezone`. */
export const keyRotationInput = z
  .object({
    /** The key-encryption key wrapping new data keys; absent, the configuration's `crypto` keyring is used. */
    kek: kekSchema.optional(),
    /** Former KEKs that still wrap some data keys (only with the task's own `kek`). */
    previousKeks: z.array(kekSchema).default([]),
    /** Where `<prefix>keys` lives; absent, the configuration's `tablePrefix`. */
    tablePrefix: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,30}$/i, "expected letters, digits and '_', starting with a letter")
      .optional(),
    /** Age in days after which the active data key is replaced. */
    maxAgeDays: z.number().positive().max(3650).default(30),
    /** Columns written with `upkeep.crypto.encrypt`, re-encrypted under the active data key. */
    columns: z.array(columnSchema).default([]),
    /** Fernet columns rotated to their first key. */
    fernet: z.array(fernetColumnSchema).default([]),
    /** Rows per batch; each batch is one short transaction. */
    batchSize: batchSize.default(500),
    /** Whether to make a new data key now, whatever the active key's age. */
    force: z.boolean().default(false),
    /** Most undecryptable row ids listed per column in the result (all are counted). */
    reportLimit: z.number().int().min(0).max(10_000).default(100),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (!input.kek && input.previousKeks.length > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["previousKeks"],
        message: "without the task's own kek the task uses the configuration's crypto: put former KEKs in crypto.previousKeks",
      });
    }
  });

/** The key-rotation task's input after validation, its defaults filled in. */
export type KeyRotationInput = z.output<typeof keyRotationInput>;
export type EncryptedColumn = KeyRotationInput["columns"][number];
export type FernetColumn = KeyRotationInput["fernet"][number];

/** A column encrypted with `upkeep.crypto`. */
export interface EncryptedColumnOptions {
  /** The host's table holding the column (`schema.table` allowed). */
  table: string;
  /** The primary key column; batches walk it in order. @default "id" */
  id?: string;
  /** The column holding `upkeep.crypto` ciphertexts. */
  column: string;
  /**
   * The associated data the host encrypted with: `"row"` is `rowAad(table, column, id)`, `"none"`
   * is no associated data, or a function of the row id.
   * @default "row"
   */
  aad?: "row" | "none" | AadFunction;
  /** Rows per batch for this column. @default the task's batchSize */
  batchSize?: number;
}

/** A column of Fernet tokens (such as TOTP secrets written by a Python service). */
export interface FernetColumnOptions {
  /** The host's table holding the column (`schema.table` allowed). */
  table: string;
  /** The primary key column; batches walk it in order. @default "id" */
  id?: string;
  /** The column holding Fernet tokens. */
  column: string;
  /**
   * The MultiFernet key list, primary first, as every process using the column has it (or a
   * function reading it, such as from the environment). Rows move to the first key.
   */
  keys: string[] | (() => string[]);
  /** Rows per batch for this column. @default the task's batchSize */
  batchSize?: number;
}

/** Options of `keyRotationTask`. */
export interface KeyRotationOptions {
  /** Task id. @default "key-rotation" */
  id?: string;
  /** @default "20 0 * * *" */
  schedule?: string;
  /** The IANA time zone of the schedule. @default the configuration's timezone */
  timezone?: string;
  /**
   * The key-encryption key that wraps new data keys. Leave it out to use the configuration's
   * `crypto` (its `kek` and `previousKeks`), the same keyring `upkeep.crypto` uses. Given, it must
   * be the configuration's `crypto.kek` when the configuration has one.
   * @default the configuration's `crypto.kek`
   */
  kek?: KekProvider;
  /** Former KEKs that still wrap some data keys; only with the task's own `kek`. @default [] */
  previousKeks?: KekProvider[];
  /** Where `<prefix>keys` lives. @default the configuration's tablePrefix */
  tablePrefix?: string;
  /** A data key older than this is replaced. @default 30 */
  maxAgeDays?: number;
  /** Columns written with `upkeep.crypto.encrypt`. @default [] */
  columns?: EncryptedColumnOptions[];
  /** Fernet columns rotated to their first key. @default [] */
  fernet?: FernetColumnOptions[];
  /** Rows per batch; each batch is one short transaction. @default 500 */
  batchSize?: number;
  /** Make a new data key now, whatever the active key's age (`upkeep keys rotate`). @default false */
  force?: boolean;
  /** Most undecryptable row ids listed per column in the result (all are counted). @default 100 */
  reportLimit?: number;
}
