/**
 * etcdctl txn against real etcd 3.4 and against Cairn: compares on value, version, create and mod
 * revision with =, !=, <, >; success and failure branches; reads inside a txn; json and fields
 * output; interactive mode (prompts on stdout, answers on stdin); and the requests etcd refuses
 * (a key written twice in one branch, malformed input). etcdserverpb.KV/Txn, rpc.proto TxnRequest.
 */
import { b64, errorLine, parseJson, prefixSequence, Step, Transcripts, usePair } from '../harness/compare';

const pair = usePair();
const nextPrefix = prefixSequence('txn');

function expectSame(t: Transcripts): void {
  expect(t.cairn).toEqual(t.etcd);
}

/** A non-interactive txn: compares, success ops, failure ops, each section ended by an empty line. */
function txn(sections: { compares?: string[]; success?: string[]; failure?: string[] }, flags: string[] = []): Step {
  const block = (lines: string[] | undefined): string => (lines ?? []).map((l) => `${l}\n`).join('') + '\n';
  return { args: ['txn', ...flags], input: block(sections.compares) + block(sections.success) + block(sections.failure) };
}

const PROMPTS = 'compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n';

describe('txn: compares choose the branch', () => {
  test('value, version, create and mod compares that hold run the success branch', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'v1'],
      ['put', `${p}k`, 'v2'],
      txn({
        compares: [`value("${p}k") = "v2"`, `version("${p}k") = "2"`, `create("${p}k") = "{rev+1}"`, `mod("${p}k") = "{rev+2}"`],
        success: [`put ${p}k v3`, `get ${p}k`],
        failure: [`put ${p}failed yes`],
      }),
      ['get', `${p}`, '--prefix'],
    ]);
    expectSame(t);
    expect(t.etcd[2]!.code).toBe(0);
    expect(t.etcd[2]!.stdout).toBe(`SUCCESS\n\nOK\n\n${p}k\nv3\n`);
    expect(t.etcd[3]!.stdout).toBe(`${p}k\nv3\n`);
  });

  test('a compare that does not hold runs the failure branch', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}k`, 'v1'],
      txn({ compares: [`value("${p}k") = "nope"`], success: [`put ${p}k ok`], failure: [`put ${p}else 1`, `get ${p}k`] }),
      txn({ compares: [`value("${p}k") = "v1"`, `version("${p}k") = "7"`], success: [`put ${p}k ok`], failure: [`del ${p}else`] }),
      ['get', `${p}`, '--prefix'],
    ]);
    expectSame(t);
    expect(t.etcd[1]!.stdout).toBe(`FAILURE\n\nOK\n\n${p}k\nv1\n`);
    expect(t.etcd[2]!.stdout).toBe('FAILURE\n\n1\n');
    expect(t.etcd[3]!.stdout).toBe(`${p}k\nv1\n`);
  });

  test('!=, < and > on value, version, create and mod', async () => {
    const p = nextPrefix();
    const cases: Array<[string, boolean]> = [
      [`value("${p}k") != "b"`, false],
      [`value("${p}k") != "a"`, true],
      [`value("${p}k") < "c"`, true],
      [`value("${p}k") > "c"`, false],
      [`version("${p}k") > "1"`, true],
      [`version("${p}k") < "2"`, false],
      [`create("${p}k") < "{rev+2}"`, true],
      [`create("${p}k") > "{rev+1}"`, false],
      [`mod("${p}k") > "{rev+1}"`, true],
      [`mod("${p}k") != "{rev+2}"`, false],
    ];
    const t = await pair.compare([
      ['put', `${p}k`, 'a'],
      ['put', `${p}k`, 'b'],
      ...cases.map(([compare]) => txn({ compares: [compare], success: [`get ${p}k --keys-only`] })),
    ]);
    expectSame(t);
    cases.forEach(([, holds], i) => {
      expect([cases[i]![0], t.etcd[i + 2]!.stdout.split('\n')[0]]).toEqual([cases[i]![0], holds ? 'SUCCESS' : 'FAILURE']);
    });
  });

  test('compares on a key that does not exist: version, create and mod are 0, value compares fail', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      txn({ compares: [`version("${p}missing") = "0"`, `create("${p}missing") = "0"`, `mod("${p}missing") = "0"`], success: [`put ${p}created 1`] }),
      txn({ compares: [`value("${p}missing") = ""`], success: [`put ${p}x 1`], failure: [`put ${p}y 1`] }),
      txn({ compares: [`value("${p}missing") != "a"`], success: [`put ${p}x 1`], failure: [`put ${p}z 1`] }),
      ['get', `${p}`, '--prefix', '--keys-only'],
    ]);
    expectSame(t);
    expect(t.etcd[0]!.stdout).toBe('SUCCESS\n\nOK\n');
    expect(t.etcd[1]!.stdout.split('\n')[0]).toBe('FAILURE');
    expect(t.etcd[2]!.stdout.split('\n')[0]).toBe('FAILURE');
    expect(t.etcd[3]!.stdout).toBe(`${p}created\n\n${p}y\n\n${p}z\n\n`);
  });

  test('compares are all required (AND), and a txn without compares succeeds', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}a`, '1'],
      ['put', `${p}b`, '2'],
      txn({ compares: [`value("${p}a") = "1"`, `value("${p}b") = "1"`], success: [`put ${p}r both`], failure: [`put ${p}r notboth`] }),
      txn({ success: [`get ${p}r`] }),
      txn({}),
    ]);
    expectSame(t);
    expect(t.etcd[2]!.stdout).toBe('FAILURE\n\nOK\n');
    expect(t.etcd[3]!.stdout).toBe(`SUCCESS\n\n${p}r\nnotboth\n`);
    expect(t.etcd[4]!.stdout).toBe('SUCCESS\n');
  });
});

