import { splitCsvLine } from "./csv.ts";
import { type KindHint, MAX_URL_LENGTH, normalise, refang } from "./normalise.ts";

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
/** A feed's format: `format` of an ioc-ingest feed. */
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
  /** The field separator, one character. @default "," */
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

/**
 * A stateful parser fed one line at a time. A line whose work grows with its number of tokens
 * returns an iterator of steps, each a bounded slice of that work: a caller runs it to the end,
 * free to give the event loop a turn between steps.
 */
export interface LineParser {
  line(line: string): Iterator<unknown> | undefined;
}

/** Runs a line's steps, if any, to the end. */
function runSteps(steps: Iterator<unknown> | undefined): void {
  if (steps) while (!steps.next().done);
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
      return undefined;
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
      return undefined;
    },
  };
}

function csvParser(sink: ParseSink, mapping: CsvMapping): LineParser {
  const delimiter = mapping.delimiter ?? ",";
  const comment = mapping.comment ?? "#";
  const headerFrom = mapping.header ?? "comment";
  let index = typeof mapping.column === "number" ? mapping.column : -1;
  let lastComment: string | undefined;
  let resolvedFrom: string | undefined;
  const resolve = (header: string) => {
    // Each header is split once, whatever the number of data lines that follow it.
    if (header === resolvedFrom) return;
    resolvedFrom = header;
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
      return undefined;
    },
  };
}

/** Characters that separate free-text tokens: whitespace, `,;|"'<>`. */
function isSeparator(code: number): boolean {
  return code <= 32 || code === 44 || code === 59 || code === 124 || code === 34 || code === 39 || code === 60 || code === 62;
}

/** `(`, `[`, `{` before a token and `)]}.:!?` after it are punctuation, not part of it. */
function isOpening(code: number): boolean {
  return code === 40 || code === 91 || code === 123;
}

function isClosing(code: number): boolean {
  return code === 41 || code === 93 || code === 125 || code === 46 || code === 58 || code === 33 || code === 63;
}

/** The longest free-text token tried as an indicator (twice the URL cap); longer ones are skipped. */
export const MAX_TOKEN_LENGTH = MAX_URL_LENGTH * 2;

/** Tokens read between two steps of a free-text line. */
const TOKENS_PER_STEP = 64;

function* freetextTokens(sink: ParseSink, text: string): Generator<void> {
  const refanged = refang(text);
  let found = false;
  let tokens = 0;
  let at = 0;
  while (at < refanged.length) {
    while (at < refanged.length && isSeparator(refanged.charCodeAt(at))) at++;
    let end = at;
    while (end < refanged.length && !isSeparator(refanged.charCodeAt(end))) end++;
    let from = at;
    let to = end;
    at = end;
    if (to - from > MAX_TOKEN_LENGTH) continue;
    while (from < to && isOpening(refanged.charCodeAt(from))) from++;
    while (to > from && isClosing(refanged.charCodeAt(to - 1))) to--;
    if (from === to) continue;
    const token = refanged.slice(from, to);
    if (normalise(token)) {
      sink.add(token);
      found = true;
    }
    if (++tokens % TOKENS_PER_STEP === 0) yield;
  }
  if (!found) sink.invalid(text);
}

