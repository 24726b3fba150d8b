export { MqttTransport, type MqttTransportOptions } from './mqtt.transport';
export { WsTransport, ingestUrl, type WsTransportOptions } from './ws.transport';
export { HttpTransport, type HttpTransportOptions } from './http.transport';
export { TransportError } from './transport';
export type { OutMessage, RawAnswer, RawOptions, Transport, TransportSink } from './transport';
