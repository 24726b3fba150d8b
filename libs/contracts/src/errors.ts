/** Every error code a client of Fieldline can receive, on any channel. */
export const ErrorCode = {
  /** The message is not valid JSON (or not UTF-8). */
  MALFORMED_JSON: 'MALFORMED_JSON',
  /** The message is JSON but not a reading object nor `{ readings: [...] }`. */
  INVALID_MESSAGE: 'INVALID_MESSAGE',
  /** A reading is not an object or misses a required field. */
  INVALID_READING: 'INVALID_READING',
  /** The device id is missing or does not match the id pattern. */
  INVALID_DEVICE_ID: 'INVALID_DEVICE_ID',
  /** The device id in the payload differs from the one of the channel (topic, URL or connection). */
  DEVICE_ID_MISMATCH: 'DEVICE_ID_MISMATCH',
  /** `ts` is not epoch milliseconds or ISO-8601, or lies outside the accepted window. */
  INVALID_TIMESTAMP: 'INVALID_TIMESTAMP',
  /** `seq` is not a non-negative safe integer. */
  INVALID_SEQ: 'INVALID_SEQ',
  /** `metrics` is missing, empty or not an object. */
  NO_METRICS: 'NO_METRICS',
  /** A metric name does not match the metric name pattern. */
  INVALID_METRIC_NAME: 'INVALID_METRIC_NAME',
  /** A metric value is not a finite number. */
  INVALID_METRIC_VALUE: 'INVALID_METRIC_VALUE',
  /** A reading carries more metrics than allowed. */
  TOO_MANY_METRICS: 'TOO_MANY_METRICS',
  /** `tags` is not an object of short strings, or has too many entries. */
  INVALID_TAGS: 'INVALID_TAGS',
  /** A batch holds more readings than allowed. */
  BATCH_TOO_LARGE: 'BATCH_TOO_LARGE',
  /** A batch holds no reading. */
  EMPTY_BATCH: 'EMPTY_BATCH',
  /** The message is larger than the size limit. */
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  /** The MQTT topic is not one devices may publish to. */
  INVALID_TOPIC: 'INVALID_TOPIC',
  /** Missing, malformed, forged, expired or revoked credentials (operator JWT or device token). */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /**
   * The request's `Host` is not a name the gateway answers to (`PUBLIC_URL`, `ALLOWED_HOSTS`): a DNS-rebinding page,
   * or a proxy that forwards a name nobody configured. Answered before anything else, on HTTP and upgrades alike.
   */
  HOST_NOT_ALLOWED: 'HOST_NOT_ALLOWED',
  /** Valid credentials, but not allowed to do this (a viewer's admin request; a device speaking for another device). */
  FORBIDDEN: 'FORBIDDEN',
  /** Too many readings (per-device rate limit), login attempts or subscriptions: retry later (`retryAfterMs`). */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A request parameter (query string, path, event payload) is invalid. */
  INVALID_REQUEST: 'INVALID_REQUEST',
  /** No such resource or path. */
  NOT_FOUND: 'NOT_FOUND',
  /** The resource already exists (e.g. registering a device id twice). */
  CONFLICT: 'CONFLICT',
  /** The store cannot take or answer the request right now. */
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  /**
   * The state store (device registry, operators; SQLite or PostgreSQL) cannot be reached: changes are refused and
   * nothing of them is written; retry later. Ingest of devices whose token was checked before goes on.
   */
  STATE_UNAVAILABLE: 'STATE_UNAVAILABLE',
  /** The gateway is shutting down. */
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  /** Anything else; details are logged on the gateway, never sent. */
  INTERNAL: 'INTERNAL',
} as const;
/** One of the error codes above. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The one error shape on every channel. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** An error with a code, thrown by transports and the pipeline and turned into an {@link ErrorBody} at the edge. */
export class FieldlineError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'FieldlineError';
  }

  /** The wire form of this error. */
  toBody(): ErrorBody {
    return this.details
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

/** Builds an {@link ErrorBody}. */
export function errorBody(code: ErrorCode, message: string, details?: Record<string, unknown>): ErrorBody {
  return details ? { code, message, details } : { code, message };
}

/** HTTP status answering each error code. */
export const HTTP_STATUS_OF: Record<ErrorCode, number> = {
  MALFORMED_JSON: 400,
  INVALID_MESSAGE: 400,
  INVALID_READING: 400,
  INVALID_DEVICE_ID: 400,
  DEVICE_ID_MISMATCH: 400,
  INVALID_TIMESTAMP: 400,
  INVALID_SEQ: 400,
  NO_METRICS: 400,
  INVALID_METRIC_NAME: 400,
  INVALID_METRIC_VALUE: 400,
  TOO_MANY_METRICS: 400,
  INVALID_TAGS: 400,
  BATCH_TOO_LARGE: 400,
  EMPTY_BATCH: 400,
  MESSAGE_TOO_LARGE: 413,
  INVALID_TOPIC: 400,
  UNAUTHORIZED: 401,
  HOST_NOT_ALLOWED: 421,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  INVALID_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  STORE_UNAVAILABLE: 503,
  STATE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
};
