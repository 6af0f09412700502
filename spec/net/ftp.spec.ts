/** FTP protocol pieces: replies (multi-line), login, PASV/EPSV/EPRT syntax, LIST lines, the HTML index. */
import { duplexPair } from 'node:stream';
import type { Socket } from 'node:net';
import { FtpLines, ftpLogin, formatPasv, parseEprt, parseEpsv, parseHostPortTuple, passivePort, plainIpv4, replyText } from '../../core/net/ftp';
import { parseListLine, renderListing } from '../../operators/mapSockets/ftp-http';
import { proxyError, type ProxyError } from '../../core/errors';

/** An FtpLines on one end of a pair; `peer` is the server side the test writes replies to. */
function pair(): { io: FtpLines; peer: NodeJS.ReadWriteStream & { write(s: string): boolean }; sent: string[] } {
  const [a, b] = duplexPair();
  const sent: string[] = [];
  b.setEncoding('latin1');
  b.on('data', (c: string) => sent.push(...c.split('\r\n').filter((l) => l !== '')));
  const io = new FtpLines(a as unknown as Socket, () => proxyError('PRX_ERR_SERVER_RESET', 'closed'));
  return { io, peer: b, sent };
}

describe('FTP replies and login', () => {
  it('reads a multi-line reply up to the line with the same code and a space', async () => {
    const { io, peer } = pair();
    peer.write('230-Welcome\r\n230glued is no end\r\n 230 indented\r\n230 done\r\n220 next\r\n');
    const r = await io.reply();
    expect(r.code).toBe(230);
    expect(r.lines).toEqual(['230-Welcome', '230glued is no end', ' 230 indented', '230 done']);
    expect(replyText(r)).toBe('230-Welcome\r\n230glued is no end\r\n 230 indented\r\n230 done\r\n');
    expect((await io.reply()).code).toBe(220);
  });

  it('refuses a line that is not a reply, and a line over 2 KiB', async () => {
    const { io, peer } = pair();
    peer.write('hello\r\n');
    await expect(io.reply()).rejects.toMatchObject({ code: 'PRX_ERR_FTP_UPSTREAM' });
    const p2 = pair();
    p2.peer.write(`220 ${'x'.repeat(3000)}\r\n`);
    await expect(p2.io.reply()).rejects.toMatchObject({ code: 'PRX_ERR_FTP_PROTOCOL' });
  });

  it('logs in: greeting, USER, PASS on 331; ok only on a final 2xx', async () => {
    const { io, peer, sent } = pair();
    peer.write('220 hi\r\n331 need pass\r\n230 in\r\n');
    const r = await ftpLogin(io, 'alice', 'pw');
    expect(r.ok).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual(['USER alice', 'PASS pw']);
    const bad = pair();
    bad.peer.write('220 hi\r\n331 need pass\r\n530 no\r\n');
    expect((await ftpLogin(bad.io, 'a', 'b')).ok).toBe(false);
    const busy = pair();
    busy.peer.write('421 busy\r\n');
    await expect(ftpLogin(busy.io, 'a', 'b')).rejects.toMatchObject({ code: 'PRX_ERR_FTP_UPSTREAM' });
  });

  it('asks for a passive port with PASV (IPv4) or EPSV (IPv6), ignoring the 227 address', async () => {
    const v4 = pair();
    v4.peer.write('227 Entering Passive Mode (10,0,0,1,4,1)\r\n');
    expect(await passivePort(v4.io, false)).toBe(1025);
    expect(v4.sent).toEqual(['PASV']);
    const v6 = pair();
    v6.peer.write('229 Entering Extended Passive Mode (|||6446|)\r\n');
    expect(await passivePort(v6.io, true)).toBe(6446);
    expect(v6.sent).toEqual(['EPSV']);
    const no = pair();
    no.peer.write('500 no\r\n');
    await expect(passivePort(no.io, false)).rejects.toMatchObject({ code: 'PRX_ERR_FTP_UPSTREAM' } satisfies Partial<ProxyError>);
  });
});

describe('FTP address syntax', () => {
  it('parses and formats h1,h2,h3,h4,p1,p2', () => {
    expect(parseHostPortTuple('127,0,0,1,200,10')).toEqual({ address: '127.0.0.1', port: 51210 });
    expect(parseHostPortTuple('127,0,0,1,0,0')).toBeNull();
    expect(parseHostPortTuple('300,0,0,1,1,1')).toBeNull();
    expect(parseHostPortTuple('1,2,3')).toBeNull();
    expect(formatPasv('127.0.0.1', 51210)).toBe('227 Entering Passive Mode (127,0,0,1,200,10)');
  });

  it('parses EPSV replies and EPRT arguments (RFC 2428)', () => {
    expect(parseEpsv('229 ok (|||1234|)')).toBe(1234);
    expect(parseEpsv('229 ok (!!!1234!)')).toBe(1234);
    expect(parseEpsv('229 ok (||1234|)')).toBeNull();
    expect(parseEprt('|1|127.0.0.1|5282|')).toEqual({ address: '127.0.0.1', port: 5282 });
    expect(parseEprt('|2|::1|5282|')).toEqual({ address: '::1', port: 5282 });
    expect(parseEprt('|2|127.0.0.1|5282|')).toBeNull();
    expect(parseEprt('|1|127.0.0.1|99999|')).toBeNull();
    expect(parseEprt('1|127.0.0.1|1|')).toBeNull();
    expect(plainIpv4('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(plainIpv4('::1')).toBeNull();
  });
});

describe('ftp:// directory index', () => {
  it('reads unix and DOS LIST lines', () => {
    expect(parseListLine('-rw-r--r--   1 owner    group      300000 Dec 01 22:10 hello world.bin')).toEqual({ name: 'hello world.bin', dir: false, size: '300000', date: 'Dec 01 22:10', link: null });
    expect(parseListLine('drwxr-xr-x 2 u g 4096 Jan  5  2024 pub')).toMatchObject({ name: 'pub', dir: true, date: 'Jan  5  2024' });
    expect(parseListLine('lrwxrwxrwx 1 u g 7 Jan  5 10:00 latest -> v1.2.3')).toMatchObject({ name: 'latest', link: 'v1.2.3' });
    expect(parseListLine('12-01-26  10:00PM       <DIR>          Docs')).toMatchObject({ name: 'Docs', dir: true });
    expect(parseListLine('12-01-26  10:00PM                 1234 a.txt')).toMatchObject({ name: 'a.txt', size: '1234' });
    expect(parseListLine('total 12')).toBeNull();
  });

  it('renders escaped names with absolute links and a parent link below the root', () => {
    const target = { host: 'h', port: 2121, path: '/x/', absolute: 'ftp://h:2121/x/' };
    const page = renderListing(target, '/x y', '-rw-r--r-- 1 u g 5 Jan  5 10:00 <b>&.txt\r\nweird line\r\n');
    expect(page).toContain('<title>Index of ftp://h:2121/x y/</title>');
    expect(page).toContain('<a href="/">../</a>');
    expect(page).toContain('<a href="/x%20y/%3Cb%3E%26.txt">&lt;b&gt;&amp;.txt</a>');
    expect(page).toContain('\nweird line\n');
    expect(renderListing(target, '/', '')).not.toContain('../');
  });
});
