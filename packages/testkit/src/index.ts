export {
  createTestDatabase,
  DIALECTS,
  type Dialect,
  type DialectStatus,
  isCI,
  knexConfig,
  probeDialects,
  SERVICE_URLS,
  serviceKnex,
  type TestDatabase,
} from "./databases.ts";
