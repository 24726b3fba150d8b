/**
 * Operator roles, least to most: viewers watch; operators also acknowledge alarms and send commands; admins also
 * register devices, issue or revoke device tokens and manage users.
 */
export const OPERATOR_ROLES = ['viewer', 'operator', 'admin'] as const;
/** One of {@link OPERATOR_ROLES}. */
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/** REST paths of operator login and of device registration. */
export const AuthPath = {
  /** `POST {username, password}` → {@link LoginResponse}. */
  login: '/api/auth/login',
  /** `GET` → {@link OperatorSession}: who the bearer token belongs to. */
  me: '/api/auth/me',
  /** `POST {deviceId, name?}` (admin) → {@link DeviceTokenResponse}, 201. */
  devices: '/api/devices',
  /** `GET` (admin) → {@link DeviceRegistration}[]: every registered device, without tokens. */
  registrations: '/api/auth/devices',
  /** `POST {username}` (admin) → {@link UnlockResponse}: clears the user name's failed-login delay. */
  unlock: '/api/auth/unlock',
  /** `POST {refreshToken}` → {@link LoginResponse}: a new access token and the next refresh token (rotation). */
  refresh: '/api/auth/refresh',
  /** `POST {refreshToken}` → 204: ends that session (its refresh token and the ones rotated from it). */
  logout: '/api/auth/logout',
  /** `POST {currentPassword, newPassword}` → {@link LoginResponse}: changes the caller's password, ends the rest. */
  password: '/api/auth/password',
  /** `GET` (admin) → {@link OperatorUser}[]; `POST {username, role, password?}` (admin) → {@link NewPasswordResponse}. */
  users: '/api/users',
} as const;

/** `PATCH {role?, disabled?}` (admin) → {@link OperatorUser}; `DELETE` (admin) → 204. */
export const userPath = (username: string): string => `/api/users/${encodeURIComponent(username)}`;
/** `POST {password?}` (admin) → {@link NewPasswordResponse}: sets a password, or makes a one-time one. */
export const userPasswordPath = (username: string): string => `/api/users/${encodeURIComponent(username)}/password`;

/** Does `role` include what `needed` may do (admin ⊃ operator ⊃ viewer)? */
export const roleAtLeast = (role: OperatorRole, needed: OperatorRole): boolean =>
  OPERATOR_ROLES.indexOf(role) >= OPERATOR_ROLES.indexOf(needed);

/**
 * Cookie the gateway sets on a successful login (HttpOnly, SameSite=Strict, path {@link AuthPath.login}): it marks
 * the browser as one that has logged in as that user before, so its next logins skip the delay that failed guesses
 * from elsewhere put on the user name, and go to the front of the password-hashing queue (docs/security.md#login-against-guessing-and-floods).
 */
export const KNOWN_CLIENT_COOKIE = 'fieldline_client';
/** {@link KNOWN_CLIENT_COOKIE} as it is named when the login came over TLS (then it is `Secure` too). */
export const KNOWN_CLIENT_COOKIE_SECURE = `__Secure-${KNOWN_CLIENT_COOKIE}`;

/** `POST /api/devices/<id>/token` rotates (admin), `DELETE` revokes (admin). */
export const deviceTokenPath = (deviceId: string): string => `/api/devices/${encodeURIComponent(deviceId)}/token`;
/** `GET` (admin): a device's registration, without its token. */
export const deviceRegistrationPath = (deviceId: string): string =>
  `/api/devices/${encodeURIComponent(deviceId)}/registration`;

/** JWT claims the gateway checks: issuer and audience are fixed, the algorithm is HS256 only. */
export const JWT_ISSUER = 'fieldline';
export const JWT_AUDIENCE = 'fieldline:operators';

/** `POST /api/auth/login` body. */
export interface LoginRequest {
  username: string;
  password: string;
  /** The current 6-digit one-time code, for users with a TOTP secret (TOTP_SECRETS); ignored for others. */
  totp?: string;
}

