/** SocksParser: known exchanges, and a fast-check fuzz over random bytes and random chunking. */
import fc from 'fast-check';
import { SocksParser, encodeAddress, readAddress, type SocksEvent } from '../../operators/readRequest/socks-parse';

/** Feeds the chunks and collects every event until the parser needs more bytes or ends. */
function run(parser: SocksParser, chunks: Buffer[]): SocksEvent[] {
  const events: SocksEvent[] = [];
  for (const chunk of chunks) {
    for (let ev = parser.feed(chunk); ev.kind !== 'need'; ev = parser.feed(Buffer.alloc(0))) {
      events.push(ev);
      if (ev.kind === 'error' || ev.kind === 'request' || (ev.kind === 'method' && ev.method === 0xff)) return events;
    }
  }
  return events;
}

describe('SocksParser', () => {
  it('reads a SOCKS5 user/pass CONNECT with a domain name, bytes after it kept', () => {
    const bytes = Buffer.from([5, 2, 0, 2, 1, 1, 0x75, 1, 0x70, 5, 1, 0, 3, 3, 0x61, 0x2e, 0x62, 0, 80, 0x58]);
    const ev = run(new SocksParser(), [bytes]);
    expect(ev.map((e) => e.kind)).toEqual(['method', 'credentials', 'request']);
    expect(ev[0]).toEqual({ kind: 'method', method: 2 });
    expect(ev[1]).toEqual({ kind: 'credentials', user: 'u', password: 'p' });
    expect(ev[2]).toMatchObject({ request: { version: 5, command: 'CONNECT', host: 'a.b', address: null, port: 80 } });
    expect((ev[2] as { rest: Buffer }).rest.toString()).toBe('X');
  });

  it('reads SOCKS4a with user id and host name, and IPv6 SOCKS5 addresses', () => {
    const v4a = Buffer.concat([Buffer.from([4, 1, 0, 80, 0, 0, 0, 7]), Buffer.from('bob\0example.org\0')]);
    expect(run(new SocksParser(), [v4a])[0]).toMatchObject({ request: { version: 4, host: 'example.org', address: null, userId: 'bob' } });
    const v6 = Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0]), encodeAddress('2001:db8::1', 443)]);
    expect(run(new SocksParser(), [v6])[1]).toMatchObject({ request: { host: '2001:db8::1', address: '2001:db8::1', port: 443 } });
  });

  it('applies userAuth: never hides user/pass, required refuses clients without it', () => {
    expect(run(new SocksParser('never'), [Buffer.from([5, 2, 0, 2])])[0]).toEqual({ kind: 'method', method: 0 });
    expect(run(new SocksParser('required'), [Buffer.from([5, 1, 0])])[0]).toEqual({ kind: 'method', method: 0xff });
  });

  it('encodes and reads back addresses', () => {
    for (const a of ['1.2.3.4', '::1', 'fe80::1:2', 'example.com']) {
      const r = readAddress(encodeAddress(a, 1234), 0);
      expect(r).toMatchObject({ host: a, port: 1234 });
    }
  });

  it('fuzz: random bytes never throw, and chunking never changes the outcome', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          // Biased towards valid prefixes so the deeper states are reached too.
          fc.tuple(fc.constantFrom([5, 1, 0], [5, 2, 0, 2], [4, 1, 0, 80], [5, 1, 0, 5, 1, 0, 3]), fc.uint8Array({ maxLength: 64 })).map(([p, r]) => Uint8Array.from([...p, ...r])),
        ),
        fc.array(fc.nat(64), { maxLength: 6 }),
        fc.constantFrom('auto', 'never', 'required'),
        (bytes, cuts, policy) => {
          const whole = run(new SocksParser(policy), [Buffer.from(bytes)]);
          const points = [...new Set(cuts.map((c) => Math.min(c, bytes.length)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const p of [...points, bytes.length]) {
            chunks.push(Buffer.from(bytes.subarray(prev, p)));
            prev = p;
          }
          const split = run(new SocksParser(policy), chunks);
          // `rest` is what was buffered when the request completed, so it depends on chunking.
          const noRest = (evs: SocksEvent[]): unknown[] => evs.map((e) => (e.kind === 'request' ? { ...e, rest: null } : e));
          expect(noRest(split)).toEqual(noRest(whole));
        },
      ),
      { numRuns: 4000 },
    );
  });
});
