import { Tokenizer, TokenParser, TokenType } from "@streamparser/json";
import { FeedFetchError } from "./fetch.ts";
import { createPacer } from "./parsers.ts";

/** Bytes handed to the JSON parser at once; the event loop gets a turn between slices when due. */
const SLICE_BYTES = 16 * 1024;
/** Strings are decoded in pieces of this many bytes, so a long one is not decoded in one go at its end. */
const STRING_BUFFER_BYTES = 64 * 1024;
/**
 * Deepest nesting of objects and arrays accepted. STIX, TAXII and MISP documents nest a few levels;
 * the parser's work per level grows with the depth, so a crafted document nested a million deep
 * would otherwise cost seconds.
 */
export const MAX_JSON_DEPTH = 64;

/** A value the stream parser found at one of the requested paths. */
export interface JsonHit {
  value: unknown;
  /** Its key in its parent: an array index or a property name. */
  key: string | number | undefined;
  /** The property name of its parent container in the grandparent (`Attribute` for `$.Event.Attribute.*`). */
  parentKey: string | number | undefined;
}

export interface JsonStreamOptions {
  /** What the document is, for the error (`the STIX bundle`). */
  what: string;
  /** Awaited after each chunk of the source, for backpressure. */
  drain?: () => Promise<void>;
}

/**
 * Parses a JSON document from a stream of bytes and hands over each value at `paths` (a subset of
 * JSONPath: `$.objects.*`, `$.more`) as soon as it is complete; the parser drops what it has handed
 * over, so memory holds one such value and the path to it, whatever the document's size. Parsing
 * runs in slices with turns of the event loop between them. A document that is not valid JSON,
 * stops short or nests deeper than `MAX_JSON_DEPTH` fails the feed (values handed over before the
 * error were only staged, and the staging is dropped).
 */
export async function parseJsonStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  paths: string[],
  onValue: (hit: JsonHit) => void,
  options: JsonStreamOptions,
): Promise<void> {
  const tokenizer = new Tokenizer({ stringBufferSize: STRING_BUFFER_BYTES });
  const tokens = new TokenParser({ paths, keepStack: false });
  let failure: string | undefined;
  let depth = 0;
  let empty = true;
  tokenizer.onToken = (token) => {
    empty = false;
    if (token.token === TokenType.LEFT_BRACE || token.token === TokenType.LEFT_BRACKET) {
      if (++depth > MAX_JSON_DEPTH) {
        failure ??= `${options.what} nests deeper than ${MAX_JSON_DEPTH} levels`;
        return;
      }
    } else if (token.token === TokenType.RIGHT_BRACE || token.token === TokenType.RIGHT_BRACKET) depth--;
    if (failure === undefined) tokens.write(token);
  };
  const fail = () => {
    failure ??= `${options.what} is not valid JSON`;
  };
  tokenizer.onError = fail;
  tokens.onError = fail;
  tokenizer.onEnd = () => {
    if (!tokens.isEnded) tokens.end();
  };
  tokens.onEnd = () => {
    if (!tokenizer.isEnded) tokenizer.end();
  };
  tokens.onValue = ({ value, key, stack }) => onValue({ value, key, parentKey: stack[stack.length - 1]?.key });
  const pace = createPacer();
  for await (const chunk of source) {
    for (let at = 0; at < chunk.length && failure === undefined; at += SLICE_BYTES) {
      if (tokenizer.isEnded) fail();
      else tokenizer.write(chunk.subarray(at, at + SLICE_BYTES));
      await pace();
    }
    if (failure !== undefined) break;
    await options.drain?.();
  }
  if (failure === undefined && !tokenizer.isEnded) tokenizer.end();
  if (failure === undefined && (empty || !tokens.isEnded)) fail();
  if (failure !== undefined) throw new FeedFetchError(failure, false);
}