/** `POST /api/auth/login` answer: send `Authorization: Bearer <accessToken>` on REST, `auth: {token}` on Socket.IO. */
export interface LoginResponse {
  accessToken: string;
  tokenType: 'Bearer';
  /** Seconds until the token expires. */
  expiresIn: number;
  username: string;
  role: OperatorRole;
  /**
   * Opaque, single use: `POST /api/auth/refresh` trades it for a new access token and the next refresh token.
   * Presenting one that was already traded ends the whole session (it was stolen, or the client is confused).
   */
  refreshToken: string;
  /** Seconds until the refresh token expires (REFRESH_TTL). */
  refreshExpiresIn: number;
}

/** `POST /api/auth/refresh` and `POST /api/auth/logout` body. */
export interface RefreshRequest {
  refreshToken: string;
}

/** `POST /api/auth/password` body: the caller's own password change. */
export interface ChangePasswordRequest {
  currentPassword: string;
  newPassword: string;
}

/** A user as admins see it (`GET /api/users`); never its password hash. */
export interface OperatorUser {
  username: string;
  role: OperatorRole;
  /** Epoch ms; null while the user may log in. */
  disabledAt: number | null;
  createdAt: number;
  updatedAt: number;
  passwordChangedAt: number;
  /** Does the user log in with a TOTP code too (TOTP_SECRETS)? */
  totp: boolean;
}

/** `POST /api/users` body (admin): without `password`, the gateway makes a one-time one and answers it. */
export interface CreateUserRequest {
  username: string;
  role: OperatorRole;
  password?: string;
}

/** `PATCH /api/users/:username` body (admin). */
export interface UpdateUserRequest {
  role?: OperatorRole;
  disabled?: boolean;
}

/** Answer of user creation (201) and password reset (200); `password` only when the gateway made it: shown once. */
export interface NewPasswordResponse {
  user: OperatorUser;
  password?: string;
}

/** Shortest operator password the gateway takes. */
export const MIN_OPERATOR_PASSWORD_LENGTH = 8;
/** User names: 1–64 of `A-Z a-z 0-9 _ . @ -`. */
export const OPERATOR_USERNAME_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;

/** `GET /api/auth/me` answer. */
export interface OperatorSession {
  username: string;
  role: OperatorRole;
  /** Epoch ms at which the token expires. */
  expiresAt: number;
}

/** `POST /api/auth/unlock` body (admin). */
export interface UnlockRequest {
  username: string;
}

/** `POST /api/auth/unlock` answer: the failed logins that were forgotten (0 when the name had none). */
export interface UnlockResponse {
  username: string;
  failures: number;
}

/** `POST /api/devices` body (admin). */
export interface RegisterDeviceRequest {
  deviceId: string;
  /** A display name, at most 128 characters. */
  name?: string;
}

/** A registered device as admins see it; the token itself is shown only once, when issued. */
export interface DeviceRegistration {
  deviceId: string;
  name?: string;
  /** Epoch ms of the registration. */
  createdAt: number;
  /** Epoch ms the current token was issued, or null when the device has no valid token (revoked). */
  tokenIssuedAt: number | null;
}

/** Answer of registration (201) and rotation (200): the device token, shown this one time only. */
export interface DeviceTokenResponse extends DeviceRegistration {
  token: string;
}

/** Longest device token the gateway looks at; longer ones are refused unread. */
export const MAX_DEVICE_TOKEN_LENGTH = 256;

/** Audit actions of user management and sessions (the audit log, `GET /api/audit`, lists them by these names). */
export const UserAuditAction = {
  create: 'user.create',
  role: 'user.role',
  disable: 'user.disable',
  enable: 'user.enable',
  resetPassword: 'user.password.reset',
  delete: 'user.delete',
  /** A user changed their own password. */
  changePassword: 'auth.password',
  logout: 'auth.logout',
  /** A rotated refresh token came back: the whole session was ended. */
  refreshReuse: 'auth.refresh.reuse',
  /** A user from USERS/ADMIN_PASSWORD created in the store at start. */
  bootstrap: 'user.bootstrap',
} as const;
