import { createCrypto, fernet, keyRotationTask, keysStatus, localKek, migrate, rowAad } from "@upkeep/core";
import type { Knex } from "knex";
import type { DemoScenario } from "../scenario.ts";

// DEMO ONLY: a fixed, public key-encryption key so the demo runs anywhere. A real host reads its
// KEK from the environment (envKek("UPKEEP_KEK")) or a KMS, and never commits one.
const kek = localKek("0000000000000000000000000000000000000000000000000000000000000001");
// DEMO ONLY as well: two fixed Fernet keys, the old one and the new primary.
const OLD_FERNET = "ZGVtby1vbGQtZmVybmV0LWtleS0zMi1ieXRlcy0hISE=";
const NEW_FERNET = "ZGVtby1uZXctZmVybmV0LWtleS0zMi1ieXRlcy0hISE=";

const columns = [{ table: "demo_api_keys", column: "secret" }];
const fernetColumns = [{ table: "demo_totp", id: "id", column: "totp_secret", keys: [NEW_FERNET, OLD_FERNET], batchSize: 500 }];
let before = "";

async function rowsPerKey(db: Knex): Promise<string> {
  const status = await keysStatus({ db, columns: columns.map((c) => ({ ...c, id: "id", aad: "row" as const })), fernet: fernetColumns });
  return status.columns
    .map((column) => {
      const counts = Object.entries(column.rowsByKey).map(([key, n]) => {
        const label = column.kind === "fernet" ? `fernet key #${key}` : `key ${key} (${status.keys.find((k) => k.id === key)?.status})`;
        return `${label}: ${n}`;
      });
      return `    ${column.table}.${column.column}: ${counts.join(", ") || "no rows"}`;
    })
    .join("\n");
}

export const keyRotation: DemoScenario = {
  title: "key-rotation: a 40-day-old data key replaced, secrets re-encrypted, Fernet TOTP secrets moved to the new key",
  async seed(db, now) {
    await migrate(db, "upkeep_");
    await db.schema.createTable("demo_api_keys", (table) => {
      table.increments("id");
      table.text("secret");
    });
    await db.schema.createTable("demo_totp", (table) => {
      table.increments("id");
      table.string("totp_secret", 512);
    });
    // The keyring's first key is made "40 days ago" through an injected clock.
    const past = new Date(now.getTime() - 40 * 86_400_000);
    const crypto = createCrypto({ db, kek, clock: () => past });
    for (let id = 1; id <= 5; id++) {
      await db("demo_api_keys").insert({
        id,
        secret: await crypto.encrypt(`sk_demo_${id}`, { aad: rowAad("demo_api_keys", "secret", id) }),
      });
    }
    const python = fernet(OLD_FERNET);
    for (let id = 1; id <= 3; id++) await db("demo_totp").insert({ id, totp_secret: python.encrypt(`JBSWY3DPEHPK3PX${id}`, past) });
    before = await rowsPerKey(db);
  },
  tasks: () => [{ task: keyRotationTask({ kek, columns, fernet: fernetColumns }) }],
  async show(db) {
    console.log(`  rows per key before:\n${before}`);
    console.log(`  rows per key after:\n${await rowsPerKey(db)}`);
  },
};
