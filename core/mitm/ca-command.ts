/**
 * `rx3proxy ca`: writes a CA certificate and key for MITM (`mitm.ca`), refusing to replace
 * existing files unless forced, and says plainly what trusting that CA gives away.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { createCa } from './certs';

export interface CaCommandOptions {
  readonly cert: string;
  readonly key: string;
  readonly name: string;
  readonly days: string;
  readonly force?: boolean;
}

/** Returns the exit code: 0 written, 1 refused (files exist), 2 bad option. */
export async function caCommand(o: CaCommandOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const days = Number(o.days);
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    err(`rx3proxy ca: --days must be a whole number of days from 1 to 3650, got "${o.days}"\n`);
    return 2;
  }
  const existing = [o.cert, o.key].filter((f) => existsSync(f));
  if (existing.length > 0 && o.force !== true) {
    err(`rx3proxy ca: ${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}; not overwritten (use --force to replace, which invalidates every client that trusts the old CA)\n`);
    return 1;
  }
  const ca = await createCa(o.name, days);
  writeFileSync(o.key, ca.keyPem, { mode: 0o600 });
  // mode applies only to a new file: a replaced key must not keep looser permissions.
  chmodSync(o.key, 0o600);
  writeFileSync(o.cert, ca.certPem, { mode: 0o644 });
  out(warning(o.cert, o.key, days));
  return 0;
}

function warning(cert: string, key: string, days: number): string {
  return `Wrote the MITM CA certificate ${cert} and its private key ${key} (mode 0600), valid ${days} days.

WARNING: a client that trusts this CA accepts every certificate rx3proxy mints with it, for any
site. Whoever holds ${key} can read and change all HTTPS traffic of such a client. Trust it only
on machines whose traffic you are entitled to inspect (and whose users know it), keep the key
private, and remove the trust when you no longer need it.

Use it in a proxy service:
  mitm: { ca: { cert: ${cert}, key: ${key} }, cacheDir: ./certcache }

Trust it in a client:
  curl           curl --cacert ${cert} -x http://PROXY:PORT https://example.com/
  Node.js        NODE_EXTRA_CA_CERTS=${cert}
  Firefox        Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import
  Debian/Ubuntu  sudo cp ${cert} /usr/local/share/ca-certificates/rx3proxy-mitm.crt && sudo update-ca-certificates
  Chrome (Linux) certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n rx3proxy-mitm -i ${cert}
  macOS          sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${cert}
  Windows        certutil -addstore -f Root ${cert}
`;
}