function freetextParser(sink: ParseSink): LineParser {
  return {
    line(line) {
      const text = line.trim();
      if (!text || text.startsWith("#")) return undefined;
      return freetextTokens(sink, text);
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
      return undefined;
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

/** The longest line read, in characters; longer lines are counted invalid and skipped. */
export const DEFAULT_MAX_LINE_LENGTH = 65_536;
/** Characters of a line an invalid example keeps. */
const SAMPLE_LENGTH = 120;

/**
 * Splits decoded text chunks into lines (`\n` or `\r\n`), carrying a partial line between chunks.
 * Linear in the text: a partial line is kept as a list of pieces, joined once, and a line longer
 * than `maxLength` is dropped as soon as it passes the cap (only its start is kept, as the sample
 * handed to `onOverlong`), so memory stays bounded by the cap whatever the line's length.
 */
export class LineSplitter {
  #pieces: string[] = [];
  #length = 0;
  #overlong: string | undefined;
  constructor(
    readonly onLine: (line: string) => void,
    readonly maxLength = DEFAULT_MAX_LINE_LENGTH,
    readonly onOverlong: (sample: string) => void = () => {},
  ) {}

  push(chunk: string): void {
    let start = 0;
    for (let end = chunk.indexOf("\n"); end >= 0; end = chunk.indexOf("\n", start)) {
      this.#take(chunk, start, end);
      this.#finish();
      start = end + 1;
    }
    if (start < chunk.length) this.#take(chunk, start, chunk.length);
  }

  end(): void {
    if (this.#length > 0 || this.#overlong !== undefined) this.#finish();
  }

  #take(chunk: string, from: number, to: number): void {
    if (this.#overlong !== undefined || to === from) return;
    // One more than the cap leaves room for the `\r` of a `\r\n` line.
    if (this.#length + (to - from) > this.maxLength + 1) {
      const head = this.#pieces.join("");
      this.#overlong = (head + chunk.slice(from, Math.min(to, from + SAMPLE_LENGTH))).slice(0, SAMPLE_LENGTH);
      this.#pieces = [];
      this.#length = 0;
      return;
    }
    this.#pieces.push(chunk.slice(from, to));
    this.#length += to - from;
  }

  #finish(): void {
    const overlong = this.#overlong;
    let line = this.#pieces.length === 1 ? (this.#pieces[0] as string) : this.#pieces.join("");
    this.#pieces = [];
    this.#length = 0;
    this.#overlong = undefined;
    if (overlong !== undefined) {
      this.onOverlong(overlong);
      return;
    }
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.length > this.maxLength) this.onOverlong(line.slice(0, SAMPLE_LENGTH));
    else this.onLine(line);
  }
}

/** How a line feed is read. */
export interface LineReadOptions {
  csv?: CsvMapping;
  /** Longest line, in characters; a longer line is counted invalid and skipped. @default 65536 */
  maxLineLength?: number;
  /** Awaited after each chunk of the source, for backpressure. */
  drain?: () => Promise<void>;
}

/** Text handed to the splitter at once; the event loop is given a turn between slices when due. */
const SLICE_CHARS = 8192;
/** Longest stretch of parsing between two turns of the event loop. */
const YIELD_AFTER_MS = 10;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A pause to await between slices of synchronous parsing: it gives the event loop a turn once
 * `YIELD_AFTER_MS` of work has passed since the last one, and otherwise resolves at once.
 */
export function createPacer(): () => Promise<void> {
  let turn = performance.now();
  return async () => {
    if (performance.now() - turn < YIELD_AFTER_MS) return;
    await nextTurn();
    turn = performance.now();
  };
}

/**
 * Parses a line feed from a stream of bytes (UTF-8) or decoded text. Never holds more than one
 * line (bounded by `maxLineLength`) and one chunk, and yields to the event loop every few
 * milliseconds, so no input blocks the host for long.
 */
export async function parseLineStream(
  format: LineFormat,
  source: AsyncIterable<Uint8Array | string>,
  sink: ParseSink,
  options: LineReadOptions = {},
): Promise<void> {
  const parser = createLineParser(format, sink, options.csv);
  const lines: string[] = [];
  const splitter = new LineSplitter(
    (line) => lines.push(line),
    options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH,
    (sample) => sink.invalid(sample),
  );
  const decoder = new TextDecoder();
  const pause = createPacer();
  const parse = async () => {
    for (const line of lines) {
      const steps = parser.line(line);
      if (steps) while (!steps.next().done) await pause();
      await pause();
    }
    lines.length = 0;
  };
  const feed = async (text: string) => {
    for (let at = 0; at < text.length; at += SLICE_CHARS) {
      splitter.push(at === 0 && text.length <= SLICE_CHARS ? text : text.slice(at, at + SLICE_CHARS));
      await parse();
    }
  };
  for await (const chunk of source) {
    await feed(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
    await options.drain?.();
  }
  await feed(decoder.decode());
  splitter.end();
  await parse();
}

/** Parses a whole text of a line format, for tests and tools. */
export function parseLinesText(format: LineFormat, text: string, sink: ParseSink, csv?: CsvMapping): void {
  const parser = createLineParser(format, sink, csv);
  const splitter = new LineSplitter(
    (line) => runSteps(parser.line(line)),
    DEFAULT_MAX_LINE_LENGTH,
    (sample) => sink.invalid(sample),
  );
  splitter.push(text);
  splitter.end();
}
