/** What `/` shows when the dashboard has not been built (`npm run build` builds it). */
export const PLACEHOLDER_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fieldline</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto">
<h1>Fieldline gateway</h1>
<p>The dashboard is not built: run <code>npm run build</code> (or <code>npm start</code>) and reload.</p>
<ul>
<li><a href="/api/devices">/api/devices</a>: devices, online state and latest values</li>
<li>/api/devices/&lt;id&gt;/readings?from=&amp;to=&amp;bucket=auto&amp;agg=mean&amp;maxPoints=1000: history</li>
<li><a href="/health">/health</a>: readiness</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
</ul>
<p>Live readings: Socket.IO namespace <code>/telemetry</code>, event <code>subscribe {deviceId, since?}</code>.</p>
</body></html>`;
