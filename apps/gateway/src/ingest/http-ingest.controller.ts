import { Controller, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  ErrorCode,
  FieldlineError,
  type IngestResponse,
  isValidDeviceId,
  errorMessage,
  RestRoute,
} from '@fieldline/contracts';
import { Public } from '../common/access';
import { authenticatedDevice } from '../auth/http.middleware';
import { sendHttpError } from '../common/error.filter';
import { IngestPipeline } from './ingest.pipeline';

/**
 * HTTP ingest: `POST /api/devices/:id/readings` with one reading or `{ readings: [...] }`. The device token was
 * checked before the body was read (auth/http.middleware.ts); no operator token is involved.
 */
@Controller()
export class HttpIngestController {
  constructor(private readonly pipeline: IngestPipeline) {}

  @Public()
  @Post(RestRoute.readings)
  async ingest(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    try {
      if (!isValidDeviceId(id))
        throw new FieldlineError(
          ErrorCode.INVALID_DEVICE_ID,
          'the device id in the path must be 1–64 characters of A-Z a-z 0-9 _ . -',
        );
      if (authenticatedDevice(res) !== id)
        throw new FieldlineError(ErrorCode.UNAUTHORIZED, 'a device token is required: Authorization: Bearer <token>');
      // Without a body, express.raw leaves `{}`: treat as empty.
      const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const { readings, errors } = this.pipeline.ingest(body, 'http', id);
      if (readings.length === 0) {
        const e = errors[0];
        throw new FieldlineError(e.code, e.message, { errors });
      }
      const answer: IngestResponse = { accepted: readings.length, rejected: errors.length, errors };
      // 202 only once the readings are in the spool.
      await this.pipeline.durable().catch((err: unknown) => {
        throw new FieldlineError(ErrorCode.STORE_UNAVAILABLE, 'the readings could not be stored; retry later', {
          retryAfterMs: 1000,
          cause: errorMessage(err),
        });
      });
      res.status(202).json(answer);
    } catch (err) {
      sendHttpError(res, err);
    }
  }
}
