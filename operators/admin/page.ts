/**
 * The admin service's web page (`GET /`): one HTML document with inline CSS and script, kept as
 * a string module so that `tsc` ships it in dist/ with no copy step, no build tool and no CDN.
 *
 * The script only reads the JSON API, with the credentials the browser already sent for the
 * page (a same-origin fetch reuses them), and inserts data with textContent, never as markup.
 * The Content-Security-Policy allows exactly these inline blocks by hash, so injected markup
 * could not run script even if an escaping mistake let it in.
 */
import { createHash } from 'node:crypto';

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 2rem; color: #222; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
table { border-collapse: collapse; min-width: 40rem; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: left; white-space: nowrap; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: .6rem; max-height: 30rem; overflow: auto; } pre:empty { display: none; }
.bad { color: #b00; } .ok { color: #070; } #status { color: #666; }
button { cursor: pointer; }
`;

// Plain ES2017 with no template literals, so it can live inside this TS template string.
const SCRIPT = `
(function () {
  'use strict';
  var prev = new Map();
  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function bytes(n) {
    if (n === null || n === undefined) return '-';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + u[i];
  }
  function age(ms) {
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + (s % 60) + 's';
    return Math.floor(s / 3600) + 'h' + Math.floor((s % 3600) / 60) + 'm';
  }
  function fill(tbody, rows) {
    tbody.replaceChildren.apply(tbody, rows);
  }
  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (c) {
      if (c instanceof Node) { var td = document.createElement('td'); td.appendChild(c); tr.appendChild(td); }
      else if (typeof c === 'number') tr.appendChild(el('td', c, 'num'));
      else tr.appendChild(el('td', c === null || c === undefined ? '-' : c));
    });
    return tr;
  }
  function api(method, path) {
    return fetch(path, { method: method, credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      return r.text().then(function (t) {
        var body = null;
        try { body = JSON.parse(t); } catch (e) { body = t; }
        return { status: r.status, body: body };
      });
    });
  }
  function status(text, bad) {
    var s = $('status');
    s.textContent = text;
    s.className = bad ? 'bad' : '';
  }

  function services() {
    return api('GET', '/api/services').then(function (r) {
      if (r.status !== 200) throw new Error('/api/services: ' + r.status);
      fill($('services'), r.body.services.map(function (s) {
        var listening = s.port > 0 || String(s.listen).indexOf('unix:') === 0;
        return row([s.name, s.type, s.listen, s.port, el('span', listening ? 'listening' : 'not listening', listening ? 'ok' : 'bad'),
          s.live, s.maxconn, s.accepted]);
      }));
    });
  }

  function closeSession(id, button) {
    button.disabled = true;
    var out = $('close-result');
    // Its own line: the status line is rewritten by every refresh, a refusal must stay readable.
    api('DELETE', '/api/sessions/' + encodeURIComponent(id)).then(function (r) {
      out.textContent = 'close ' + id + ': ' + r.status + ' ' + JSON.stringify(r.body);
      out.className = r.status === 200 ? 'ok' : 'bad';
      if (r.status !== 200) button.disabled = false;
      return sessions();
    }).catch(function (e) { out.textContent = String(e); out.className = 'bad'; button.disabled = false; });
  }

  var sessionRows = new Map();
  function sessionRow(s) {
    var tr = sessionRows.get(s.id);
    if (tr) return tr;
    // Built once per connection and updated in place, so a button keeps its state between refreshes.
    var b = el('button', 'close', 'close');
    b.type = 'button';
    b.addEventListener('click', function () { closeSession(s.id, b); });
    tr = row([s.id, '', '', '', '', '', '', '', '', '', b]);
    tr.dataset.sessionId = String(s.id);
    sessionRows.set(s.id, tr);
    return tr;
  }
  function sessions() {
    return api('GET', '/api/sessions').then(function (r) {
      if (r.status !== 200) throw new Error('/api/sessions: ' + r.status);
      var now = performance.now(), next = new Map(), rows = [];
      r.body.sessions.forEach(function (s) {
        var total = s.bytesIn + s.bytesOut, p = prev.get(s.id), rate = '-';
        // Rate over the last refresh, from the byte counts the API reports; a new row has none yet.
        if (p && now > p.at && p.sessionId === s.sessionId) rate = bytes(Math.max(0, Math.round((total - p.total) * 1000 / (now - p.at)))) + '/s';
        next.set(s.id, { at: now, total: total, sessionId: s.sessionId });
        var tr = sessionRow(s);
        tr.dataset.service = s.service;
        var texts = [s.id, s.user, s.client, s.target, s.service, s.operation, bytes(s.bytesIn), bytes(s.bytesOut), rate, age(s.ageMs)];
        texts.forEach(function (t, i) { tr.cells[i].textContent = t === null || t === undefined ? '-' : String(t); });
        rows.push(tr);
      });
      sessionRows.forEach(function (_tr, id) { if (!next.has(id)) sessionRows.delete(id); });
      fill($('sessions'), rows);
      prev = next;
      $('session-count').textContent = String(rows.length);
    });
  }

  function counters() {
    return api('GET', '/api/counters').then(function (r) {
      if (r.status !== 200) throw new Error('/api/counters: ' + r.status);
      fill($('counters'), r.body.counters.map(function (c) {
        var used = c.bytes === null ? '-' : bytes(c.bytes);
        var pct = c.bytes !== null && c.limitBytes ? ' (' + (100 * c.bytes / c.limitBytes).toFixed(1) + '%)' : '';
        return row([c.rule, c.id, c.comment, c.direction, c.every, c.limitBytes === null ? 'none' : bytes(c.limitBytes), used + pct,
          c.exceeded === null ? '-' : el('span', c.exceeded ? 'exceeded' : 'ok', c.exceeded ? 'bad' : 'ok'), c.resetAt]);
      }));
    });
  }

  function errors() {
    return api('GET', '/api/errors').then(function (r) {
      if (r.status !== 200) throw new Error('/api/errors: ' + r.status);
      $('error-count').textContent = String(r.body.errors.length);
      fill($('errors'), r.body.errors.map(function (e) {
        var tr = row([e.time, e.service, e.user, e.client, e.target, e.legacy, el('span', e.code, 'bad'), e.message, e.request]);
        tr.dataset.code = e.code;
        return tr;
      }));
    });
  }

  function config() {
    return api('GET', '/api/config').then(function (r) {
      if (r.status !== 200) throw new Error('/api/config: ' + r.status);
      $('config-file').textContent = r.body.file;
      $('config').textContent = JSON.stringify(r.body.config, null, 2);
    });
  }

  $('reload').addEventListener('click', function () {
    var b = $('reload');
    b.disabled = true;
    $('reload-result').textContent = 'reloading...';
    api('POST', '/api/reload').then(function (r) {
      var out = $('reload-result');
      out.textContent = r.status + ' ' + JSON.stringify(r.body, null, 2);
      out.className = r.status === 200 ? 'ok' : 'bad';
      return Promise.all([services(), counters(), config()]);
    }).catch(function (e) { $('reload-result').textContent = String(e); }).then(function () { b.disabled = false; });
  });

  var busy = false;
  function tick() {
    // One refresh at a time: a slow answer must not pile requests up on the service.
    if (busy) return;
    busy = true;
    Promise.all([services(), sessions(), counters(), errors()]).then(function () {
      status('updated ' + new Date().toLocaleTimeString(), false);
    }).catch(function (e) { status(String(e), true); }).then(function () { busy = false; });
  }
  config().catch(function (e) { status(String(e), true); });
  tick();
  setInterval(tick, 1000);
})();
`;

const sha = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

export const PAGE_HTML = Buffer.from(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rx3proxy admin</title>
<style>${STYLE}</style>
</head>
<body>
<h1>rx3proxy admin</h1>
<p id="status">loading...</p>

<h2>Services</h2>
<table><thead><tr><th>name</th><th>type</th><th>listen</th><th>port</th><th>state</th><th>live</th><th>maxconn</th><th>accepted</th></tr></thead>
<tbody id="services"></tbody></table>

<h2>Live sessions (<span id="session-count">0</span>)</h2>
<table><thead><tr><th>id</th><th>user</th><th>client</th><th>target</th><th>service</th><th>operation</th><th>in</th><th>out</th><th>rate</th><th>age</th><th></th></tr></thead>
<tbody id="sessions"></tbody></table>
<p id="close-result"></p>

<h2>Counters</h2>
<table><thead><tr><th>rule</th><th>id</th><th>comment</th><th>direction</th><th>every</th><th>limit</th><th>used</th><th>state</th><th>period start</th></tr></thead>
<tbody id="counters"></tbody></table>

<h2>Recent errors (<span id="error-count">0</span>)</h2>
<table><thead><tr><th>time</th><th>service</th><th>user</th><th>client</th><th>target</th><th>%E</th><th>code</th><th>message</th><th>request</th></tr></thead>
<tbody id="errors"></tbody></table>

<h2>Config in effect</h2>
<p><span id="config-file"></span> <button id="reload" type="button">reload</button></p>
<pre id="reload-result"></pre>
<pre id="config"></pre>

<script>${SCRIPT}</script>
</body>
</html>
`);

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': `default-src 'none'; connect-src 'self'; style-src ${sha(STYLE)}; script-src ${sha(SCRIPT)}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
