import type { Namespace as IoNamespace } from 'socket.io';
import {
  type Command,
  CommandsEvent,
  type DeviceSummary,
  DevicesEvent,
  type DevicesClientEvents,
  type DevicesServerEvents,
} from '@fieldline/contracts';
import type { PresenceListener } from './presence.service';

type DevicesNamespace = IoNamespace<DevicesClientEvents, DevicesServerEvents>;

/**
 * The outbound side of `/devices`: presence changes to this node's operators. To this node's clients only: with
 * several nodes, each node derives the same presence from the shared state and tells its own clients (a broadcast
 * through the Redis adapter would reach every client once per node). The namespace comes from Socket.IO when the
 * HTTP server starts (DevicesGateway.afterInit).
 */
export class DevicesChannel implements PresenceListener {
  private ns: DevicesNamespace | null = null;

  /** Called once by the Nest gateway with the namespace Socket.IO created. */
  open(ns: DevicesNamespace): void {
    this.ns = ns;
  }

  online(device: DeviceSummary): void {
    this.ns?.local.emit(DevicesEvent.online, device);
  }

  offline(device: DeviceSummary): void {
    this.ns?.local.emit(DevicesEvent.offline, device);
  }

  updated(devices: DeviceSummary[]): void {
    this.ns?.local.emit(DevicesEvent.updated, devices);
  }

  /** A command changed status (commands/). This node's changes to this node's operators. */
  command(command: Command): void {
    this.ns?.local.emit(CommandsEvent.update, command);
  }
}
