/** MQTT 3.1.1 CONNACK return codes Fieldline sends or acts on. */
export const ConnackCode = {
  /** Connection accepted. */
  ACCEPTED: 0,
  /** The broker does not speak the requested protocol version. */
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  /** The client id is not allowed (the embedded broker: longer than 256 characters; any other id is scoped to its device). */
  IDENTIFIER_REJECTED: 2,
  /**
   * The server is unavailable (the embedded broker: the device already holds `DEVICE_MQTT_CONNECTIONS` connections;
   * MQTT 3.1.1 has no quota code, and unlike 5 this one tells a client to try again later, not to fix its token).
   */
  SERVER_UNAVAILABLE: 3,
  /** Bad user name or password. */
  BAD_USERNAME_OR_PASSWORD: 4,
  /** Not authorized (the embedded broker: missing, bad or foreign device token, or a forbidden last will). */
  NOT_AUTHORIZED: 5,
} as const;

/** MQTT 5 reason codes (CONNACK and DISCONNECT) Fieldline sends or acts on. */
export const ReasonCode = {
  /** DISCONNECT: leave and have the broker send the will. */
  DISCONNECT_WITH_WILL: 0x04,
  /** CONNACK: unsupported protocol version. */
  UNSUPPORTED_PROTOCOL_VERSION: 0x84,
  /** CONNACK: bad user name or password. */
  BAD_USERNAME_OR_PASSWORD: 0x86,
  /** CONNACK: not authorized. */
  NOT_AUTHORIZED: 0x87,
  /** DISCONNECT: another client connected with the same client id. */
  SESSION_TAKEN_OVER: 0x8e,
} as const;

/** CONNACK codes (3.1.1 and 5) meaning the broker refused the credentials. */
export const MQTT_BAD_CREDENTIALS: readonly number[] = [
  ConnackCode.BAD_USERNAME_OR_PASSWORD,
  ConnackCode.NOT_AUTHORIZED,
  ReasonCode.BAD_USERNAME_OR_PASSWORD,
  ReasonCode.NOT_AUTHORIZED,
];

/** CONNACK codes (3.1.1 and 5) meaning the broker does not speak the requested protocol version. */
export const MQTT_UNSUPPORTED_PROTOCOL: readonly number[] = [
  ConnackCode.UNACCEPTABLE_PROTOCOL_VERSION,
  ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
];
