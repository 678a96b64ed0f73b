/**
 * gRPC status codes: facts of the gRPC wire protocol (`grpc-status`), shared by the server, the
 * client SDK and the metrics, which all speak them.
 */

/** The codes by their canonical names (grpc/codes). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/**
 * The codes by number, named as grpc-go's `codes.Code.String()` names them: the values of the
 * `grpc_code` label that etcd's go-grpc-prometheus interceptors export.
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

/** The grpc-go name of status `code`; codes outside gRPC's range are reported as `Unknown`. */
export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? 'Unknown';
}
