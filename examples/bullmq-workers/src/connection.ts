import { Redis } from "ioredis";

// BullMQ workers block on Redis: their connection needs maxRetriesPerRequest: null.
export const connection = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
