/**
 * The gateway's JSON text handling: a streaming body split into consecutive JSON values as Go's
 * json.Decoder reads them (any chunking, strings holding braces and escaped quotes, scalars,
 * whitespace, a bound per value), Go's wording of syntax errors, and a response written in pieces
 * giving the same text as in one.
 */
import { etcdserverpb as pb } from '../../proto';
import { goJsonError, JsonSyntaxError, JsonValueSplitter, parseJson } from './gateway-json';
import { messageToJson, protoSchema, writeMessageJson } from './gateway';

/** Feeds `text` to a splitter in chunks of `size` bytes; returns the values and the unfinished rest. */
function split(text: string, size: number, max = 1 << 20): { values: string[]; rest: string | undefined } {
  const s = new JsonValueSplitter(max);
  const bytes = Buffer.from(text);
  const values: string[] = [];
  for (let i = 0; i < bytes.length; i += size) values.push(...s.push(bytes.subarray(i, i + size)));
  return { values, rest: s.end() };
}

describe('JsonValueSplitter', () => {
  const body = `{"create_request":{"key":"Zm9v"}}{"a":"}{\\"]"} \n [1,{"b":[2]}]\t"str\\"}" null {"é":"ü"}`;
  const expected = ['{"create_request":{"key":"Zm9v"}}', '{"a":"}{\\"]"}', '[1,{"b":[2]}]', '"str\\"}"', 'null', '{"é":"ü"}'];

  test.each([1, 2, 3, 7, 1000])('chunks of %i bytes give the same values', (size) => {
    expect(split(body, size)).toEqual({ values: expected, rest: undefined });
  });

  test('every value parses as JSON', () => {
    for (const v of split(body, 5).values) expect(() => parseJson(v)).not.toThrow();
  });

  test('a value cut short by the end is returned by end() and fails to parse with unexpected EOF', () => {
    const r = split('{"ID":"1"} {"ID":', 4);
    expect(r.values).toEqual(['{"ID":"1"}']);
    expect(r.rest).toBe('{"ID":');
    expect(() => parseJson(r.rest!)).toThrow(new JsonSyntaxError('unexpected EOF'));
  });

  test('whitespace only: no values and nothing left', () => {
    expect(split(' \n\t ', 2)).toEqual({ values: [], rest: undefined });
  });

  test('a scalar at the end of the stream comes from end()', () => {
    expect(split('{} 123', 3)).toEqual({ values: ['{}'], rest: '123' });
  });

  test('a value longer than the bound is refused, whatever the chunking', () => {
    expect(() => split(`{"k":"${'x'.repeat(100)}"}`, 10, 64)).toThrow(JsonSyntaxError);
    expect(split(`{"k":"${'x'.repeat(40)}"}{"k":"${'y'.repeat(40)}"}`, 10, 64).values).toHaveLength(2);
  });
});

describe("Go's wording of JSON syntax errors", () => {
  test.each([
    ['{"key":', 'unexpected EOF'],
    ['{', 'unexpected EOF'],
    ['"abc', 'unexpected EOF'],
    ['{"ID":abc}', "invalid character 'a' looking for beginning of value"],
    ['{x', "invalid character 'x' looking for beginning of object key string"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 "b"}', `invalid character '"' after object key:value pair`],
    ['[1 2]', "invalid character '2' after array element"],
  ])('%s → %s', (text, message) => {
    let caught: unknown;
    try {
      JSON.parse(text);
    } catch (err) {
      caught = err;
    }
    expect(goJsonError(text, caught)).toBe(message);
  });
});

describe('writeMessageJson', () => {
  test('writes, in pieces, the same text as JSON.stringify(messageToJson(...)) (a watch response with events)', () => {
    const root = protoSchema();
    const WatchResponse = root.lookupType('etcdserverpb.WatchResponse');
    const kv = (key: string, rev: number) => ({ key: Buffer.from(key), value: Buffer.from(`v${rev}`), createRevision: 2, modRevision: rev, version: rev - 1 });
    const cases = [
      { header: { clusterId: 1, memberId: 2, revision: 9, raftTerm: 3 }, watchId: 5, events: [{ kv: kv('a', 3) }, { type: 1, kv: { key: Buffer.from('a'), modRevision: 4 }, prevKv: kv('a', 3) }, { kv: kv('b', 5) }] },
      { header: { revision: 9 }, created: true },
      { header: { revision: 9 }, watchId: -1 },
      { header: { revision: 9 }, canceled: true, compactRevision: 4, cancelReason: 'compacted', events: [] },
    ];
    for (const c of cases) {
      const bytes = pb.WatchResponse.encode(c).finish();
      const parts: string[] = [];
      writeMessageJson(WatchResponse, bytes, (t) => parts.push(t));
      expect(parts.join('')).toBe(JSON.stringify(messageToJson(WatchResponse, bytes)));
      if ((c.events ?? []).length > 1) expect(parts.length).toBeGreaterThan(c.events!.length);
    }
  });
});
