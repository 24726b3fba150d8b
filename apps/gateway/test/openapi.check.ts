import Ajv2020 from 'ajv/dist/2020';

type Json = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const PARAM_IN = ['query', 'header', 'path', 'cookie'];

/** Resolves a local JSON pointer (`#/components/schemas/X`) in `doc`; undefined when it points nowhere. */
export function resolvePointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof node !== 'object' || node === null || !(key in node)) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

function walk(node: unknown, at: string, visit: (node: Json, at: string) => void): void {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`, visit));
  else if (typeof node === 'object' && node !== null) {
    visit(node, at);
    for (const [k, v] of Object.entries(node)) walk(v, `${at}/${k}`, visit);
  }
}

/**
 * Checks an OpenAPI 3.1 document's structure (the rules of the specification that a generator can get wrong) and
 * compiles every schema with Ajv's JSON Schema 2020-12 dialect. Returns the problems found, empty when valid.
 */
export function checkOpenApi31(doc: Json): string[] {
  const problems: string[] = [];
  const bad = (msg: string): void => void problems.push(msg);
  if (typeof doc.openapi !== 'string' || !/^3\.1\.\d+$/.test(doc.openapi)) bad('openapi must be 3.1.x');
  if (typeof doc.info?.title !== 'string' || typeof doc.info?.version !== 'string')
    bad('info.title and info.version are required strings');
  if (doc.paths === undefined && doc.webhooks === undefined && doc.components === undefined)
    bad('one of paths, webhooks, components is required');
  const schemes = Object.keys(doc.components?.securitySchemes ?? {});
  for (const [name, s] of Object.entries<Json>(doc.components?.securitySchemes ?? {})) {
    if (!['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect'].includes(s.type))
      bad(`securityScheme ${name}: bad type`);
    if (s.type === 'http' && typeof s.scheme !== 'string') bad(`securityScheme ${name}: http needs scheme`);
    if (s.type === 'apiKey' && (!s.name || !['query', 'header', 'cookie'].includes(s.in)))
      bad(`securityScheme ${name}: apiKey needs name and in`);
  }
  const tags = new Set((doc.tags ?? []).map((t: Json) => t.name));
  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    if (!path.startsWith('/')) bad(`path ${path} must start with /`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [method, op] of Object.entries<Json>(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!METHODS.includes(method)) {
        if (!['summary', 'description', 'parameters', 'servers', '$ref'].includes(method))
          bad(`${path}: unknown key ${method}`);
        continue;
      }
      if (op.operationId !== undefined) {
        if (operationIds.has(op.operationId)) bad(`${where}: duplicate operationId ${op.operationId}`);
        operationIds.add(op.operationId);
      }
      for (const t of op.tags ?? []) if (!tags.has(t)) bad(`${where}: tag ${t} not declared`);
      const params: Json[] = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      const seen = new Set<string>();
      for (const p of params) {
        if (typeof p.name !== 'string' || !PARAM_IN.includes(p.in)) bad(`${where}: parameter needs name and in`);
        if (seen.has(`${p.in}:${p.name}`)) bad(`${where}: parameter ${p.name} twice`);
        seen.add(`${p.in}:${p.name}`);
        if (p.in === 'path' && p.required !== true) bad(`${where}: path parameter ${p.name} must be required`);
        if ((p.schema === undefined) === (p.content === undefined))
          bad(`${where}: parameter ${p.name} needs schema xor content`);
        if (p.in === 'path' && !templated.includes(p.name)) bad(`${where}: path parameter ${p.name} not in the path`);
      }
      for (const name of templated)
        if (!params.some((p) => p.in === 'path' && p.name === name)) bad(`${where}: {${name}} is not described`);
      if (op.requestBody && typeof op.requestBody.content !== 'object') bad(`${where}: requestBody needs content`);
      if (typeof op.responses !== 'object' || Object.keys(op.responses).length === 0)
        bad(`${where}: responses required`);
      for (const [status, r] of Object.entries<Json>(op.responses ?? {})) {
        if (!/^([1-5](\d\d|XX)|default)$/.test(status)) bad(`${where}: bad status ${status}`);
        if (typeof r.description !== 'string') bad(`${where} ${status}: description required`);
      }
      for (const req of op.security ?? [])
        for (const s of Object.keys(req)) if (!schemes.includes(s)) bad(`${where}: unknown security scheme ${s}`);
    }
  }
  walk(doc, '#', (node, at) => {
    if (typeof node.$ref === 'string' && resolvePointer(doc, node.$ref) === undefined)
      bad(`${at}: $ref ${node.$ref} dangles`);
  });
  // Every schema is valid JSON Schema 2020-12 (the document is registered whole so that $refs resolve).
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  try {
    ajv.addSchema(doc, 'openapi');
    for (const name of Object.keys(doc.components?.schemas ?? {}))
      ajv.compile({ $ref: `openapi#/components/schemas/${name}` });
    walk(doc.paths, '#/paths', (node, at) => {
      if (typeof node.schema === 'object' && node.schema !== null && !at.includes('/schema'))
        ajv.compile(JSON.parse(JSON.stringify(node.schema).replace(/"#\/components/g, '"openapi#/components')));
    });
  } catch (err) {
    bad(`schema does not compile: ${err instanceof Error ? err.message : String(err)}`);
  }
  return problems;
}

/** A validator of data against one component schema of `doc` (for tests that check live answers). */
export function schemaValidator(doc: Json): (name: string, data: unknown) => string[] {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema(doc, 'openapi');
  return (name, data) => {
    const validate = ajv.compile({ $ref: `openapi#/components/schemas/${name}` });
    return validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  };
}
