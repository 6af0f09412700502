import { RecentErrors } from '../operators/admin/errors';
import type { AccessRecord } from '../operators/log/record';

const record = (i: number, errorCode: string | null): AccessRecord => ({
  time: 1_700_000_000_000 + i,
  startTime: 1_700_000_000_000,
  service: 'proxy',
  serviceLogName: 'PROXY',
  servicePort: 3128,
  user: null,
  clientIp: '::1',
  clientPort: 40000 + i,
  internalIp: '::1',
  externalIp: null,
  remoteIp: '192.0.2.1',
  remotePort: 80,
  requestedIp: null,
  requestedPort: 80,
  host: null,
  operation: 'HTTP_GET',
  bytesIn: 0,
  bytesOut: 0,
  durationMs: 1,
  hops: 0,
  code: errorCode === null ? 0 : 13,
  errorCode,
  text: `GET http://example.test/${i}`,
});

describe('recent errors ring', () => {
  it('keeps only failed records, the newest `capacity` of them, newest first', () => {
    const listeners = new Set<(r: AccessRecord, line: string) => void>();
    const ring = new RecentErrors(3);
    ring.attach(listeners);
    ring.attach(listeners);
    expect(listeners.size).toBe(1);
    for (let i = 0; i < 5; i++) for (const l of listeners) l(record(i, 'PRX_ERR_CONNECT_REFUSED'), '');
    for (const l of listeners) l(record(9, null), '');
    const list = ring.list();
    expect(list.map((e) => e.request)).toEqual(['GET http://example.test/4', 'GET http://example.test/3', 'GET http://example.test/2']);
    expect(list[0]).toMatchObject({ client: '[::1]:40004', target: '192.0.2.1:80', legacy: 13, message: 'connection to … refused' });
  });
});
