/**
 * The 'ftp-http' relay: an `ftp://` URL asked of the HTTP proxy, fetched with the proxy as the
 * FTP client (3proxy's proxy.c FTP branch).
 *
 *   dial host:port, log in (URL user:pass, else the request's Authorization: Basic, else
 *   anonymous), TYPE I, then as 3proxy: CWD path succeeds -> a directory: LIST, rendered as an
 *   HTML index; otherwise the path is a file: SIZE (Content-Length when known, else chunked or
 *   close, as node:http frames it), RETR piped to the response (HEAD: the head only);
 *   PUT: STOR from the request body, 201.
 *
 * Data connections are always passive, to the control connection's peer address, and are
 * checked against the ACL as FTP_DATA. FTP refusals become HTTP statuses: login refused 401
 * (with `WWW-Authenticate: Basic realm="FTP Server"`, so browsers ask), 550 on RETR 404, other
 * server failures 502. The control connection is not kept between requests.
 */
import { Observable } from 'rxjs';
import { isIP, type Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Session } from '../../core/session';
import { proxyError, toProxyError, type ProxyError } from '../../core/errors';
import { FtpLines, ftpLogin, passivePort, plainIpv4, replyMessage, type FtpReply } from '../../core/net/ftp';
import { withDeadline } from '../readRequest/mail';
import { ANSWERED_KEY, TARGET_KEY, basicCredentials, type HttpTarget } from '../readRequest/http-request';
import { FTP_CONTEXT_KEY, type FtpContext } from './ftp-context';
import type { RelayOptions } from './relay';

/** A listing larger than this is refused (it is rendered in memory). */
const MAX_LISTING = 16 * 1024 * 1024;

export function ftpHttpRelay(session: Session, opts: RelayOptions): Observable<Session> {
  return new Observable<Session>((sub) => {
    const ctx = session.state.get(FTP_CONTEXT_KEY) as FtpContext | undefined;
    const target = session.state.get(TARGET_KEY) as HttpTarget | undefined;
    const req = session.httpRequest;
    const res = session.httpResponse;
    if (ctx === undefined || target?.ftp === undefined || req === null || res === null) {
      sub.error(proxyError('PRX_ERR_RELAY_FAILED', 'not an ftp:// request'));
      return undefined;
    }
    const f = new FtpFetch(session, ctx, target, req, res, opts);
    f.run().then(
      () => {
        sub.next(session);
        sub.complete();
      },
      (err: unknown) => {
        f.close();
        sub.error(toProxyError(err));
      },
    );
    return () => f.close();
  });
}

class FtpFetch {
  private control: Socket | null = null;
  private io: FtpLines | null = null;
  private data: Socket | null = null;
  private countedIn = 0;
  private countedOut = 0;

  constructor(
    private readonly session: Session,
    private readonly ctx: FtpContext,
    private readonly target: HttpTarget,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly opts: RelayOptions,
  ) {}

  async run(): Promise<void> {
    const s = this.session;
    if (s.parents.length > 0) throw proxyError('PRX_ERR_NOT_IMPLEMENTED', 'ftp:// through a parent proxy');
    const control = await this.ctx.dial(s, this.target.host, this.target.port);
    control.on('error', noop);
    this.control = control;
    // Owned by the session from here: session.close() destroys it.
    s.target = control;
    s.remoteAddress = control.remoteAddress ?? null;
    s.remotePort = control.remotePort ?? 0;
    if (s.externalAddress === null && control.localAddress !== undefined) s.externalAddress = control.localAddress;
    const io = new FtpLines(control, () => proxyError('PRX_ERR_FTP_UPSTREAM', 'server closed the control connection'), 'PRX_ERR_FTP_UPSTREAM');
    this.io = io;
    const creds = this.target.ftp!.user !== null ? this.target.ftp! : credentialsOf(this.req);
    const user = creds.user ?? 'anonymous';
    const login = await this.reply(ftpLogin(io, wire(user), wire(creds.user === null ? 'rx3proxy@' : (creds.password ?? ''))));
    if (!login.ok) throw proxyError('PRX_ERR_FTP_LOGIN', replyMessage(login.reply));
    await this.expect('TYPE I', 2);
    const path = this.target.ftp!.path;
    const method = this.req.method ?? 'GET';
    if (method === 'PUT') await this.store(path);
    else if (Math.floor((await this.command(`CWD ${wire(path === '' ? '/' : path)}`)).code / 100) === 2) await this.list(path);
    else await this.retrieve(path, method === 'HEAD');
    io.write('QUIT\r\n');
    this.close();
  }

  close(): void {
    const c = this.control;
    if (c !== null) {
      this.count();
      this.io?.release();
      this.io = null;
      c.end();
      c.destroySoon();
    }
    this.data?.destroy();
    this.data = null;
  }

