/**
 * Test helpers: throwaway databases, the adapter conformance suite, local Stripe and npm registry servers.
 * @module @upkeep/testkit
 */
export { type AdapterCase, type AdapterSuiteContext, type TestAdapterOptions, testAdapter } from "./adapter-suite.ts";
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
  type AdvisoryFixture,
  type RegistryFault,
  type RegistryFaultMatch,
  type RegistryPackageFixture,
  type RegistryServer,
  type RegistryServerOptions,
  type RegistryServerStats,
  type RegistryVersionFixture,
  startRegistryServer,
} from "./registry-server.ts";
export { type OracleRun, type RunOracle, runOracle } from "./run-oracle.ts";
export {
  customerObject,
  type InvoiceFixture,
  invoiceObject,
  type PriceFixture,
  periodsOnItems,
  priceObject,
  type SubscriptionFixture,
  type SubscriptionShape,
  subscriptionObject,
} from "./stripe-objects.ts";
export { type Collection, type ScenarioBase, type StripeScenarios, stripeScenarios } from "./stripe-scenarios.ts";
export {
  type StripeFault,
  type StripeFaultMatch,
  type StripeServer,
  type StripeServerOptions,
  type StripeServerStats,
  startStripeServer,
} from "./stripe-server.ts";
