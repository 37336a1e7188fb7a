/**
 * The in-process adapter on croner.
 * @module @upkeep/croner
 */
export { type CronerAdapter, type CronerAdapterOptions, cronerAdapter } from "./croner-adapter.ts";
