/**
 * The `/api/docs` page: no CDN is reachable from where the gateway runs and no swagger-ui/redoc package is a
 * dependency, so this small page renders `/api/openapi.json` itself: operations by tag, parameters, bodies,
 * answers with their error codes, the schemas, and a "try it" form that sends the request with a bearer token.
 */
export const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fieldline API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem;color:#1d2430}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem;border-bottom:1px solid #dde}
details{border:1px solid #dde;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code,pre{font:12px/1.4 ui-monospace,monospace}pre{background:#f5f6f8;padding:.5rem;overflow:auto}
.m{display:inline-block;min-width:4.2em;font-weight:700;text-transform:uppercase}.get{color:#1b6}.post{color:#27c}.delete{color:#c33}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.2rem .4rem;text-align:left;vertical-align:top}
input,textarea{font:inherit;width:100%;box-sizing:border-box}button{font:inherit;margin:.3rem 0}
#token{max-width:40rem}
</style></head><body>
<h1 id="title">Fieldline API</h1><p id="desc"></p>
<label>Bearer token for "try it": <input id="token" placeholder="operator JWT or device token"></label>
<div id="ops"></div><h2>Schemas</h2><div id="schemas"></div>
<script>
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'})[c]);
const pre = (v) => '<pre>' + esc(JSON.stringify(v, null, 2)) + '</pre>';
fetch('openapi.json').then((r) => r.json()).then((doc) => {
  document.getElementById('title').textContent = doc.info.title + ' ' + doc.info.version;
  document.getElementById('desc').textContent = doc.info.description;
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item)) (byTag[op.tags[0]] ??= []).push({ path, method, op });
  let html = '';
  for (const [tag, ops] of Object.entries(byTag)) {
    html += '<h2>' + esc(tag) + '</h2>';
    for (const { path, method, op } of ops) {
      const params = op.parameters || [];
      html += '<details><summary><span class="m ' + method + '">' + method + '</span> <code>' + esc(path) + '</code> ' +
        esc(op.summary) + '</summary>' + (op.description ? '<p>' + esc(op.description) + '</p>' : '') +
        '<p>Security: ' + esc(op.security.map((s) => Object.keys(s)[0] || 'none').join(' or ') || 'none') + '</p>';
      if (params.length) html += '<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>' +
        params.map((p) => '<tr><td><code>' + esc(p.name) + '</code>' + (p.required ? ' *' : '') + '</td><td>' + esc(p.in) +
          '</td><td><code>' + esc(JSON.stringify(p.schema)) + '</code></td><td>' + esc(p.description || '') + '</td></tr>').join('') + '</table>';
      if (op.requestBody) html += '<p>Body:</p>' + pre(op.requestBody.content);
      html += '<p>Answers:</p><table>' + Object.entries(op.responses).map(([s, r]) => '<tr><td>' + s + '</td><td>' +
        esc(r.description) + '</td></tr>').join('') + '</table>';
      html += '<form data-path="' + esc(path) + '" data-method="' + method + '"><p>Try it:</p>' +
        params.filter((p) => p.in !== 'header').map((p) => '<label>' + esc(p.name) + ' (' + p.in + ') <input name="' + esc(p.name) +
          '" data-in="' + p.in + '"></label>').join('') +
        (op.requestBody ? '<label>body <textarea name="__body" rows="4"></textarea></label>' : '') +
        '<button>Send</button><pre class="out" hidden></pre></form></details>';
    }
  }
  document.getElementById('ops').innerHTML = html;
  document.getElementById('schemas').innerHTML = Object.entries(doc.components.schemas)
    .map(([n, s]) => '<details><summary><code>' + esc(n) + '</code></summary>' + pre(s) + '</details>').join('');
  document.querySelectorAll('form').forEach((form) => form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let path = form.dataset.path; const query = new URLSearchParams(); let body;
    for (const el of form.querySelectorAll('input,textarea')) {
      if (!el.value) continue;
      if (el.name === '__body') body = el.value;
      else if (el.dataset.in === 'path') path = path.replace('{' + el.name + '}', encodeURIComponent(el.value));
      else query.set(el.name, el.value);
    }
    const token = document.getElementById('token').value;
    const headers = {}; if (token) headers.authorization = 'Bearer ' + token;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const out = form.querySelector('.out'); out.hidden = false;
    try {
      const res = await fetch(path + (query.size ? '?' + query : ''), { method: form.dataset.method.toUpperCase(), headers, body });
      const text = await res.text();
      out.textContent = res.status + ' ' + res.statusText + '\\n' + text.slice(0, 20000);
    } catch (err) { out.textContent = String(err); }
  }));
}).catch((err) => { document.getElementById('ops').textContent = 'cannot load openapi.json: ' + err; });
</script></body></html>
`;
