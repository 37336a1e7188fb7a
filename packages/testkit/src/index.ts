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
export {
  type StripeFault,
  type StripeServer,
  type StripeServerOptions,
  type StripeServerStats,
  type SubscriptionFixture,
  startStripeServer,
} from "./stripe-server.ts";
