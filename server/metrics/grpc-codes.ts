/**
 * gRPC status codes by number, named as grpc-go's `codes.Code.String()` names them: the values of
 * the `grpc_code` label that etcd's go-grpc-prometheus interceptors export.
 */
export const GRPC_CODE_NAMES: readonly string[] = Object.freeze([
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
]);

/** The `grpc_code` label of status `code`; codes outside gRPC's range are reported as `Unknown`. */
export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? 'Unknown';
}
