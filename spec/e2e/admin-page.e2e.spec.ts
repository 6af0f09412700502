/**
 * The admin web page in a real browser: Debian's chromium, headless, driven by playwright-core.
 * A tcppm mapper relays a stream that never ends on its own, so its session stays live until the
 * page's close button ends it; the access record and the client's socket say it really ended.
 */
import { request } from 'undici';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tcpConnect, closed } from '../helpers/clients';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import type { AccessRecord } from '../../operators/log/record';
import type { SessionSnapshot } from '../../core/introspect';

const ARTIFACTS = join(__dirname, 'artifacts');
const SCREENSHOT = join(ARTIFACTS, 'admin-page.png');
const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** Writes 1 KiB every 20 ms to each client until it goes away: a transfer that stays live. */
async function streamServer(): Promise<{ port: number; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    const timer = setInterval(() => s.write(Buffer.alloc(1024, 0x61)), 20);
    s.on('error', () => s.destroy());
    s.on('close', () => {
      clearInterval(timer);
      sockets.delete(s);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sockets,
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}

const config = (upstream: number): string => `
version: 1
accessLog: { to: none, format: json }
users: { admin: "CL:s3cret-admin" }
counters: { rules: [{ id: 7, comment: "<b id=injected>quota</b>", direction: all, limitMB: 100 }] }
services:
  - name: mapper
    type: tcppm
    listen: 127.0.0.1:0
    target: 127.0.0.1:${upstream}
  - name: admin
    type: admin
    listen: 127.0.0.1:0
    auth: [strong]
    acl:
      - allow: { users: [admin], operations: [ADMIN] }
      - deny: {}
`;

/** Resolves with the first access record that matches, written from now on. */
function nextRecord(proxy: RunningProxy, match: (r: AccessRecord) => boolean, timeoutMs = 10000): Promise<AccessRecord> {
  return new Promise((resolve, reject) => {
    const listeners = proxy.rt.accessLogs.listeners;
    const timer = setTimeout(() => {
      listeners.delete(listener);
      reject(new Error(`no matching access record within ${timeoutMs} ms:\n${proxy.lines.slice(-10).join('\n')}`));
    }, timeoutMs);
    const listener = (r: AccessRecord): void => {
      if (!match(r)) return;
      clearTimeout(timer);
      listeners.delete(listener);
      resolve(r);
    };
    listeners.add(listener);
  });
}

describe('admin web page (GET /)', () => {
  let proxy: RunningProxy;
  let upstream: Awaited<ReturnType<typeof streamServer>>;

  beforeAll(async () => {
    upstream = await streamServer();
    proxy = await startProxy(config(upstream.port));
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
  });

  const get = async (auth: string | null): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> => {
    const res = await request(`http://127.0.0.1:${proxy.ports['admin']!}/`, { headers: auth === null ? {} : { authorization: auth } });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  it('is served as HTML to an authorised user and refused with a Basic challenge otherwise', async () => {
    const ok = await get(basic('admin', 's3cret-admin'));
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(ok.headers['content-security-policy']).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(ok.text).toMatch(/^<!doctype html>/);
    expect(ok.text).toContain('<tbody id="sessions">');
    // Everything is in the document: no script or stylesheet is fetched from anywhere.
    expect(ok.text).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\//);

    for (const auth of [null, basic('admin', 'wrong')]) {
      const refused = await get(auth);
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toMatch(/^Basic realm="rx3proxy admin"/);
      expect(refused.text).not.toContain('<html');
    }
  });

  describe('in chromium', () => {
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;

    beforeAll(async () => {
      rmSync(SCREENSHOT, { force: true });
      mkdirSync(ARTIFACTS, { recursive: true });
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      context = await browser.newContext({ httpCredentials: { username: 'admin', password: 's3cret-admin' }, viewport: { width: 1400, height: 1000 } });
      page = await context.newPage();
    }, 60000);
    afterAll(async () => {
      // Before proxy.stop: the browser's keep-alive connections are live admin sessions.
      await context?.close();
      await browser?.close();
    });

    it('shows a live session while it streams, closes it with its button, and the session ends and is logged', async () => {
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      page.on('console', (m) => {
        // Chromium logs every 4xx/5xx answer (the 501 of reload below) as a console error.
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
      });

      const client = await tcpConnect(proxy.ports['mapper']!);
      let received = 0;
      const firstChunk = new Promise<void>((resolve) => client.once('data', () => resolve()));
      client.on('data', (d: Buffer) => (received += d.length));
      await firstChunk;
      const listed = (await (await request(`http://127.0.0.1:${proxy.ports['admin']!}/api/sessions`, { headers: { authorization: basic('admin', 's3cret-admin') } })).body.json()) as { sessions: SessionSnapshot[] };
      const mine = listed.sessions.find((s) => s.service === 'mapper' && s.client === `127.0.0.1:${client.localPort}`);
      expect(mine).toBeDefined();

      const response = await page.goto(`http://127.0.0.1:${proxy.ports['admin']!}/`);
      expect(response?.status()).toBe(200);
      const row = page.locator(`#sessions tr[data-session-id="${mine!.id}"]`);
      await row.waitFor({ timeout: 10000 });
      const cells = row.locator('td');
      expect(await cells.nth(2).textContent()).toBe(`127.0.0.1:${client.localPort}`);
      expect(await cells.nth(3).textContent()).toBe(`127.0.0.1:${upstream.port}`);
      expect(await cells.nth(4).textContent()).toBe('mapper');
      // A rate needs two refreshes of the same session: this waits for the page's own polling.
      await row.locator('td:nth-child(9)', { hasText: /\d.*\/s$/ }).waitFor({ timeout: 10000 });

      expect(await page.locator('#services tr').allTextContents()).toEqual([expect.stringMatching(/^mapper.*tcppm.*listening/), expect.stringMatching(/^admin.*admin.*listening/)]);
      const counters = await page.locator('#counters').textContent();
      expect(counters).toContain('<b id=injected>quota</b>');
      expect(counters).toContain('100.0 MiB');
      expect(await page.locator('#injected').count()).toBe(0);
      await page.locator('#config', { hasText: '"mapper"' }).waitFor();
      const shownConfig = (await page.locator('#config').textContent()) ?? '';
      expect(shownConfig).toContain('[redacted]');
      expect(shownConfig).not.toContain('s3cret-admin');

      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(existsSync(SCREENSHOT)).toBe(true);
      expect(statSync(SCREENSHOT).size).toBeGreaterThan(1000);

      const killed = nextRecord(proxy, (r) => r.service === 'mapper' && r.clientPort === client.localPort);
      const clientSawClose = closed(client);
      await row.locator('button.close').click();
      await clientSawClose;
      expect(client.destroyed || client.readableEnded).toBe(true);
      const rec = await killed;
      expect(rec).toMatchObject({ errorCode: 'PRX_ERR_SESSION_KILLED', code: 90 });
      expect(rec.bytesIn).toBeGreaterThan(0);
      expect(received).toBeGreaterThan(0);
      await row.waitFor({ state: 'detached', timeout: 10000 });
      // The periodic refresh may drop the row before the DELETE answer arrives: wait for the answer too.
      await page.locator('#close-result', { hasText: `close ${mine!.id}:` }).waitFor({ timeout: 10000 });
      expect(await page.locator('#close-result').textContent()).toBe(`close ${mine!.id}: 200 {"closed":${mine!.id}}`);
      expect(proxy.rt.services.find((s) => s.name === 'mapper')!.live.size).toBe(0);

      // The killed session is a failed request: the recent-errors panel lists it on a later refresh.
      const errorRow = page.locator('#errors tr[data-code="PRX_ERR_SESSION_KILLED"]', { hasText: `127.0.0.1:${client.localPort}` });
      await errorRow.waitFor({ timeout: 10000 });
      const errorCells = await errorRow.locator('td').allTextContents();
      expect(errorCells.slice(1, 7)).toEqual(['mapper', '-', `127.0.0.1:${client.localPort}`, `127.0.0.1:${upstream.port}`, '90', 'PRX_ERR_SESSION_KILLED']);

      await page.locator('#reload').click();
      await page.locator('#reload-result', { hasText: 'PRX_ERR_ADMIN_NO_RELOAD' }).waitFor({ timeout: 10000 });
      expect(await page.locator('#reload-result').textContent()).toMatch(/^501 /);
      expect(pageErrors).toEqual([]);
    }, 60000);
  });
});
