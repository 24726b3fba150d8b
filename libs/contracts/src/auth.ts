/** Operator roles: viewers watch; admins also register devices and issue or revoke device tokens. */
export const OPERATOR_ROLES = ['viewer', 'admin'] as const;
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
} as const;

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
}

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
