export { type CronerAdapter, type CronerAdapterOptions, cronerAdapter } from "./croner-adapter.ts";
