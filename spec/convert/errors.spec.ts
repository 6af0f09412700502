/**
 * Lines 3proxy refuses are errors with 3proxy's wording, at the right FILE:LINE; everything
 * else in the file still converts (one run lists every problem).
 */
import { convertText, errorLines } from './helpers';

describe('refusals (3proxy wording + FILE:LINE)', () => {
  it.each([
    ['an unknown command', 'proxi -p3128', "Unknown command: 'proxi'"],
    ['too few arguments (3proxy says Unknown command)', 'nserver', "Unknown command: 'nserver' (0 argument(s) do not fit this command)"],
    ['too many arguments', 'flush all', "Unknown command: 'flush' (1 argument(s) do not fit this command)"],
    ['a user named "file" (the YAML users: map reserves it)', 'users file:CL:x', 'a user named "file" cannot be written in YAML users: ({ file: PATH } names a users file); put this user in a users file listed under usersFiles:'],
    ['a password entry without "users"', 'bob:CL:pw', "Unknown command: 'bob:CL:pw' (a password entry needs \"users\" in front of it)"],
    ['a parent with weight 0', 'allow *\nparent 0 http 10.0.0.1 3128', 'Chaining error: bad chain weight 0'],
    ['a parent with weight over 1000', 'allow *\nparent 1001 http 10.0.0.1 3128', 'Chaining error: bad chain weight 1001'],
    ['a parent with no allow before it', 'parent 1000 http 10.0.0.1 3128', 'Chaining error: last ACL entry was not "allow" or "redirect"'],
    ['a parent after a deny', 'deny *\nparent 1000 http 10.0.0.1 3128', 'Chaining error: last ACL entry was not "allow" or "redirect"'],
    ['an unknown parent type', 'allow *\nparent 1000 gopher 10.0.0.1 70', 'Chaining error: bad chain type (gopher)'],
    ['a local-redirect type with a real host', 'allow *\nparent 1000 pop3 10.0.0.1 110', 'Chaining error: parent type pop3 requires 0.0.0.0 0 (local redirection to the pop3 handler)'],
    ['a port over 65535', 'allow * * * 99999', 'Invalid port or port range (bad port range "99999")'],
    ['a port that is not a number', 'allow * * * http', 'Invalid port or port range (bad port range "http")'],
    ['a bad source address', 'allow * 10.0.0.300', 'Invalid IP, IP range or CIDR "10.0.0.300"'],
    ['a host name as source', 'deny * localhost', 'Invalid IP, IP range or CIDR "localhost"'],
    ['an unknown operation', 'allow * * * * GET', 'Unknown operation type: GET'],
    ['"#" is not a comment mid-line', 'allow * * * 80 # web', 'Unknown operation type: #'],
    ['an unknown service flag', 'proxy -Q', 'Service not started: unknown option "-Q" for proxy (3proxy prints its usage)'],
    ['a positional argument to proxy', 'proxy 8080', 'Service not started: unexpected argument "8080" after the options of proxy'],
    ['tcppm without a source port', 'tcppm -i127.0.0.1 0 host 80', 'Service not started: tcppm needs SRCPORT DSTHOST DSTPORT after its options (got "0 host 80")'],
    ['tcppm with too few arguments', 'tcppm 8080 host', "Unknown command: 'tcppm' (2 argument(s) do not fit this command)"],
    ['maxconn 0', 'maxconn 0', `Command: 'maxconn' failed with code 1 ("0" is not a positive number)`],
    ['a timeout of 0', 'timeouts 1 0', 'Invalid timeout: 0'],
    ['a tiny name cache', 'nscache 10', 'Invalid NS cache size: 10 (at least 256)'],
    ['a bandwidth under 300 bits/s', 'bandlimin 100 *', 'Wrong bandwidth specified (100: at least 300 bits/s)'],
    ['a counter limit of 0', 'countin 1/x D 0 *', 'Wrong traffic limit specified (0)'],
    ['an unknown auth type', 'auth strongest', `Command: 'auth' failed with code 1 (unknown auth type "strongest")`],
    ['the removed nbname auth', 'auth nbname', `Command: 'auth' failed with code 1 (auth type "nbname" was removed from 3proxy)`],
    ['nsrecord with a name as address', 'nsrecord a.example b.example', `Command: 'nsrecord' failed with code 1 ("b.example" is not an IP address)`],
    ['setuid to root', 'setuid 0', 'Unable to set uid 0'],
    ['an unclosed quote', 'logformat "L%t', 'Parse error (unclosed quote)'],
    ['a STARTTLS mode tlspr does not know', 'tlspr -Xftp', 'Service not started: -Xftp: STARTTLS mode must be imap, pop3 or smtp'],
    ['a plugin command without its plugin', 'transparent', "Unknown command: 'transparent'"],
  ])('%s', (_what, text, message) => {
    const r = convertText(text);
    const line = text.split('\n').length;
    expect(errorLines(r)).toEqual([`test.cfg:${line}: ${message}`]);
  });

  it('reports every bad line and still converts the rest', () => {
    const r = convertText('nserver 1.1.1.1\nbogus\nallow * * * x\nallow *\nproxy -p3128\n');
    expect(errorLines(r)).toEqual([
      "test.cfg:2: Unknown command: 'bogus'",
      'test.cfg:3: Invalid port or port range (bad port range "x")',
    ]);
    expect(r.config).toMatchObject({ resolver: { servers: ['1.1.1.1:53'] }, services: [{ name: 'proxy-3128', acl: [{ allow: {} }] }] });
  });

  it('names the included file and its line for errors inside an include', () => {
    const r = convertText('include more.cfg\nproxy\n', { 'more.cfg': 'flush\nflush now\n' });
    expect(errorLines(r)).toEqual(["more.cfg:2: Unknown command: 'flush' (1 argument(s) do not fit this command)"]);
  });
});
