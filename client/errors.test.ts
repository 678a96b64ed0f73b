/**
 * The error table: every etcd message text maps to its own class with the right gRPC code and retry
 * flags (texts from etcd 3.4 api/v3rpc/rpctypes/error.go, as server/errors.ts sends them).
 */
import {
  CompactedError,
  DeadlineExceededError,
  EtcdError,
  InvalidAuthTokenError,
  NoLeaderError,
  RequestTooLargeError,
  SERVER_ERRORS_BY_TEXT,
  ClientCertificateRejectedError,
  ServerError,
  TlsError,
  TooManyRequestsError,
  UntrustedServerCertificateError,
  UnavailableError,
  UnimplementedError,
  fromGrpcError,
} from './index';

describe('fromGrpcError', () => {
  test('recognises every etcd text as its own class', () => {
    expect(SERVER_ERRORS_BY_TEXT.size).toBeGreaterThanOrEqual(50);
    for (const [text, cls] of SERVER_ERRORS_BY_TEXT) {
      const err = fromGrpcError({ code: 2, details: text, message: `2 UNKNOWN: ${text}` });
      expect(err).toBeInstanceOf(cls);
      expect(err).toBeInstanceOf(ServerError);
      expect(err.message).toBe(text);
      expect(err.name).toBe(cls.name);
    }
  });

  test('retry flags: transient errors are retryable; only not-applied ones allow resending writes', () => {
    const compacted = fromGrpcError({ code: 11, details: 'etcdserver: mvcc: required revision has been compacted' });
    expect(compacted).toBeInstanceOf(CompactedError);
    expect(compacted.retryable).toBe(false);
    const noLeader = fromGrpcError({ code: 14, details: 'etcdserver: no leader' });
    expect(noLeader).toBeInstanceOf(NoLeaderError);
    expect([noLeader.retryable, noLeader.notApplied]).toEqual([true, false]);
    const busy = fromGrpcError({ code: 2, details: 'etcdserver: too many requests' });
    expect(busy).toBeInstanceOf(TooManyRequestsError);
    expect([busy.retryable, busy.notApplied]).toEqual([true, true]);
    expect(fromGrpcError({ code: 16, details: 'etcdserver: invalid auth token' })).toBeInstanceOf(InvalidAuthTokenError);
  });

  test('unknown texts fall back to the gRPC code', () => {
    const notSent = fromGrpcError({ code: 14, details: 'No connection established. Last error: connect ECONNREFUSED' });
    expect(notSent).toBeInstanceOf(UnavailableError);
    expect(notSent.notApplied).toBe(true);
    const dropped = fromGrpcError({ code: 14, details: 'Connection dropped' });
    expect([dropped.retryable, dropped.notApplied]).toEqual([true, false]);
    expect(fromGrpcError({ code: 4, details: 'Deadline exceeded' })).toBeInstanceOf(DeadlineExceededError);
    expect(fromGrpcError({ code: 12, details: 'unknown method' })).toBeInstanceOf(UnimplementedError);
    const tooLarge = fromGrpcError({ code: 8, details: 'grpc: received message larger than max (3145738 vs. 2097152)' });
    expect(tooLarge).toBeInstanceOf(RequestTooLargeError);
    expect(tooLarge.notApplied).toBe(true);
    const other = fromGrpcError({ code: 13, details: 'boom' });
    expect(other).toBeInstanceOf(EtcdError);
    expect(other.code).toBe(13);
  });

  test('TLS handshake failures are TlsError subclasses saying whose certificate was refused', () => {
    const wrap = (last: string): string => `No connection established. Last error: ${last} (2026-11-23T01:27:45.062Z). Resolution note: `;
    const server = fromGrpcError({ code: 14, details: wrap('Error: unable to verify the first certificate') });
    expect(server).toBeInstanceOf(UntrustedServerCertificateError);
    expect((server as TlsError).reason).toBe('unable to verify the first certificate');
    expect([server.retryable, server.notApplied]).toEqual([true, true]);
    expect(fromGrpcError({ code: 14, details: wrap("Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames") })).toBeInstanceOf(
      UntrustedServerCertificateError,
    );
    const client = fromGrpcError({
      code: 14,
      details: wrap('802C267BDE7F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42\n'),
    });
    expect(client).toBeInstanceOf(ClientCertificateRejectedError);
    expect((client as TlsError).reason).toBe('sslv3 alert bad certificate');
    expect(fromGrpcError({ code: 14, details: wrap('C0:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required') })).toBeInstanceOf(
      ClientCertificateRejectedError,
    );
    const other = fromGrpcError({ code: 14, details: wrap('C0:error:0A00010B:SSL routines:ssl3_get_record:wrong version number') });
    expect(other).toBeInstanceOf(TlsError);
    expect(other).not.toBeInstanceOf(ClientCertificateRejectedError);
    // Not TLS: a refused connection stays a plain UnavailableError.
    const refused = fromGrpcError({ code: 14, details: wrap('Error: connect ECONNREFUSED 127.0.0.1:1') });
    expect(refused).toBeInstanceOf(UnavailableError);
    expect(refused).not.toBeInstanceOf(TlsError);
  });
});