describe('txn: operations', () => {
  test('reads inside a txn see the writes made before them in the same txn', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}a`, '1'],
      txn({
        success: [`get ${p} --prefix`, `put ${p}b 2 --prev-kv`, `put ${p}a 10 --prev-kv`, `del ${p}zz --prev-kv`, `get ${p} --prefix`, `get ${p} --prefix --keys-only`, `get ${p} --prefix --count-only`],
      }),
      txn({
        success: [`get ${p} --prefix`, `put ${p}b 2 --prev-kv`, `put ${p}a 10 --prev-kv`, `del ${p}zz --prev-kv`, `get ${p} --prefix`, `get ${p} --prefix --keys-only`],
      }),
      txn({ success: [`del ${p}a --prev-kv`, `get ${p} --prefix --limit=1`, `get ${p}a`] }),
    ]);
    expectSame(t);
    expect(t.etcd[1]!.code).not.toBe(0); // etcdctl 3.4 has no --count-only
    expect(t.etcd[2]!.stdout).toBe(
      `SUCCESS\n\n${p}a\n1\n\nOK\n\nOK\n${p}a\n1\n\n0\n\n${p}a\n10\n${p}b\n2\n\n${p}a\n\n${p}b\n\n`,
    );
    expect(t.etcd[3]!.stdout).toBe(`SUCCESS\n\n1\n${p}a\n10\n\n${p}b\n2\n\n`);
  });

  test('-w json: succeeded, nested responses and their headers', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      ['put', `${p}a`, '1'],
      ['put', `${p}b`, 'bee'],
      txn({ compares: [`value("${p}a") = "1"`], success: [`get ${p}a`, `put ${p}a 2 --prev-kv`, `del ${p}b --prev-kv`, `get ${p}b`] }, ['-w', 'json']),
      txn({ compares: [`value("${p}a") = "1"`], success: [`put ${p}x 1`], failure: [`get ${p}a`] }, ['-w', 'json']),
      txn({ compares: [`version("${p}new") = "0"`], success: [`put ${p}new 3`] }, ['-w', 'fields']),
    ]);
    expectSame(t);
    const ok = parseJson(t.etcd[2]);
    expect(ok.succeeded).toBe(true);
    expect(ok.header.revision).toBe('R+3');
    expect(ok.responses.map((r: { Response: object }) => Object.keys(r.Response)[0])).toEqual([
      'ResponseRange',
      'ResponsePut',
      'ResponseDeleteRange',
      'ResponseRange',
    ]);
    expect(ok.responses[0].Response.ResponseRange.header).toEqual({ revision: 'R+2' });
    expect(ok.responses[1].Response.ResponsePut.header).toEqual({ revision: 'R+3' });
    expect(b64(ok.responses[0].Response.ResponseRange.kvs[0].value)).toBe('1');
    expect(b64(ok.responses[1].Response.ResponsePut.prev_kv.value)).toBe('1');
    expect(ok.responses[2].Response.ResponseDeleteRange.deleted).toBe(1);
    expect(b64(ok.responses[2].Response.ResponseDeleteRange.prev_kvs[0].value)).toBe('bee');
    expect(ok.responses[3].Response.ResponseRange.kvs).toBeUndefined();
    const failed = parseJson(t.etcd[3]);
    expect(failed.succeeded).toBeUndefined();
    expect(b64(failed.responses[0].Response.ResponseRange.kvs[0].value)).toBe('2');
    expect(t.etcd[4]!.stdout).toContain('"Revision" : R+4\n"RaftTerm" : <raft-term>\n"Succeeded" : true\n"ClusterID" : 0\n"MemberID" : 0\n"Revision" : R+4\n"RaftTerm" : 0\n');
  });

  test('--hex prints keys and values of reads inside the txn as hex', async () => {
    const p = nextPrefix();
    const t = await pair.compare([['put', `${p}a`, 'x'], txn({ success: [`get ${p}a`] }, ['--hex'])]);
    expectSame(t);
    expect(t.etcd[1]!.stdout).toBe(`SUCCESS\n\n${[...Buffer.from(`${p}a`)].map((b) => `\\x${b.toString(16)}`).join('')}\n\\x78\n`);
  });
});

describe('txn: refused requests', () => {
  test('the same key put twice in one branch: "duplicate key given in txn request"', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      txn({ success: [`put ${p}d 1`, `put ${p}d 2`] }),
      txn({ success: [`put ${p}d 1`, `del ${p}d`] }),
      txn({ success: [`put ${p}c 1`, `del ${p} --prefix`] }),
      txn({ success: [`put ${p}e 1`], failure: [`put ${p}e 2`] }),
      txn({ success: [`get ${p}e`, `get ${p}e`, `put ${p}e 3`] }),
      ['get', `${p}`, '--prefix'],
    ]);
    expectSame(t);
    for (const entry of t.etcd.slice(0, 3)) {
      expect(entry.code).toBe(1);
      expect(errorLine(entry)).toBe('Error: etcdserver: duplicate key given in txn request');
      expect(entry.stderr).toContain('code = InvalidArgument');
    }
    expect(t.etcd[3]!.stdout).toBe('SUCCESS\n\nOK\n');
    expect(t.etcd[4]!.stdout).toBe(`SUCCESS\n\n${p}e\n1\n\n${p}e\n1\n\nOK\n`);
    expect(t.etcd[5]!.stdout).toBe(`${p}e\n3\n`);
  });

  test('malformed compares and operations are refused by etcdctl before reaching the server', async () => {
    const p = nextPrefix();
    const t = await pair.compare([
      txn({ compares: ['bogus'] }),
      txn({ success: [`put ${p}only-key`] }),
      txn({ success: [`frobnicate ${p}k`] }),
      ['get', `${p}`, '--prefix', '--count-only'],
    ]);
    expectSame(t);
    expect([t.etcd[0]!.code, errorLine(t.etcd[0])]).toEqual([3, 'Error: malformed comparison: bogus']);
    expect([t.etcd[1]!.code, errorLine(t.etcd[1])]).toEqual([128, 'Error: put command needs 1 argument and input from stdin or 2 arguments']);
    expect(t.etcd[2]!.code).not.toBe(0);
  });
});

describe('txn --interactive', () => {
  test('prompts for each section on stdout and runs the chosen branch', async () => {
    const p = nextPrefix();
    const interactive = (input: string, flags: string[] = []): Step => ({ args: ['txn', '--interactive', ...flags], input });
    const t = await pair.compare([
      ['put', `${p}k`, 'v1'],
      interactive(`value("${p}k") = "v1"\nversion("${p}k") = "1"\n\nput ${p}k v2\nget ${p}k\n\nput ${p}failed 1\n\n`),
      interactive(`value("${p}k") = "v1"\n\nput ${p}k v3\n\nget ${p}k\n\n`),
      interactive(`mod("${p}k") = "{rev+2}"\n\nput ${p}k v4 --prev-kv\n\n\n`, ['-w', 'json']),
      interactive(`\n\n\n`),
      ['get', `${p}`, '--prefix'],
    ]);
    expectSame(t);
    expect(t.etcd[1]!.stdout).toBe(`${PROMPTS}SUCCESS\n\nOK\n\n${p}k\nv2\n`);
    expect(t.etcd[2]!.stdout).toBe(`${PROMPTS}FAILURE\n\n${p}k\nv2\n`);
    expect(t.etcd[3]!.stdout.startsWith(PROMPTS)).toBe(true);
    const json = JSON.parse(t.etcd[3]!.stdout.slice(PROMPTS.length));
    expect([json.succeeded, b64(json.responses[0].Response.ResponsePut.prev_kv.value)]).toEqual([true, 'v2']);
    expect(t.etcd[4]!.stdout).toBe(`${PROMPTS}SUCCESS\n`);
    expect(t.etcd[5]!.stdout).toBe(`${p}k\nv4\n`);
  });
});
