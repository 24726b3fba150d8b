import { Module } from '@nestjs/common';
import { OpenApiController } from './openapi.controller';

/** The API's own description: OpenAPI 3.1 document and docs page. */
@Module({ controllers: [OpenApiController] })
export class OpenApiModule {}
