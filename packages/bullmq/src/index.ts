/**
 * The distributed adapter on BullMQ job schedulers and workers.
 * @module @upkeep/bullmq
 */
export { type BullmqAdapter, type BullmqAdapterOptions, bullmqAdapter, type RedisConnection } from "./bullmq-adapter.ts";
