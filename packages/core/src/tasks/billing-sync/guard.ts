import type { BillingSyncInput } from "./options.ts";

/** The mass-downgrade guard's verdict, kept in the run result. */
export interface GuardVerdict {
  /** Downgrades the run planned. */
  downgrades: number;
  /** Accounts on a plan other than the free plan, the base of `maxDowngradeShare`. */
  paidAccounts: number;
  /** The most downgrades the guard lets through. */
  allowed: number;
  /** Whether the planned downgrades exceed `allowed`. */
  tripped: boolean;
  /** Whether `force` let a tripped guard through. */
  forced: boolean;
}

/**
 * Judges the planned downgrades: at most `maxDowngradeShare` of the paid accounts (but always at
 * least one) and at most `maxDowngrades`. A wrong key, a test-mode key or a plan map typo shows up
 * as a wave of downgrades; this is what stops it.
 */
export function judgeDowngrades(downgrades: number, paidAccounts: number, guard: BillingSyncInput["guard"], force: boolean): GuardVerdict {
  let allowed = Math.max(1, Math.floor(guard.maxDowngradeShare * paidAccounts));
  if (guard.maxDowngrades !== undefined) allowed = Math.min(allowed, guard.maxDowngrades);
  const tripped = downgrades > allowed;
  return { downgrades, paidAccounts, allowed, tripped, forced: tripped && force };
}
