/**
 * Refusals in the diagnostics log: besides the access record, a denied or unauthenticated
 * request is a line at info (client-caused), with the code and 3proxy's number.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { Runtime } from '../../core/runtime';
import { httpServer, type Fixture } from '../helpers/servers';
import { curl } from '../helpers/clients';

interface Line {
  level: number;
  code?: string;
  legacyCode?: number;
  service?: string;
  user?: string | null;
  msg: string;
}

describe('refusals in the diagnostics log', () => {
  let web: Fixture;
  beforeAll(async () => {
    web = await httpServer();
  });
  afterAll(() => web.close());

  it('an ACL denial and a failed login are info lines with the code and legacy number', async () => {
    const lines: Line[] = [];
    let seen: () => void = () => undefined;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Line);
        seen();
        done();
      },
    });
    const rt = Runtime.fromText(
      `
version: 1
accessLog: { to: none }
users: { alice: "CL:wonderland" }
services:
  - name: web
    type: proxy
    listen: 127.0.0.1:0
    auth: [strong]
    acl:
      - deny: { users: [alice], ports: [${web.port}] }
      - allow: {}
`,
      'refusals.yaml',
      { logger: pino({ level: 'info' }, sink) },
    );
    await rt.start();
    const waitFor = (code: string): Promise<Line> =>
      new Promise((resolve) => {
        const check = (): void => {
          const l = lines.find((x) => x.code === code);
          if (l !== undefined) resolve(l);
          else seen = check;
        };
        check();
      });
    try {
      const via = ['-x', `http://127.0.0.1:${rt.ports()['web']!}`, '-o', '/dev/null', '-w', '%{http_code}'];
      expect((await curl([...via, '-U', 'alice:wonderland', `http://127.0.0.1:${web.port}/`])).stdout).toBe('403');
      expect(await waitFor('PRX_ERR_ACL_DENIED')).toMatchObject({ level: 30, legacyCode: 1, service: 'web', user: 'alice' });
      expect((await curl([...via, '-U', 'alice:nope', `http://127.0.0.1:${web.port}/`])).stdout).toBe('407');
      const bad = await waitFor('PRX_ERR_AUTH_BAD_PASSWORD');
      expect(bad.level).toBe(30);
      // The password the client sent is never in the line.
      expect(JSON.stringify(lines)).not.toContain('nope');
    } finally {
      await rt.stop(0);
    }
  });
});
