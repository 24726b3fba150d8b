import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '../common/access';
import { buildOpenApiDocument } from './openapi.document';
import { DOCS_PAGE } from './docs.page';

/** `GET /api/openapi.json` (OpenAPI 3.1) and `GET /api/docs` (a self-contained page that renders it). */
@Controller('api')
export class OpenApiController {
  private readonly document = JSON.stringify(buildOpenApiDocument());

  @Public()
  @Get('openapi.json')
  @Header('Content-Type', 'application/json; charset=utf-8')
  openapi(): string {
    return this.document;
  }

  @Public()
  @Get('docs')
  @Header('Content-Type', 'text/html; charset=utf-8')
  docs(): string {
    return DOCS_PAGE;
  }
}
