import type { Matcher } from "@upkeep/core";
import type { NextFunction, Request, Response } from "express";

/**
 * Express middleware answering 403 to a client whose address a live indicator covers. Set Express's
 * `trust proxy` so `req.ip` is the real client behind your load balancer. The lookup is in memory
 * and allocates nothing, so it can sit in front of every route.
 */
export function blocklist(matcher: Matcher) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const address = req.ip ?? req.socket.remoteAddress;
    const hit = address === undefined ? undefined : matcher.matchIp(address);
    if (!hit) {
      next();
      return;
    }
    res.status(403).json({ error: "forbidden", reason: "client address is on a threat-intelligence blocklist" });
  };
}
