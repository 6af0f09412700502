/**
 * MITM certificates without sockets: minting (SAN, issuer, key identifiers, validity), EC and
 * RSA CAs, the bounded memory cache, and the cache directory (reuse, refusal of a stale or
 * foreign file, key permissions). Load-time checks of a `mitm:` block report the place.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, loadCa, mintLeaf, newLeafKey } from '../../core/mitm/certs';
import { CertCache } from '../../core/mitm/cache';
import { Runtime } from '../../core/runtime';
import { silentLogger } from '../../core/logger';
import type { ProxyError } from '../../core/errors';

const dir = mkdtempSync(join(tmpdir(), 'rx3proxy-mitm-certs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('minting', () => {
  it('issues a P-256 leaf for a name and for an address, verified by the CA, within the CA lifetime', async () => {
    const made = await createCa('Unit CA', 30);
    const ca = await loadCa(made.certPem, made.keyPem);
    const leaf = await newLeafKey();
    const byName = new X509Certificate(await mintLeaf(ca, leaf, 'www.example.test'));
    expect(byName.subjectAltName).toBe('DNS:www.example.test');
    expect(byName.checkHost('www.example.test')).toBe('www.example.test');
    expect(byName.checkHost('other.example.test')).toBeUndefined();
    expect(byName.checkIssued(ca.cert)).toBe(true);
    expect(byName.verify(ca.cert.publicKey)).toBe(true);
    expect(byName.ca).toBe(false);
    expect(byName.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(byName.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    // Never valid past the CA, which ends in 30 days here (a leaf would get 365).
    expect(Date.parse(byName.validTo)).toBeLessThanOrEqual(Date.parse(ca.cert.validTo));
    expect(Date.parse(byName.validFrom)).toBeLessThan(Date.now());
    const byIp = new X509Certificate(await mintLeaf(ca, leaf, '192.0.2.7'));
    expect(byIp.subjectAltName).toBe('IP Address:192.0.2.7');
    expect(byIp.checkIP('192.0.2.7')).toBe('192.0.2.7');
    const v6 = new X509Certificate(await mintLeaf(ca, leaf, '2001:db8::1'));
    expect(v6.checkIP('2001:db8::1')).toBe('2001:db8::1');
    expect(byName.serialNumber).not.toBe(byIp.serialNumber);
    // openssl agrees: chain, purpose and the authority key identifier.
    writeFileSync(join(dir, 'ca.pem'), made.certPem);
    writeFileSync(join(dir, 'leaf.pem'), byName.toString());
    expect(execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')]).toString()).toContain(': OK');
  });

  it('signs with an RSA CA too, and refuses a CA that is not one or whose key does not match', async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa.key', '-out', 'rsa.pem', '-days', '2', '-subj', '/CN=RSA CA', '-addext', 'basicConstraints=critical,CA:TRUE'], { cwd: dir, stdio: 'ignore' });
    const ca = await loadCa(readFileSync(join(dir, 'rsa.pem'), 'utf8'), readFileSync(join(dir, 'rsa.key'), 'utf8'));
    const cert = new X509Certificate(await mintLeaf(ca, await newLeafKey(), 'rsa.example.test'));
    expect(cert.verify(ca.cert.publicKey)).toBe(true);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'leafonly.key', '-out', 'leafonly.pem', '-days', '2', '-subj', '/CN=not a CA', '-addext', 'basicConstraints=critical,CA:FALSE'], { cwd: dir, stdio: 'ignore' });
    await expect(loadCa(readFileSync(join(dir, 'leafonly.pem'), 'utf8'), readFileSync(join(dir, 'leafonly.key'), 'utf8'))).rejects.toThrow('not a CA');
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await expect(loadCa(readFileSync(join(dir, 'rsa.pem'), 'utf8'), other)).rejects.toThrow('does not belong');
  });
});

describe('CertCache', () => {
  it('keeps at most cacheSize contexts, least recently used out first, and mints a host once for concurrent asks', async () => {
    const made = await createCa('LRU CA', 2);
    const cache = await CertCache.open(await loadCa(made.certPem, made.keyPem), 2, null);
    const [a1, a2] = await Promise.all([cache.contextFor('a.test'), cache.contextFor('a.test')]);
    expect(a1).toBe(a2);
    expect(cache.stats.minted).toBe(1);
    await cache.contextFor('b.test');
    await cache.contextFor('a.test'); // a is now the most recent
    await cache.contextFor('c.test'); // evicts b
    expect(cache.stats.minted).toBe(3);
    await cache.contextFor('a.test');
    expect(cache.stats.minted).toBe(3);
    await cache.contextFor('b.test');
    expect(cache.stats.minted).toBe(4);
  });

  it('reuses certificates from the directory across opens, with a 0600 key; a foreign or broken file is minted again', async () => {
    const made = await createCa('Disk CA', 2);
    const ca = await loadCa(made.certPem, made.keyPem);
    const cacheDir = join(dir, 'certs');
    const first = await CertCache.open(ca, 10, cacheDir);
    await first.contextFor('disk.test');
    expect(first.stats.minted).toBe(1);
    expect(statSync(join(cacheDir, 'leaf.key')).mode & 0o777).toBe(0o600);
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
    const pems = readdirSync(cacheDir).filter((f) => f.endsWith('.pem'));
    expect(pems).toHaveLength(1);
    const second = await CertCache.open(ca, 10, cacheDir);
    await second.contextFor('disk.test');
    expect(second.stats).toMatchObject({ minted: 0, diskHits: 1 });
    // A certificate for another key (the leaf key was replaced) does not serve this one.
    writeFileSync(join(cacheDir, 'leaf.key'), createPrivateKey(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' })).export({ type: 'pkcs8', format: 'pem' }));
    const third = await CertCache.open(ca, 10, cacheDir);
    await third.contextFor('disk.test');
    expect(third.stats).toMatchObject({ minted: 1, diskHits: 0 });
    writeFileSync(join(cacheDir, pems[0]!), 'not a certificate');
    const fourth = await CertCache.open(ca, 10, cacheDir);
    await fourth.contextFor('disk.test');
    expect(fourth.stats.minted).toBe(1);
    expect(new X509Certificate(readFileSync(join(cacheDir, pems[0]!))).checkHost('disk.test')).toBe('disk.test');
  });
});

describe('mitm: at load', () => {
  const load = (yaml: string): ProxyError => {
    try {
      Runtime.fromText(yaml, join(dir, 'p.yaml'), { logger: silentLogger() });
    } catch (err) {
      return err as ProxyError;
    }
    throw new Error('the config loaded');
  };

  it('names the file and place of an unreadable CA, and refuses mitm: true without a mitm block', () => {
    const missing = load(`version: 1\nservices:\n  - name: w\n    type: proxy\n    listen: 127.0.0.1:0\n    mitm: { ca: { cert: nope.pem, key: nope.key } }\n`);
    expect(missing.code).toBe('PRX_ERR_CONFIG_INVALID');
    expect(missing.errors[0]).toMatchObject({ pointer: '/services/0/mitm/ca/cert', line: 6 });
    expect(missing.errors[0]!.message).toContain('ENOENT');
    const orphan = load(`version: 1\nservices:\n  - name: w\n    type: proxy\n    listen: 127.0.0.1:0\n    acl:\n      - allow: {}\n        mitm: true\n`);
    expect(orphan.errors[0]).toMatchObject({ pointer: '/services/0/acl/0/mitm' });
    expect(orphan.errors[0]!.message).toContain('needs a "mitm:" block');
  });
});
