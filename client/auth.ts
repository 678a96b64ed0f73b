/**
 * The Auth service: enable/disable, users, roles and key-range permissions.
 */
import { etcdserverpb as pb } from '../proto/index';
import { Namespace } from './bytes';
import { CallOptions, Connection, RPC } from './connection';
import { InvalidArgumentError } from './errors';
import { KeyOrSelector, resolveSelector } from './range';

/** A permission's kind. */
export type PermissionType = 'read' | 'write' | 'readwrite';
const PERM: Record<PermissionType, number> = { read: 0, write: 1, readwrite: 2 };

/**
 * A key-range permission of a role.
 * @example { type: 'readwrite', key: Buffer.from('app/'), rangeEnd: Buffer.from('app0') }
 */
export interface Permission {
  readonly type: PermissionType;
  readonly key: Buffer;
  /** Empty for one key. */
  readonly rangeEnd: Buffer;
}

function name(n: string, what: string): string {
  if (typeof n !== 'string' || n === '') throw new InvalidArgumentError(`${what} name must not be empty`);
  return n;
}

/**
 * Typed wrappers of the Auth service (`client.auth`).
 * @example
 * await client.auth.userAdd('root', 'secret');
 * await client.auth.userGrantRole('root', 'root');
 * await client.auth.enable();
 */
export class Auth {
  /** @internal */
  constructor(private readonly conn: Connection) {}

  private call<T>(method: (typeof RPC.Auth)[keyof typeof RPC.Auth], req: object, options: CallOptions): Promise<T> {
    return this.conn.unary<T>(method, req, options, 'write');
  }

  /** Enables authentication (needs a `root` user with the `root` role). @example await client.auth.enable(); */
  async enable(options: CallOptions = {}): Promise<void> {
    await this.call(RPC.Auth.AuthEnable, {}, options);
  }
  /** Disables authentication. @example await client.auth.disable(); */
  async disable(options: CallOptions = {}): Promise<void> {
    await this.call(RPC.Auth.AuthDisable, {}, options);
  }
  /** Whether authentication is enabled (etcd 3.5 and Cairn; etcd 3.4 answers UnimplementedError). @example const { enabled } = await client.auth.status(); */
  async status(options: CallOptions = {}): Promise<{ enabled: boolean }> {
    const r = await this.conn.unary<pb.AuthStatusResponse>(RPC.Auth.AuthStatus, {}, options, 'read');
    return { enabled: r.enabled === true };
  }
  /** Adds a user. @example await client.auth.userAdd('alice', 'pw'); */
  async userAdd(user: string, password: string, options: CallOptions = {}): Promise<void> {
    await this.call(RPC.Auth.UserAdd, { name: name(user, 'user'), password, options: { noPassword: false } }, options);
  }
  /** A user's roles. @example const roles = await client.auth.userGet('alice'); */
  async userGet(user: string, options: CallOptions = {}): Promise<string[]> {
    const r = await this.conn.unary<pb.AuthUserGetResponse>(RPC.Auth.UserGet, { name: name(user, 'user') }, options, 'read');
    return r.roles ?? [];
  }
  /** Every user. @example const users = await client.auth.userList(); */
  async userList(options: CallOptions = {}): Promise<string[]> {
    const r = await this.conn.unary<pb.AuthUserListResponse>(RPC.Auth.UserList, {}, options, 'read');
    return r.users ?? [];
  }
  /** Deletes a user. @example await client.auth.userDelete('alice'); */
  async userDelete(user: string, options: CallOptions = {}): Promise<void> {
    await this.call(RPC.Auth.UserDelete, { name: name(user, 'user') }, options);
  }
  /** Changes a user's password. @example await client.auth.userChangePassword('alice', 'new'); */
  async userChangePassword(user: string, password: string, options: CallOptions = {}): Promise<void> {
    await this.call(RPC.Auth.UserChangePassword, { name: name(user, 'user'), password }, options);
  }
  /** Grants a role to a user. @example await client.auth.userGrantRole('alice', 'reader'); */
  async userGrantRole(user: string, role: string, options: CallOptions = {}): Promise<void> {
    await this.call(RPC.Auth.UserGrantRole, { user: name(user, 'user'), role: name(role, 'role') }, options);
  }
  /** Revokes a role from a user. @example await client.auth.userRevokeRole('alice', 'reader'); */
  async userRevokeRole(user: string, role: string, options: CallOptions = {}): Promise<void> {
    await this.call(RPC.Auth.UserRevokeRole, { name: name(user, 'user'), role: name(role, 'role') }, options);
  }
  /** Adds a role. @example await client.auth.roleAdd('reader'); */
  async roleAdd(role: string, options: CallOptions = {}): Promise<void> {
    await this.call(RPC.Auth.RoleAdd, { name: name(role, 'role') }, options);
  }
  /** A role's permissions. @example const perms = await client.auth.roleGet('reader'); */
  async roleGet(role: string, options: CallOptions = {}): Promise<Permission[]> {
    const r = await this.conn.unary<pb.AuthRoleGetResponse>(RPC.Auth.RoleGet, { role: name(role, 'role') }, options, 'read');
    return (r.perm ?? []).map((p) => ({
      type: (['read', 'write', 'readwrite'] as const)[p.permType ?? 0] ?? 'read',
      key: Buffer.from(p.key ?? []),
      rangeEnd: Buffer.from(p.rangeEnd ?? []),
    }));
  }
  /** Every role. @example const roles = await client.auth.roleList(); */
  async roleList(options: CallOptions = {}): Promise<string[]> {
    const r = await this.conn.unary<pb.AuthRoleListResponse>(RPC.Auth.RoleList, {}, options, 'read');
    return r.roles ?? [];
  }
  /** Deletes a role. @example await client.auth.roleDelete('reader'); */
  async roleDelete(role: string, options: CallOptions = {}): Promise<void> {
    await this.call(RPC.Auth.RoleDelete, { role: name(role, 'role') }, options);
  }
  /**
   * Grants a role `type` access to a key or range (`{ prefix }`, `{ key, rangeEnd }`, ...).
   * @example await client.auth.roleGrantPermission('reader', 'read', { prefix: 'app/' });
   */
  async roleGrantPermission(role: string, type: PermissionType, keys: KeyOrSelector, options: CallOptions = {}): Promise<void> {
    if (!(type in PERM)) throw new InvalidArgumentError(`unknown permission type '${type}'`);
    const r = resolveSelector(keys, Namespace.root);
    await this.call(RPC.Auth.RoleGrantPermission, { name: name(role, 'role'), perm: { permType: PERM[type], key: r.key, rangeEnd: r.rangeEnd } }, options);
  }
  /**
   * Revokes a role's permission on a key or range.
   * @example await client.auth.roleRevokePermission('reader', { prefix: 'app/' });
   */
  async roleRevokePermission(role: string, keys: KeyOrSelector, options: CallOptions = {}): Promise<void> {
    const r = resolveSelector(keys, Namespace.root);
    await this.call(RPC.Auth.RoleRevokePermission, { role: name(role, 'role'), key: r.key, rangeEnd: r.rangeEnd }, options);
  }
}

