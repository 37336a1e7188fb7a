export { type BullmqAdapter, type BullmqAdapterOptions, bullmqAdapter } from "./bullmq-adapter.ts";
