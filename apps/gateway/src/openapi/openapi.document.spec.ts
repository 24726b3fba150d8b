import { ErrorCode, HTTP_STATUS_OF } from '@fieldline/contracts';
import { checkOpenApi31, schemaValidator } from '../../test/openapi.check';
import { buildOpenApiDocument } from './openapi.document';

describe('OpenAPI document', () => {
  const doc = buildOpenApiDocument() as Record<string, any>;

  it('is a valid OpenAPI 3.1 document whose schemas compile as JSON Schema 2020-12', () => {
    expect(checkOpenApi31(doc)).toEqual([]);
  });

  it('the checker finds what is wrong', () => {
    const broken = JSON.parse(JSON.stringify(doc));
    broken.openapi = '3.0.3';
    broken.paths['/api/devices/{id}'].get.parameters = [];
    broken.paths['/api/devices'].get.responses['200'].content['application/json'].schema.items.$ref =
      '#/components/schemas/Nope';
    broken.paths['/api/devices'].get.responses['200'].description = undefined;
    broken.paths['/api/devices'].get.tags = ['undeclared'];
    expect(checkOpenApi31(broken)).toEqual(
      expect.arrayContaining([
        'openapi must be 3.1.x',
        'GET /api/devices/{id}: {id} is not described',
        expect.stringContaining('$ref #/components/schemas/Nope dangles'),
        'GET /api/devices 200: description required',
        'GET /api/devices: tag undeclared not declared',
      ]),
    );
  });

  it('lists every error code with its HTTP status, and uses each status the code has', () => {
    const codes = doc.components.schemas.ErrorCode;
    expect([...codes.enum].sort()).toEqual(Object.values(ErrorCode).sort());
    expect(codes['x-http-status']).toEqual(HTTP_STATUS_OF);
    for (const item of Object.values<any>(doc.paths)) {
      for (const op of Object.values<any>(item)) {
        for (const code of op['x-error-codes'] ?? [])
          expect(op.responses[String(HTTP_STATUS_OF[code as ErrorCode])]).toBeDefined();
      }
    }
  });

  it('describes the reading body with the zod schema the gateway validates with', () => {
    const validate = schemaValidator(doc);
    expect(validate('ReadingInput', { ts: 1, seq: 3, metrics: { temp: 21.5 }, tags: { site: 'a' } })).toEqual([]);
    expect(validate('ReadingInput', { metrics: { '1bad': 1 } })).not.toEqual([]);
    expect(validate('Message', { readings: [{ metrics: { t: 1 } }] })).toEqual([]);
    expect(doc.paths['/api/devices/{id}/readings'].post.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Message',
    });
  });

  it('describes the raw routes too: WebSocket ingest, health, metrics and the line-protocol routes', () => {
    for (const [path, method] of [
      ['/ingest', 'get'],
      ['/health', 'get'],
      ['/metrics', 'get'],
      ['/write', 'post'],
      ['/api/v2/write', 'post'],
      ['/ping', 'get'],
      ['/query', 'post'],
    ])
      expect(doc.paths[path]?.[method]).toBeDefined();
  });
});
