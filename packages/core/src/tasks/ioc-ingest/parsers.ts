import { splitCsvLine } from "./csv.ts";
import { type KindHint, normalise, refang } from "./normalise.ts";

/** Where parsers put what they find. The sink normalises, filters and counts. */
export interface ParseSink {
  /**
   * A raw candidate. `hint` narrows its kind; `validUntil` (epoch ms) is when the source says it
   * stops being valid; `revoked` marks a withdrawn indicator; `sample` is what an invalid
   * example shows (the whole line rather than its first token).
   */
  add(raw: string, hint?: KindHint, extra?: { validUntil?: number | null; revoked?: boolean; sample?: string }): void;
  /** A line or object that holds no usable indicator; `sample` may be kept as an example. */
  invalid(sample: string): void;
}

/** Feeds read one line at a time. */
export type LineFormat = "plain" | "firehol" | "spamhaus-drop" | "spamhaus-drop-json" | "csv" | "misp-freetext" | "misp-csv";
/** Feeds read as JSON documents. */
export type JsonFormat = "stix" | "misp-feed" | "taxii";
export type FeedFormat = LineFormat | JsonFormat;

export const LINE_FORMATS: readonly LineFormat[] = [
  "plain",
  "firehol",
  "spamhaus-drop",
  "spamhaus-drop-json",
  "csv",
  "misp-freetext",
  "misp-csv",
];
export const FEED_FORMATS: readonly FeedFormat[] = [...LINE_FORMATS, "stix", "misp-feed", "taxii"];

/** Column mapping of a `csv` feed. */
export interface CsvMapping {
  /** The indicator's column: a 0-based index or a header name. */
  column: number | string;
  /** The kind of every value in the column; detected per value when absent. */
  kind?: KindHint;
  /** @default "," */
  delimiter?: string;
  /**
   * Where column names come from when `column` is a name: the first data line (`"first-line"`) or
   * the last comment line before the data, as in abuse.ch exports (`"comment"`).
   * @default "comment"
   */
  header?: "first-line" | "comment";
  /** Lines starting with this are comments. @default "#" */
  comment?: string;
}

/** A stateful parser fed one line at a time. */
export interface LineParser {
  line(line: string): void;
}

function stripComment(line: string): string {
  for (let i = 0; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if ((code === 35 || code === 59) && (i === 0 || line.charCodeAt(i - 1) <= 32)) return line.slice(0, i);
  }
  return line;
}

function firstToken(text: string): string {
  let from = 0;
  while (from < text.length && text.charCodeAt(from) <= 32) from++;
  let to = from;
  while (to < text.length && text.charCodeAt(to) > 32) to++;
  return text.slice(from, to);
}

/** Plain lists, FireHOL netsets/ipsets and Spamhaus DROP text: the first token of each line, `#`/`;` comments. */
function plainParser(sink: ParseSink): LineParser {
  return {
    line(line) {
      const token = firstToken(stripComment(line));
      if (token) sink.add(token, undefined, { sample: line });
    },
  };
}

function spamhausJsonParser(sink: ParseSink): LineParser {
  return {
    line(line) {
      const text = line.trim();
      if (!text) return;
      let record: unknown;
      try {
        record = JSON.parse(text);
      } catch {
        sink.invalid(text);
        return;
      }
      const { cidr, type } = (record ?? {}) as { cidr?: unknown; type?: unknown };
      if (typeof cidr === "string") sink.add(cidr, "ip");
      else if (type !== "metadata") sink.invalid(text);
    },
  };
}

function csvParser(sink: ParseSink, mapping: CsvMapping): LineParser {
  const delimiter = mapping.delimiter ?? ",";
  const comment = mapping.comment ?? "#";
  const headerFrom = mapping.header ?? "comment";
  let index = typeof mapping.column === "number" ? mapping.column : -1;
  let lastComment: string | undefined;
  const resolve = (header: string) => {
    const names = splitCsvLine(header, delimiter).map((name) => name.toLowerCase());
    index = names.indexOf(String(mapping.column).toLowerCase());
  };
  return {
    line(line) {
      if (line.trim() === "") return;
      if (line.startsWith(comment)) {
        if (line.includes(delimiter)) lastComment = line.slice(comment.length);
        return;
      }
      if (index < 0) {
        if (headerFrom === "first-line") {
          resolve(line);
          if (index < 0) sink.invalid(line);
          return;
        }
        if (lastComment !== undefined) resolve(lastComment);
        if (index < 0) {
          sink.invalid(line);
          return;
        }
      }
      const value = splitCsvLine(line, delimiter)[index];
      if (value) sink.add(value, mapping.kind);
      else sink.invalid(line);
    },
  };
}