  private count(): void {
    const c = this.control;
    if (c === null) return;
    this.session.bytesIn += c.bytesRead - this.countedIn;
    this.session.bytesOut += c.bytesWritten - this.countedOut;
    this.countedIn = c.bytesRead;
    this.countedOut = c.bytesWritten;
  }

  private reply<T>(p: Promise<T>): Promise<T> {
    return withDeadline(p, this.ctx.replyTimeoutMs, () => proxyError('PRX_ERR_HTTP_UPSTREAM_TIMEOUT'));
  }

  private command(line: string): Promise<FtpReply> {
    return this.reply(this.io!.command(line));
  }

  private async expect(line: string, cls: number): Promise<FtpReply> {
    const r = await this.command(line);
    if (Math.floor(r.code / 100) !== cls) throw proxyError('PRX_ERR_FTP_FAILED', `${line.split(' ')[0]}: ${replyMessage(r)}`);
    return r;
  }

  /** PASV/EPSV, the FTP_DATA check, the data connection. */
  private async openData(): Promise<Socket> {
    const peer = this.control!.remoteAddress ?? '';
    const host = plainIpv4(peer) ?? peer;
    const port = await this.reply(passivePort(this.io!, isIP(host) === 6));
    const denied = this.ctx.check(this.session, 'FTP_DATA', host, port);
    if (denied !== null) throw denied;
    const data = await this.ctx.dial(this.session, host, port);
    data.on('error', noop);
    // Dialed half-open: the server's FIN ends the transfer, so ours follows it.
    data.once('end', () => data.end());
    this.data = data;
    return data;
  }

  /** The transfer command after the data connection; a 550 is the file's absence. */
  private async start(line: string, notFound: () => ProxyError): Promise<void> {
    const r = await this.command(line);
    if (Math.floor(r.code / 100) === 1) return;
    this.data?.destroy();
    throw r.code === 550 ? notFound() : proxyError('PRX_ERR_FTP_FAILED', replyMessage(r));
  }

  /** The data connection's end and the server's final reply (226). */
  private async finish(data: Socket): Promise<void> {
    if (!data.destroyed) await new Promise<void>((resolve) => data.once('close', () => resolve()));
    this.session.bytesIn += data.bytesRead;
    this.session.bytesOut += data.bytesWritten;
    this.data = null;
    const fin = await this.reply(this.io!.reply());
    if (Math.floor(fin.code / 100) !== 2) throw proxyError('PRX_ERR_FTP_FAILED', replyMessage(fin));
  }

  private answered(): void {
    this.session.state.set(ANSWERED_KEY, true);
  }

  private async retrieve(path: string, headOnly: boolean): Promise<void> {
    const size = await this.command(`SIZE ${wire(path)}`);
    const length = size.code === 213 && /^\d+$/.test(replyMessage(size).slice(4).trim()) ? replyMessage(size).slice(4).trim() : null;
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (length !== null) headers['Content-Length'] = length;
    if (headOnly) {
      // SIZE failing with 550 means there is no such file (a directory was CWD'd into before).
      if (size.code === 550) throw proxyError('PRX_ERR_FTP_NOT_FOUND', path);
      this.answered();
      this.res.writeHead(200, headers);
      this.res.end();
      await endResponse(this.res);
      return;
    }
    const data = await this.openData();
    await this.start(`RETR ${wire(path)}`, () => proxyError('PRX_ERR_FTP_NOT_FOUND', path));
    this.answered();
    this.res.writeHead(200, headers);
    if (this.opts.idleMs > 0) data.setTimeout(this.opts.idleMs, () => data.destroy());
    // Ended only after the server's 226: a cut transfer must not look complete (chunked).
    data.pipe(this.res, { end: false });
    // A client that goes away mid-file stops the download (pipe() would not).
    this.res.once('close', () => {
      if (!this.res.writableFinished) data.destroy();
    });
    await this.finish(data);
    this.res.end();
    await endResponse(this.res);
  }

  private async store(path: string): Promise<void> {
    const data = await this.openData();
    await this.start(`STOR ${wire(path)}`, () => proxyError('PRX_ERR_FTP_NOT_FOUND', path));
    this.req.pipe(data);
    await this.finish(data);
    this.answered();
    const body = Buffer.from(`stored ${path}\n`);
    this.res.writeHead(201, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length) });
    this.res.end(body);
    await endResponse(this.res);
  }

  private async list(path: string): Promise<void> {
    const data = await this.openData();
    await this.start('LIST', () => proxyError('PRX_ERR_FTP_NOT_FOUND', path));
    const chunks: Buffer[] = [];
    let size = 0;
    data.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_LISTING) data.destroy();
      else chunks.push(c);
    });
    await this.finish(data);
    if (size > MAX_LISTING) throw proxyError('PRX_ERR_FTP_FAILED', `listing larger than ${MAX_LISTING} bytes`);
    const body = Buffer.from(renderListing(this.target, path, Buffer.concat(chunks).toString('utf8')), 'utf8');
    this.answered();
    this.res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(body.length) });
    this.res.end(body);
    await endResponse(this.res);
  }
}

