/**
 * The SDK's TLS options against real etcd 3.4 serving TLS with client-certificate auth
 * (--cert-file, --key-file, --trusted-ca-file, --client-cert-auth) on loopback, with a CA and
 * certificates made by openssl at test time (client/testing/tls.ts). Cairn does not serve TLS yet.
 *
 * The right CA and client certificate work for put/get/watch; a wrong CA, a missing client
 * certificate and one signed by another CA fail fast with typed errors and write nothing; bad TLS
 * options are refused before connecting.
 */
import * as fs from 'node:fs';
import {
  Client,
  ClientCertificateRejectedError,
  ClientOptions,
  EtcdError,
  InvalidArgumentError,
  TlsError,
  UntrustedServerCertificateError,
  WatchEvent,
} from '../client/index';
import { TestPki, makeTestPki } from '../client/testing/tls';
import { waitFor } from '../client/testing/targets';
import { Member, startMember } from './harness/member';
import { freePort } from './harness/ports';

describe('TLS against etcd 3.4 with client-certificate auth', () => {
  let pki: TestPki | undefined;
  let member: Member | undefined;
  let url = '';
  const clients: Client[] = [];
  const files = (): TestPki => {
    if (pki === undefined) throw new Error('no PKI');
    return pki;
  };
  const client = (options: Partial<ClientOptions>): Client => {
    const c = new Client({ endpoints: [url], callTimeoutMs: 10_000, ...options });
    clients.push(c);
    return c;
  };
  /** The error a call fails with, and how long it took. */
  const failure = async (call: Promise<unknown>): Promise<{ err: unknown; ms: number }> => {
    const t0 = Date.now();
    const err = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    return { err, ms: Date.now() - t0 };
  };

  beforeAll(async () => {
    pki = makeTestPki();
    const port = await freePort();
    url = `https://127.0.0.1:${port}`;
    member = await startMember({
      kind: 'etcd',
      flags: [
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--cert-file=${pki.serverCert}`,
        `--key-file=${pki.serverKey}`,
        `--trusted-ca-file=${pki.caCert}`,
        '--client-cert-auth',
      ],
    });
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await member?.cleanup();
    pki?.cleanup();
  });

  test('the right CA and client certificate: put, get and watch work', async () => {
    const p = files();
    const c = client({ tls: { ca: { path: p.caCert }, cert: { path: p.clientCert }, key: { path: p.clientKey } } });
    const watcher = c.watch({ prefix: 'tls/' });
    const events: WatchEvent[] = [];
    watcher.on('event', (ev: WatchEvent) => events.push(ev));
    await watcher.ready();
    const { revision } = await c.put('tls/a', 'secret');
    expect(await c.get('tls/a')).toBe('secret');
    await waitFor(() => events.length === 1, 10_000);
    expect(events[0]!.revision).toBe(revision);
    expect(events[0]!.kv.value.toString()).toBe('secret');
    await watcher.cancel();
    // PEM given as text works the same as a path.
    const inline = client({ tls: { ca: fs.readFileSync(p.caCert, 'utf8'), cert: fs.readFileSync(p.clientCert), key: fs.readFileSync(p.clientKey, 'utf8') } });
    expect(await inline.get('tls/a')).toBe('secret');
  });

  test('a wrong CA fails fast with UntrustedServerCertificateError and sends nothing', async () => {
    const p = files();
    const c = client({ tls: { ca: { path: p.otherCaCert }, cert: { path: p.clientCert }, key: { path: p.clientKey } } });
    const { err, ms } = await failure(c.put('tls/wrong-ca', 'x'));
    expect(err).toBeInstanceOf(UntrustedServerCertificateError);
    expect(err).toBeInstanceOf(TlsError);
    const e = err as TlsError;
    expect(e.message).toMatch(/server's certificate is not trusted/);
    expect(e.reason).toMatch(/unable to verify|self[- ]signed|issuer/);
    expect(e.notApplied).toBe(true);
    // Not retried until the 10 s deadline as a refused connection would be: waiting cannot fix it.
    expect(ms).toBeLessThan(5_000);
    // Without a CA the system roots are used, and they do not know the test CA either.
    const noCa = client({ endpoints: [url], tls: { cert: { path: p.clientCert }, key: { path: p.clientKey } } });
    expect((await failure(noCa.get('tls/a').string())).err).toBeInstanceOf(UntrustedServerCertificateError);
    const good = client({ tls: { ca: { path: p.caCert }, cert: { path: p.clientCert }, key: { path: p.clientKey } } });
    expect(await good.get('tls/wrong-ca')).toBeNull();
  });

  test('a missing client certificate, or one from another CA, is refused with ClientCertificateRejectedError', async () => {
    const p = files();
    const noCert = client({ tls: { ca: { path: p.caCert } } });
    const missing = await failure(noCert.put('tls/no-cert', 'x'));
    expect(missing.err).toBeInstanceOf(ClientCertificateRejectedError);
    expect((missing.err as EtcdError).message).toMatch(/refused the client certificate/);
    expect(missing.ms).toBeLessThan(5_000);
    const foreign = client({ tls: { ca: { path: p.caCert }, cert: { path: p.otherClientCert }, key: { path: p.otherClientKey } } });
    const other = await failure(foreign.get('tls/a').string());
    expect(other.err).toBeInstanceOf(ClientCertificateRejectedError);
    // A watch keeps trying (the server may be fixed) and reports each failure as 'disconnected'.
    const watcher = noCert.watch('tls/a');
    const seen: unknown[] = [];
    watcher.on('disconnected', (e: unknown) => seen.push(e));
    await waitFor(() => seen.length > 0, 10_000);
    expect(seen[0]).toBeInstanceOf(ClientCertificateRejectedError);
    expect(watcher.endpoint).toBeUndefined();
    await watcher.cancel();
    const good = client({ tls: { ca: { path: p.caCert }, cert: { path: p.clientCert }, key: { path: p.clientKey } } });
    expect(await good.get('tls/no-cert')).toBeNull();
  });

  test('bad TLS options throw InvalidArgumentError before connecting', () => {
    const p = files();
    const bad = (tls: ClientOptions['tls']): unknown => {
      try {
        new Client({ endpoints: [url], tls }).close();
        return undefined;
      } catch (e) {
        return e;
      }
    };
    expect(bad({ ca: { path: p.caCert }, cert: { path: p.clientCert } })).toBeInstanceOf(InvalidArgumentError); // cert without key
    expect(bad({ ca: { path: p.caCert }, key: { path: p.clientKey } })).toBeInstanceOf(InvalidArgumentError); // key without cert
    expect(bad({ ca: { path: `${p.dir}/no-such.pem` } })).toBeInstanceOf(InvalidArgumentError);
    expect(bad({ ca: 'not a certificate' })).toBeInstanceOf(InvalidArgumentError);
    expect(bad({ ca: { path: p.caCert }, cert: { path: p.clientCert }, key: { path: p.otherClientKey } })).toBeInstanceOf(InvalidArgumentError); // key of another cert
    expect(() => new Client({ endpoints: [url, 'http://127.0.0.1:1'] })).toThrow(InvalidArgumentError); // https and http mixed
  });
});
