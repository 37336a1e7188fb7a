export { type BullmqAdapter, type BullmqAdapterOptions, bullmqAdapter, type RedisConnection } from "./bullmq-adapter.ts";
