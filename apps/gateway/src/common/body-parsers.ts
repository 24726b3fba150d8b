import type { INestApplication } from '@nestjs/common';
import express, { type RequestHandler } from 'express';
import { LIMITS, RestRoute } from '@fieldline/contracts';
import { sendHttpError } from './error.filter';

/** Ingest routes take the raw bytes, so the ingest pipeline is the one place that parses a reading. */
export const INGEST_ROUTE = RestRoute.readings;

function answered(parser: RequestHandler): RequestHandler {
  // body-parser errors happen before Nest's routing; answer them here in the common error shape.
  return (req, res, next) => parser(req, res, (err?: unknown) => (err ? sendHttpError(res, err) : next()));
}

export function useBodyParsers(app: INestApplication): void {
  app.use(INGEST_ROUTE, answered(express.raw({ type: () => true, limit: LIMITS.maxMessageBytes })));
  app.use(answered(express.json({ limit: '16kb' })));
}
