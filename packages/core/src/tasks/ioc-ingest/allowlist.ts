import { parseIPv4, parseIPv6 } from "./ip.ts";
import { type Indicator, normalise } from "./normalise.ts";
import { IPv4Ranges, IPv6Ranges, ipv4Bounds, ipv6Bounds, type Span } from "./ranges.ts";
import { StringTable } from "./string-table.ts";

/** Ranges that are never listed: they are not the Internet, or listing them breaks it. */
export const BUILTIN_ALLOWLIST: readonly string[] = [
  // IPv4 special-purpose (RFC 6890 and friends)
  "0.0.0.0/8", // this network
  "10.0.0.0/8", // private
  "100.64.0.0/10", // CGNAT
  "127.0.0.0/8", // loopback
  "169.254.0.0/16", // link-local
  "172.16.0.0/12", // private
  "192.0.0.0/24", // IETF protocol assignments
  "192.0.2.0/24", // TEST-NET-1
  "192.168.0.0/16", // private
  "198.18.0.0/15", // benchmarking
  "198.51.100.0/24", // TEST-NET-2
  "203.0.113.0/24", // TEST-NET-3
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, broadcast
  // IPv6 special-purpose
  "::/128",
  "::1/128",
  "100::/64", // discard
  "2001:db8::/32", // documentation
  "fc00::/7", // unique local
  "fe80::/10", // link-local
  "ff00::/8", // multicast
  // Well-known public resolvers
  "8.8.8.8",
  "8.8.4.4",
  "1.1.1.1",
  "1.0.0.1",
  "9.9.9.9",
  "149.112.112.112",
  "208.67.222.222",
  "208.67.220.220",
  "94.140.14.14",
  "94.140.15.15",
  "2001:4860:4860::8888",
  "2001:4860:4860::8844",
  "2606:4700:4700::1111",
  "2606:4700:4700::1001",
  "2620:fe::fe",
  "2620:fe::9",
  "2620:119:35::35",
  "2620:119:53::53",
  "dns.google",
  "one.one.one.one",
  "cloudflare-dns.com",
  "dns.quad9.net",
];

function splitPrefix(value: string): [string, number | undefined] {
  const slash = value.indexOf("/");
  return slash < 0 ? [value, undefined] : [value.slice(0, slash), Number(value.slice(slash + 1))];
}

const words = new Uint32Array(4);

/** The inclusive bounds of a normalised address indicator. */
export function boundsOf(indicator: Indicator): { v4?: { start: number; end: number }; v6?: { start: bigint; end: bigint } } {
  const [address, prefix] = splitPrefix(indicator.value);
  if (indicator.kind === "ipv4") return { v4: ipv4Bounds(parseIPv4(address), prefix ?? 32) };
  parseIPv6(address, 0, address.length, words);
  return { v6: ipv6Bounds(words, prefix ?? 128) };
}

/** What must never be listed: a network overlapping an entry, a domain above or below one, an exact URL or hash. */
export class Allowlist {
  readonly #v4: IPv4Ranges;
  readonly #v6: IPv6Ranges;
  readonly #domains: StringTable;
  readonly #parents: Set<string>;
  readonly #exact: Set<string>;

  constructor(entries: readonly string[]) {
    const v4: Array<Span<number>> = [];
    const v6: Array<Span<bigint>> = [];
    const domains: string[] = [];
    this.#parents = new Set();
    this.#exact = new Set();
    for (const entry of entries) {
      const indicator = normalise(entry);
      if (!indicator) continue;
      if (indicator.kind === "ipv4" || indicator.kind === "ipv6") {
        const bounds = boundsOf(indicator);
        if (bounds.v4) v4.push({ start: bounds.v4.start, stop: bounds.v4.end + 1, id: 0 });
        if (bounds.v6) v6.push({ start: bounds.v6.start, stop: bounds.v6.end + 1n, id: 0 });
      } else if (indicator.kind === "domain") {
        domains.push(indicator.value);
        const labels = indicator.value.split(".");
        for (let i = 1; i < labels.length; i++) this.#parents.add(labels.slice(i).join("."));
      } else this.#exact.add(`${indicator.kind}:${indicator.value}`);
    }
    this.#v4 = new IPv4Ranges(v4);
    this.#v6 = new IPv6Ranges(v6);
    this.#domains = new StringTable(domains, true);
  }

  /** Whether listing this indicator would block something allowlisted. */
  covers(indicator: Indicator): boolean {
    switch (indicator.kind) {
      case "ipv4": {
        // Hot path (every listed IPv4): no intermediate objects.
        const value = indicator.value;
        const slash = value.indexOf("/");
        const start = parseIPv4(value, 0, slash < 0 ? value.length : slash);
        return this.#v4.overlaps(start, start + 2 ** (32 - (indicator.prefix ?? 32)) - 1) >= 0;
      }
      case "ipv6": {
        const { v6 } = boundsOf(indicator);
        return v6 !== undefined && this.#v6.overlaps(v6.start, v6.end) >= 0;
      }
      case "domain":
        return this.#domains.findSuffix(indicator.value, 0, indicator.value.length) >= 0 || this.#parents.has(indicator.value);
      default:
        return this.#exact.has(`${indicator.kind}:${indicator.value}`);
    }
  }
}
