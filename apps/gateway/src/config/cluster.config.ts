import { hostname } from 'node:os';
import { z } from 'zod';
import { type Env, matching, parseSection, refuse, text, url } from './env';

/** What makes a node one of several: its id, and the Redis they share. */
export interface ClusterConfig {
  /** This node's stable id: its MQTT client id is `fieldline-<nodeId>`. */
  nodeId: string;
  /** Redis (several nodes): Socket.IO adapter and shared presence; null: one node, in memory. */
  redisUrl: string | null;
  /** Prefix of every Redis key and channel, so that several deployments can share one Redis. */
  redisPrefix: string;
}

/** The host name, cut to the node id rule: stable across restarts of one machine or pod. */
function defaultNodeId(): string {
  const id = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 64);
  return id === '' ? 'node' : id;
}

const schema = z
  .object({
    REDIS_URL: url(['redis:', 'rediss:']),
    // Only whether they are set: the MQTT and storage sections check their values.
    MQTT_URL: text(null),
    INFLUX_URL: text(null),
    NODE_ID: matching(defaultNodeId(), /^[A-Za-z0-9_.-]{1,64}$/, '1–64 characters of A-Z a-z 0-9 _ . -'),
    REDIS_KEY_PREFIX: matching('fieldline', /^[A-Za-z0-9_.:-]{1,64}$/, '1–64 characters of A-Z a-z 0-9 _ . : -'),
  })
  .transform((e, ctx): ClusterConfig => {
    // Several nodes share state through Redis; they must also share the broker and the store, or data is lost or split.
    if (e.REDIS_URL !== null && e.MQTT_URL === null)
      return refuse(
        ctx,
        'MQTT_URL',
        'REDIS_URL is set (several gateway nodes) but MQTT_URL is not: the embedded broker has no shared ' +
          'subscriptions, so each node would only see the devices connected to it; set MQTT_URL to an external ' +
          'broker (Mosquitto, EMQX) or unset REDIS_URL to run one node',
      );
    if (e.REDIS_URL !== null && e.INFLUX_URL === null)
      return refuse(
        ctx,
        'INFLUX_URL',
        'REDIS_URL is set (several gateway nodes) but INFLUX_URL is not: each node would keep its own embedded ' +
          'store, so history and reconnect backfill would depend on the node; set INFLUX_URL or unset REDIS_URL',
      );
    return { nodeId: e.NODE_ID, redisUrl: e.REDIS_URL, redisPrefix: e.REDIS_KEY_PREFIX };
  });

/** `NODE_ID`, `REDIS_URL`, `REDIS_KEY_PREFIX` (and whether `MQTT_URL` and `INFLUX_URL` are set, for REDIS_URL). */
export const loadClusterConfig = (env: Env): ClusterConfig => parseSection(schema, env);
