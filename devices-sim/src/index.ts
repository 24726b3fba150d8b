export { Simulator, makeIds, DEFAULT_URL, DEFAULT_MQTT_URL } from './simulator';
export type { SimulatorOptions, SimStats, SimulatorEvents } from './simulator';
export { SimDevice, Deque, PROTOCOLS } from './device';
export type {
  AckEvent,
  DeviceListener,
  DeviceOptions,
  DeviceStats,
  OutMessage,
  Protocol,
  RawAnswer,
  RawOptions,
  RefusedEvent,
  Transport,
  TransportFactory,
  TransportSink,
} from './device';
export { SensorModel, mulberry32, hashSeed } from './sensors';
export type { SensorMetrics, SensorModelOptions } from './sensors';
export { BAD_REPLY, outcomeOfHttp, outcomeOfWsReply, parseMqttError, parseWsReply } from './replies';
export type { Outcome, Refusal } from './replies';
export { Backoff, backoffMs, type ReconnectOptions } from '@fieldline/contracts';
export { HttpTransport, MqttTransport, TransportError, WsTransport, ingestUrl } from './transports';
export type { HttpTransportOptions, MqttTransportOptions, WsTransportOptions } from './transports';
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
