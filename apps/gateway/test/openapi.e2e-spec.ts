import { checkOpenApi31, schemaValidator } from './openapi.check';
import { startGateway, type TestGateway } from './support';

/** Every route the running gateway maps, from Express's router: `GET /api/devices/:id` and so on. */
function mappedRoutes(gw: TestGateway): string[] {
  type Router = { stack: any[] };
  const app: { router?: Router; _router?: Router } = gw.app.getHttpAdapter().getInstance();
  const stack = (app.router ?? app._router)!.stack;
  const out: string[] = [];
  for (const layer of stack) {
    if (!layer.route) continue;
    const paths: string[] = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
    for (const method of Object.keys(layer.route.methods))
      for (const p of paths) out.push(`${method.toUpperCase()} ${p}`);
  }
  return out;
}

/** `/api/devices/{id}` → `/api/devices/:id` */
const expressPath = (p: string): string => p.replace(/\{([^}]+)\}/g, ':$1');

describe('OpenAPI', () => {
  let gw: TestGateway;
  let doc: Record<string, any>;

  beforeAll(async () => {
    gw = await startGateway();
    const res = await fetch(gw.url + '/api/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = (await res.json()) as Record<string, any>;
  });
  afterAll(() => gw.stop());

  it('serves a valid OpenAPI 3.1 document without credentials', () => {
    expect(checkOpenApi31(doc)).toEqual([]);
  });

  it('describes every route the gateway maps', () => {
    const described = new Set(
      Object.entries<Record<string, unknown>>(doc.paths).flatMap(([path, item]) =>
        Object.keys(item).map((m) => `${m.toUpperCase()} ${expressPath(path)}`),
      ),
    );
    const routes = mappedRoutes(gw);
    // Sanity: the enumeration sees the controllers at all.
    expect(routes).toEqual(expect.arrayContaining(['GET /api/devices/:id/readings', 'POST /api/auth/login']));
    expect(routes.length).toBeGreaterThan(15);
    const missing = routes.filter((r) => !described.has(r));
    expect(missing).toEqual([]);
  });

  it('live answers match the documented schemas', async () => {
    const validate = schemaValidator(doc);
    await gw.post('doc-1', { ts: Date.now(), metrics: { temp: 20 } });
    const list = await gw.get('/api/devices');
    expect(list.status).toBe(200);
    for (const d of list.body) expect(validate('DeviceSummary', d)).toEqual([]);
    const history = await gw.get('/api/devices/doc-1/readings?bucket=raw');
    expect(validate('HistoryResponse', history.body)).toEqual([]);
    const me = await gw.get('/api/auth/me');
    expect(validate('OperatorSession', me.body)).toEqual([]);
    const bad = await gw.get('/api/devices/doc-1/readings?maxPoints=0');
    expect(bad.status).toBe(400);
    expect(validate('ErrorBody', bad.body)).toEqual([]);
  });

  it('serves /api/docs, a self-contained page that loads the document', async () => {
    const res = await fetch(gw.url + '/api/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain("fetch('openapi.json')");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
  });
});
