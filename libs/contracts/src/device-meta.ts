import { z } from 'zod';
import { LIMITS, METRIC_NAME_PATTERN, TAG_KEY_PATTERN } from './limits';

/** What a metric of a device means, for display. */
export const MetricMetaSchema = z
  .object({
    metric: z.string().regex(METRIC_NAME_PATTERN),
    unit: z.string().max(32).nullable(),
    displayName: z.string().max(128).nullable(),
    /** Decimal places to show. */
    precision: z.number().int().min(0).max(12).nullable(),
    /** Expected range; readings outside are still stored. */
    min: z.number().nullable(),
    max: z.number().nullable(),
  })
  .refine((m) => m.min === null || m.max === null || m.min <= m.max, { message: 'min must not exceed max' });

/** A device's labels and metric metadata: `GET` (operators) and `PUT` (admin) at {@link deviceMetaPath}. */
export const DeviceMetaSchema = z.object({
  site: z.string().min(1).max(128).nullable(),
  model: z.string().min(1).max(128).nullable(),
  /** Free key-values. */
  tags: z
    .record(z.string().regex(TAG_KEY_PATTERN), z.string().max(LIMITS.maxTagValueLength))
    .refine((t) => Object.keys(t).length <= LIMITS.maxTags, { message: `at most ${LIMITS.maxTags} tags` }),
  metrics: z
    .array(MetricMetaSchema)
    .max(LIMITS.maxMetrics)
    .refine((ms) => new Set(ms.map((m) => m.metric)).size === ms.length, { message: 'a metric is listed twice' }),
});

/** The body of `PUT`: only the parts given are replaced (`metrics` replaces the whole list). */
export const DeviceMetaPatchSchema = DeviceMetaSchema.partial().strict();

export type MetricMeta = z.infer<typeof MetricMetaSchema>;
export type DeviceMeta = z.infer<typeof DeviceMetaSchema>;
export type DeviceMetaPatch = z.infer<typeof DeviceMetaPatchSchema>;
/** `GET` / `PUT` answer. */
export interface DeviceMetaResponse extends DeviceMeta {
  deviceId: string;
}

/** Path of a device's labels and metric metadata. */
export const deviceMetaPath = (deviceId: string): string => `/api/devices/${encodeURIComponent(deviceId)}/meta`;
