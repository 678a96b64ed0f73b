// Covers proto/methods.ts: the table lists exactly the methods the .proto files declare, with the
// right codecs and streaming kinds, and lookups by gRPC path and gateway path work.
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { METHODS, methodByGatewayPath, methodByPath } from './methods';
import { etcdserverpb, v3electionpb } from './index';

function servicesInProtoFiles(): protobuf.Service[] {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(__dirname, path.basename(target));
  root.loadSync(['rpc.proto', 'v3lock.proto', 'v3election.proto'].map((f) => path.join(__dirname, f)));
  root.resolveAll();
  const services: protobuf.Service[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      if (child instanceof protobuf.Service) services.push(child);
      else if (child instanceof protobuf.Namespace) walk(child);
    }
  };
  walk(root);
  return services;
}

test('the table covers every method of every service in the .proto files, and nothing else', () => {
  const declared = servicesInProtoFiles().flatMap((s) =>
    s.methodsArray.map((m) => ({
      path: `/${s.fullName.slice(1)}/${m.name}`,
      request: m.resolvedRequestType!.fullName.slice(1),
      response: m.resolvedResponseType!.fullName.slice(1),
      requestStream: Boolean(m.requestStream),
      responseStream: Boolean(m.responseStream),
    })),
  );
  const listed = METHODS.map((m) => ({
    path: m.path,
    request: (m.requestType as unknown as { getTypeUrl(prefix: string): string }).getTypeUrl(''),
    response: (m.responseType as unknown as { getTypeUrl(prefix: string): string }).getTypeUrl(''),
    requestStream: m.requestStream,
    responseStream: m.responseStream,
  }));
  const byPath = (a: { path: string }, b: { path: string }): number => a.path.localeCompare(b.path);
  expect(listed.map((m) => ({ ...m, request: m.request.replace(/^\//, ''), response: m.response.replace(/^\//, '') })).sort(byPath)).toEqual(declared.sort(byPath));
});

test("the six etcd services, Lock and Election are all there, with etcd 3.5's method counts", () => {
  const counts: Record<string, number> = {};
  for (const m of METHODS) counts[m.service] = (counts[m.service] ?? 0) + 1;
  expect(counts).toEqual({
    'etcdserverpb.KV': 5,
    'etcdserverpb.Watch': 1,
    'etcdserverpb.Lease': 5,
    'etcdserverpb.Cluster': 5,
    'etcdserverpb.Maintenance': 8,
    'etcdserverpb.Auth': 17,
    'v3lockpb.Lock': 2,
    'v3electionpb.Election': 5,
  });
});

test('streaming kinds: Watch and LeaseKeepAlive are bidi, Snapshot and Observe server-streams', () => {
  const streaming = METHODS.filter((m) => m.kind !== 'unary').map((m) => `${m.path} ${m.kind}`).sort();
  expect(streaming).toEqual([
    '/etcdserverpb.Lease/LeaseKeepAlive bidi',
    '/etcdserverpb.Maintenance/Snapshot server-stream',
    '/etcdserverpb.Watch/Watch bidi',
    '/v3electionpb.Election/Observe server-stream',
  ]);
});

test('lookup by gRPC path', () => {
  const range = methodByPath('/etcdserverpb.KV/Range');
  expect(range?.requestType).toBe(etcdserverpb.RangeRequest);
  expect(range?.responseType).toBe(etcdserverpb.RangeResponse);
  expect(methodByPath('/v3electionpb.Election/Observe')?.responseType).toBe(v3electionpb.LeaderResponse);
  expect(methodByPath('/etcdserverpb.KV/Nope')).toBeUndefined();
});

test('lookup by gateway path, including additional bindings and the /v3beta prefix', () => {
  expect(methodByGatewayPath('/v3/kv/put')?.path).toBe('/etcdserverpb.KV/Put');
  expect(methodByGatewayPath('/v3/kv/lease/revoke')?.path).toBe('/etcdserverpb.Lease/LeaseRevoke');
  expect(methodByGatewayPath('/v3beta/kv/range')?.path).toBe('/etcdserverpb.KV/Range');
  expect(methodByGatewayPath('/v3/maintenance/transfer-leadership')?.method).toBe('MoveLeader');
  expect(methodByGatewayPath('/v3/nope')).toBeUndefined();
  const all = METHODS.flatMap((m) => m.gatewayPaths);
  expect(new Set(all).size).toBe(all.length);
});