/** FTP credentials from `Authorization: Basic` when the URL carries none (3proxy reads both). */
function credentialsOf(req: IncomingMessage): { user: string | null; password: string | null } {
  const c = basicCredentials(req.headers.authorization);
  return c === null ? { user: null, password: null } : { user: c.user, password: c.password };
}

/** Text as the bytes of its UTF-8 form, for FtpLines' latin1 writes. */
const wire = (s: string): string => Buffer.from(s.replace(/[\r\n]/g, ''), 'utf8').toString('latin1');

function endResponse(res: ServerResponse): Promise<void> {
  if (res.writableFinished) return Promise.resolve();
  return new Promise((resolve, reject) => {
    res.once('finish', () => resolve());
    res.once('close', () => (res.writableFinished ? resolve() : reject(proxyError('PRX_ERR_CLIENT_RESET', 'client closed during the response'))));
  });
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
const html = (s: string): string => s.replace(/[&<>"]/g, (c) => ESCAPES[c]!);

/** One LIST line: unix `ls -l` form or the DOS form; null for what is neither. */
export function parseListLine(line: string): { name: string; dir: boolean; size: string; date: string; link: string | null } | null {
  const unix = /^([-dlbcps])[-rwxsStTl]{9}[+.@]?\s+\d+\s+\S+\s+(?:\S+\s+)?(\d+)\s+(\w{3}\s+\d{1,2}\s+(?:\d{1,2}:\d\d|\d{4}))\s(.+)$/.exec(line);
  if (unix !== null) {
    const type = unix[1]!;
    let name = unix[4]!.replace(/^ /, '');
    let link: string | null = null;
    if (type === 'l') {
      const arrow = name.indexOf(' -> ');
      if (arrow >= 0) {
        link = name.slice(arrow + 4);
        name = name.slice(0, arrow);
      }
    }
    return { name, dir: type === 'd', size: unix[2]!, date: unix[3]!, link };
  }
  const dos = /^(\d\d-\d\d-\d\d(?:\d\d)?\s+\d\d:\d\d[AP]M)\s+(<DIR>|\d+)\s+(.+)$/i.exec(line);
  if (dos !== null) return { name: dos[3]!, dir: dos[2] === '<DIR>', size: dos[2] === '<DIR>' ? '' : dos[2]!, date: dos[1]!, link: null };
  return null;
}

/**
 * The HTML index 3proxy renders for a directory: one line per entry with its size (or DIR /
 * LINK) and date, each name a link. Links are absolute paths, so a directory URL without its
 * trailing slash works too; lines the parser does not know are shown as they came.
 */
export function renderListing(target: HttpTarget, path: string, listing: string): string {
  const base = `${path.replace(/\/+$/, '')}/`;
  const href = (name: string, dir: boolean): string => html(base.split('/').map(encodeURIComponent).join('/') + encodeURIComponent(name) + (dir ? '/' : ''));
  const hostPart = target.host.includes(':') ? `[${target.host}]` : target.host;
  const title = html(`ftp://${hostPart}${target.port === 21 ? '' : `:${target.port}`}${base}`);
  const rows: string[] = [];
  if (base !== '/') rows.push(`<a href="${html(base.replace(/[^/]*\/$/, '').split('/').map(encodeURIComponent).join('/'))}">../</a>`);
  for (const line of listing.split(/\r?\n/)) {
    if (line === '' || /^total \d+$/.test(line)) continue;
    const e = parseListLine(line);
    if (e === null) {
      rows.push(html(line));
      continue;
    }
    const kind = e.dir ? 'DIR' : e.link !== null ? 'LINK' : e.size;
    const name = `<a href="${href(e.name, e.dir)}">${html(e.name)}${e.dir ? '/' : ''}</a>${e.link !== null ? ` -&gt; ${html(e.link)}` : ''}`;
    rows.push(`${kind.padStart(12)}  ${html(e.date).padEnd(12)}  ${name}`);
  }
  return (
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Index of ${title}</title></head>\n` +
    `<body><h1>Index of ${title}</h1>\n<pre>\n${rows.join('\n')}\n</pre></body></html>\n`
  );
}

function noop(): void {}