const FREETEXT_SPLIT = /[\s,;|"'<>]+/;
const TRIM_PUNCTUATION = /^[([{]+|[)\]}.:!?]+$/g;

function freetextParser(sink: ParseSink): LineParser {
  return {
    line(line) {
      const text = line.trim();
      if (!text || text.startsWith("#")) return;
      let found = false;
      for (const part of refang(text).split(FREETEXT_SPLIT)) {
        const token = part.replace(TRIM_PUNCTUATION, "");
        if (token && normalise(token)) {
          sink.add(token);
          found = true;
        }
      }
      if (!found) sink.invalid(text);
    },
  };
}

/** The MISP attribute types taken, with their kind; `a|b` types name which part holds what. */
const MISP_TYPES: Record<string, Array<KindHint | null>> = {
  "ip-src": ["ip"],
  "ip-dst": ["ip"],
  "ip-src|port": ["ip", null],
  "ip-dst|port": ["ip", null],
  domain: ["domain"],
  hostname: ["domain"],
  "domain|ip": ["domain", "ip"],
  "hostname|port": ["domain", null],
  url: ["url"],
  md5: ["hash"],
  sha1: ["hash"],
  sha256: ["hash"],
  sha512: ["hash"],
  "filename|md5": [null, "hash"],
  "filename|sha1": [null, "hash"],
  "filename|sha256": [null, "hash"],
  "filename|sha512": [null, "hash"],
};

function truthy(value: unknown): boolean {
  return value === true || value === 1 || (typeof value === "string" && /^(1|true)$/i.test(value.trim()));
}

/** Adds one MISP attribute when it is flagged for detection (`to_ids`) and of a type we take. */
export function addMispAttribute(sink: ParseSink, type: unknown, value: unknown, toIds: unknown, deleted?: unknown): void {
  if (!truthy(toIds) || truthy(deleted) || typeof type !== "string" || typeof value !== "string") return;
  const kinds = MISP_TYPES[type];
  if (!kinds) return;
  const parts = kinds.length > 1 ? value.split("|") : [value];
  kinds.forEach((hint, i) => {
    const part = parts[i];
    if (hint && part !== undefined) sink.add(part, hint);
  });
}

function mispCsvParser(sink: ParseSink): LineParser {
  let columns: { type: number; value: number; toIds: number } | undefined;
  return {
    line(line) {
      if (line.trim() === "") return;
      const fields = splitCsvLine(line);
      if (!columns) {
        const names = fields.map((name) => name.toLowerCase());
        columns = { type: names.indexOf("type"), value: names.indexOf("value"), toIds: names.indexOf("to_ids") };
        if (columns.type < 0 || columns.value < 0) {
          columns = undefined;
          sink.invalid(line);
        }
        return;
      }
      const toIds = columns.toIds < 0 ? "1" : fields[columns.toIds];
      addMispAttribute(sink, fields[columns.type], fields[columns.value], toIds);
    },
  };
}

/** A line parser for a line format. */
export function createLineParser(format: LineFormat, sink: ParseSink, csv?: CsvMapping): LineParser {
  switch (format) {
    case "plain":
    case "firehol":
    case "spamhaus-drop":
      return plainParser(sink);
    case "spamhaus-drop-json":
      return spamhausJsonParser(sink);
    case "csv":
      return csvParser(sink, csv ?? { column: 0 });
    case "misp-freetext":
      return freetextParser(sink);
    case "misp-csv":
      return mispCsvParser(sink);
  }
}

/** Splits decoded text chunks into lines (`\n` or `\r\n`), carrying a partial line between chunks. */
export class LineSplitter {
  #rest = "";
  constructor(readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    const text = this.#rest + chunk;
    let start = 0;
    for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
      const stop = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
      this.onLine(text.slice(start, stop));
      start = end + 1;
    }
    this.#rest = text.slice(start);
  }

  end(): void {
    if (this.#rest) this.onLine(this.#rest.endsWith("\r") ? this.#rest.slice(0, -1) : this.#rest);
    this.#rest = "";
  }
}

/** Parses a whole text of a line format, for tests and tools. */
export function parseLinesText(format: LineFormat, text: string, sink: ParseSink, csv?: CsvMapping): void {
  const parser = createLineParser(format, sink, csv);
  const splitter = new LineSplitter((line) => parser.line(line));
  splitter.push(text);
  splitter.end();
}
