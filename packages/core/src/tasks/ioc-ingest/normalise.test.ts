import { describe, expect, it } from "vitest";
import { Allowlist, BUILTIN_ALLOWLIST } from "./allowlist.ts";
import { normalise, refang } from "./normalise.ts";

const value = (raw: string, hint?: Parameters<typeof normalise>[1]) => {
  const indicator = normalise(raw, hint);
  return indicator && `${indicator.kind} ${indicator.value}`;
};

describe("normalise", () => {
  it.each([
    ["1.2.3.4", "ipv4 1.2.3.4"],
    ["001.002.003.004", "ipv4 1.2.3.4"],
    ["010.0.0.1", "ipv4 10.0.0.1"],
    // One leading-zero rule for IPs and URL hosts (issue 21 item 10): padding, read as decimal.
    ["010.1.1.1", "ipv4 10.1.1.1"],
    ["http://010.1.1.1/", "url http://10.1.1.1/"],
    ["HTTP://user@001.002.003.004:8080/x?y=010.1.1.1", "url http://user@1.2.3.4:8080/x?y=010.1.1.1"],
    ["http://0x0a.1.1.1/", "url http://10.1.1.1/"],
    ["1.2.3.4/32", "ipv4 1.2.3.4"],
    ["10.1.2.3/8", "ipv4 10.0.0.0/8"],
    ["192.168.1.77/24", "ipv4 192.168.1.0/24"],
    ["::ffff:1.2.3.4", "ipv4 1.2.3.4"],
    ["::ffff:0102:0304", "ipv4 1.2.3.4"],
    ["::FFFF:1.2.3.0/120", "ipv4 1.2.3.0/24"],
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "ipv6 2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "ipv6 2001:db8::1:0:0:1"],
    ["2001:db8::1/32", "ipv6 2001:db8::/32"],
    ["2001:db8:ffff::/33", "ipv6 2001:db8:8000::/33"],
    ["fe80::1%eth0", "ipv6 fe80::1"],
    ["[2a06:e480::5]", "ipv6 2a06:e480::5"],
    ["::", "ipv6 ::"],
    ["0:0:0:0:0:0:0:1", "ipv6 ::1"],
    ["1:0:0:2:0:0:0:3", "ipv6 1:0:0:2::3"],
    ["EXAMPLE.Com.", "domain example.com"],
    ["BÜCHER.example", "domain xn--bcher-kva.example"],
    ["xn--bcher-kva.example", "domain xn--bcher-kva.example"],
    ["*.evil.example", "domain evil.example"],
    ["_dmarc.example.com", "domain _dmarc.example.com"],
    ["HTTP://Example.COM:80/a/../b?q=1#frag", "url http://example.com/b?q=1"],
    ["https://BÜCHER.example/Path", "url https://xn--bcher-kva.example/Path"],
    ["D41D8CD98F00B204E9800998ECF8427E", "md5 d41d8cd98f00b204e9800998ecf8427e"],
    ["da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709"],
  ])("normalises %s", (raw, expected) => {
    expect(value(raw)).toBe(expected);
  });

  it.each([
    "1.2.3.256",
    "1.2.3",
    "1.2.3.4/33",
    "1.2.3.4/-1",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "12345::",
    "localhost",
    "a..b",
    "exa mple.com",
    "1.2.3.4.5",
    "mailto:a@example.com",
    "d41d8cd98f00b204e9800998ecf8427",
    "",
  ])("counts %j as invalid", (raw) => {
    expect(normalise(raw)).toBeUndefined();
  });

  it("adds a scheme to a hinted URL without one", () => {
    expect(value("example.com/x", "url")).toBe("url http://example.com/x");
  });

  it("does not read an IP where the format says domain", () => {
    expect(value("1.2.3.4", "domain")).toBeUndefined();
  });

  it("refangs defanged indicators", () => {
    expect(refang("hxxps://evil[.]example(.)com[/]x and 1.2.3[.]4 hxxp[:]//a[dot]b")).toBe(
      "https://evil.example.com[/]x and 1.2.3.4 http://a.b",
    );
  });
});

describe("allowlist", () => {
  const allowlist = new Allowlist([...BUILTIN_ALLOWLIST, "corp.example", "45.143.0.0/16"]);
  const covers = (raw: string) => allowlist.covers(normalise(raw) ?? { kind: "domain", value: "" });

  it.each([
    "10.1.2.3",
    "172.20.0.0/16",
    "192.168.0.0/16",
    "127.0.0.1",
    "169.254.1.1",
    "100.64.5.5",
    "224.0.0.251",
    "198.51.100.7",
    "8.8.8.8",
    "8.8.8.0/24",
    "1.1.1.1",
    "::1",
    "fe80::1",
    "fd00::1",
    "2001:db8::/48",
    "2606:4700:4700::1111",
    "dns.google",
    "corp.example",
    "vpn.corp.example",
    "45.143.203.3",
  ])("never lists %s", (raw) => {
    expect(covers(raw)).toBe(true);
  });

  it("refuses a parent of an allowlisted domain and a network containing an allowlisted one", () => {
    expect(allowlist.covers({ kind: "domain", value: "example" })).toBe(true);
    expect(covers("8.0.0.0/8")).toBe(true);
  });

  it.each(["45.155.205.233", "evil.example", "2a06:e480::1", "9.9.9.10"])("lets %s through", (raw) => {
    expect(covers(raw)).toBe(false);
  });
});
