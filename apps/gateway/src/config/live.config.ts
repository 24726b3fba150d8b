import { z } from 'zod';
import { bytes, type Env, integer, parseSection } from './env';

/**
 * What one operator (a login) may consume on a node: sockets, Socket.IO requests, `since` backfills, history queries. Counted per node;
 * with several nodes behind a load balancer each node limits on its own (docs/security.md#how-the-operator-budgets-work).
 */
export interface OperatorBudgetConfig {
  /** Socket.IO sockets (namespace connections, `/telemetry` and `/devices` alike) one operator may hold. */
  sockets: number;
  /** Requests per second one socket may send (token bucket refill), and its bucket size. */
  socketRate: number;
  socketBurst: number;
  /** Requests per second one operator may send across all its sockets, and the bucket size. */
  operatorRate: number;
  operatorBurst: number;
  /** Requests a socket may send in a row after being answered `RATE_LIMITED` before it is disconnected. */
  strikes: number;
  /** `since` backfills one operator may have running at once, and waiting behind those. */
  operatorBackfills: number;
  operatorBackfillQueue: number;
  /** Backfills running at once on the node (every operator), and waiting behind those. */
  nodeBackfills: number;
  nodeBackfillQueue: number;
  /** Largest backfill answer, in (estimated) bytes: beyond, the oldest readings are left out (`truncated`). */
  backfillMaxBytes: number;
  /** REST history queries and exports one operator may have running at once, and waiting behind those. */
  operatorQueries: number;
  operatorQueryQueue: number;
}

/** Live fan-out to operators. */
export interface LiveConfig {
  /** Under load, readings of a device are coalesced into one event per tick of this length. */
  tickMs: number;
  operators: OperatorBudgetConfig;
}

const live = z
  .object({
    LIVE_TICK_MS: integer(10, 1, 1000),
    OPERATOR_SOCKETS: integer(32, 1, 100_000),
    // A socket may hold LIMITS.maxSubscriptionsPerSocket (1000) rooms and rejoins them all at once after a
    // reconnect: the bucket holds that many and some. Backfills, the costly requests, have their own gate.
    OPERATOR_SOCKET_RATE: integer(50, 1, 1_000_000),
    OPERATOR_SOCKET_BURST: integer(1200, 1, 1_000_000),
    OPERATOR_RATE: integer(200, 1, 1_000_000),
    OPERATOR_BURST: integer(2400, 1, 1_000_000),
    OPERATOR_STRIKES: integer(100, 1, 1_000_000),
    OPERATOR_BACKFILLS: integer(2, 1, 1000),
    OPERATOR_BACKFILL_QUEUE: integer(64, 0, 100_000),
    NODE_BACKFILLS: integer(16, 1, 10_000),
    NODE_BACKFILL_QUEUE: integer(512, 0, 1_000_000),
    BACKFILL_MAX_BYTES: bytes(8 * 1024 ** 2, 64 * 1024, 1024 ** 3),
    // The fleet page loads a sparkline's history per visible row at once: they wait their turn, not refused.
    OPERATOR_QUERIES: integer(4, 1, 1000),
    OPERATOR_QUERY_QUEUE: integer(128, 0, 100_000),
  })
  .transform((e): LiveConfig => ({
    tickMs: e.LIVE_TICK_MS,
    operators: {
      sockets: e.OPERATOR_SOCKETS,
      socketRate: e.OPERATOR_SOCKET_RATE,
      socketBurst: e.OPERATOR_SOCKET_BURST,
      operatorRate: e.OPERATOR_RATE,
      operatorBurst: e.OPERATOR_BURST,
      strikes: e.OPERATOR_STRIKES,
      operatorBackfills: e.OPERATOR_BACKFILLS,
      operatorBackfillQueue: e.OPERATOR_BACKFILL_QUEUE,
      nodeBackfills: e.NODE_BACKFILLS,
      nodeBackfillQueue: e.NODE_BACKFILL_QUEUE,
      backfillMaxBytes: e.BACKFILL_MAX_BYTES,
      operatorQueries: e.OPERATOR_QUERIES,
      operatorQueryQueue: e.OPERATOR_QUERY_QUEUE,
    },
  }));

/**
 * `LIVE_TICK_MS`, `OPERATOR_SOCKETS`, `OPERATOR_SOCKET_RATE`, `OPERATOR_SOCKET_BURST`, `OPERATOR_RATE`,
 * `OPERATOR_BURST`, `OPERATOR_STRIKES`, `OPERATOR_BACKFILLS`, `OPERATOR_BACKFILL_QUEUE`, `NODE_BACKFILLS`,
 * `NODE_BACKFILL_QUEUE`, `BACKFILL_MAX_BYTES`, `OPERATOR_QUERIES`, `OPERATOR_QUERY_QUEUE`.
 */
export const loadLiveConfig = (env: Env): LiveConfig => parseSection(live, env);
