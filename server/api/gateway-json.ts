/**
 * JSON text handling for the gateway, shaped after Go's encoding/json as etcd's grpc-gateway uses it:
 * - {@link goJsonError}: the text Go's decoder gives for a syntax error (`unexpected EOF`,
 *   `invalid character 'x' looking for beginning of value`, ...), from the error JSON.parse gives;
 * - {@link JsonValueSplitter}: splits a byte stream into consecutive JSON values, as a
 *   `json.Decoder` reads a streaming request body (`{...}{...}` or values separated by whitespace),
 *   incrementally as chunks arrive, each value bounded in size.
 */

/** Go's message for a JSON syntax error in `text`, given the error JSON.parse threw for it. */
export function goJsonError(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/Unexpected end of JSON input|Unterminated string/.test(message)) return 'unexpected EOF';
  const at = /at position (\d+)/.exec(message);
  const pos = at === null ? -1 : Number(at[1]);
  const quoted = (c: string | undefined): string => (c === undefined ? 'unexpected EOF' : `'${c}'`);
  const ch = pos >= 0 ? text[pos] : undefined;
  if (pos >= 0 && ch === undefined) return 'unexpected EOF';
  if (message.startsWith('Expected property name')) return `invalid character ${quoted(ch)} looking for beginning of object key string`;
  if (message.startsWith("Expected ':'")) return `invalid character ${quoted(ch)} after object key`;
  if (message.startsWith("Expected ',' or '}'")) return `invalid character ${quoted(ch)} after object key:value pair`;
  if (message.startsWith("Expected ',' or ']'")) return `invalid character ${quoted(ch)} after array element`;
  if (message.startsWith('Unexpected non-whitespace character')) return `invalid character ${quoted(ch)} after top-level value`;
  const token = /Unexpected token '?(.)'?/.exec(message);
  if (token !== null) return `invalid character '${token[1]}' looking for beginning of value`;
  return message;
}

/** Parses one JSON text; a syntax error is thrown as a {@link JsonSyntaxError} with Go's text. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new JsonSyntaxError(goJsonError(text, err));
  }
}

export class JsonSyntaxError extends Error {}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/**
 * Splits a stream of bytes into consecutive JSON values. Feed chunks with {@link push}; each
 * complete value's text is returned in order. {@link end} returns the text of a value cut short
 * by the end of the stream (a scalar such as `null` ends there; anything else then fails to parse
 * with `unexpected EOF`). A value longer than `valueBytesMax` throws {@link JsonSyntaxError}.
 */
export class JsonValueSplitter {
  private parts: Buffer[] = [];
  private length = 0;
  /** Nesting depth inside the current value; 0 with `inValue` means a top-level scalar. */
  private depth = 0;
  private inValue = false;
  private scalar = false;
  private inString = false;
  private escaped = false;

  constructor(private readonly valueBytesMax: number) {}

  push(chunk: Buffer): string[] {
    const out: string[] = [];
    let start = -1;
    if (this.inValue) start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (!this.inValue) {
        if (isSpace(b)) continue;
        this.inValue = true;
        start = i;
        if (b === OPEN_BRACE || b === OPEN_BRACKET) {
          this.depth = 1;
          this.scalar = false;
        } else if (b === QUOTE) {
          this.inString = true;
          this.scalar = false;
          this.depth = 0;
        } else {
          this.scalar = true;
          this.depth = 0;
        }
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) {
          this.inString = false;
          if (this.depth === 0) {
            out.push(this.take(chunk, start, i + 1));
            start = -1;
          }
        }
        continue;
      }
      if (this.scalar) {
        if (isSpace(b) || b === OPEN_BRACE || b === OPEN_BRACKET || b === QUOTE) {
          out.push(this.take(chunk, start, i));
          start = -1;
          i--; // this byte starts the next value (or is whitespace)
        }
        continue;
      }
      if (b === QUOTE) this.inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) this.depth++;
      else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth === 0) {
          out.push(this.take(chunk, start, i + 1));
          start = -1;
        }
      }
    }
    if (start >= 0) this.keep(chunk.subarray(start));
    return out;
  }

  /** The rest of the stream: the text of an unfinished value, or undefined when there is none. */
  end(): string | undefined {
    if (!this.inValue) return undefined;
    const text = Buffer.concat(this.parts).toString('utf8');
    this.reset();
    return text;
  }

  private keep(part: Buffer): void {
    this.length += part.length;
    if (this.length > this.valueBytesMax) throw new JsonSyntaxError(`request message larger than ${this.valueBytesMax} bytes`);
    this.parts.push(Buffer.from(part));
  }

  private take(chunk: Buffer, start: number, end: number): string {
    this.keep(chunk.subarray(start, end));
    const text = Buffer.concat(this.parts).toString('utf8');
    this.reset();
    return text;
  }

  private reset(): void {
    this.parts = [];
    this.length = 0;
    this.depth = 0;
    this.inValue = false;
    this.scalar = false;
    this.inString = false;
    this.escaped = false;
  }
}
