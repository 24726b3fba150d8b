export { Simulator, makeIds, DEFAULT_URL, DEFAULT_MQTT_URL } from './simulator';
export type { SimulatorOptions, SimStats, SimulatorEvents } from './simulator';
export { SimDevice } from './device';
export type { TransportFactory } from './device';
export { Deque } from './deque';
export { PROTOCOLS } from './device.types';
export type { AckEvent, DeviceListener, DeviceOptions, DeviceStats, Protocol, RefusedEvent } from './device.types';
export { SensorModel, mulberry32, hashSeed } from './sensors';
export type { SensorMetrics, SensorModelOptions } from './sensors';
export { BAD_REPLY, outcomeOfHttp, outcomeOfWsReply, parseMqttError, parseWsReply } from './replies';
export type { Outcome, Refusal } from './replies';
export { Backoff, backoffMs, type ReconnectOptions } from '@fieldline/contracts';
export { HttpTransport, MqttTransport, TransportError, WsTransport, ingestUrl } from './transports';
export type {
  HttpTransportOptions,
  MqttTransportOptions,
  OutMessage,
  RawAnswer,
  RawOptions,
  Transport,
  TransportSink,
  WsTransportOptions,
} from './transports';
export {
  DeviceFaults,
  FAULT_KINDS,
  FaultSpecError,
  MALFORMED_KINDS,
  OVERSIZE_BYTES,
  SeqSet,
  expandRanges,
  formatFaults,
  hasFaults,
  malformedPayload,
  parseFaults,
  readFaultsFile,
} from './faults';
export type { FaultKind, FaultSpec, FaultStats, FaultTally, MalformedKind } from './faults';
export { login, provisionDevices, readTokensFile } from './provision';
