/**
 * X.509 for MITM: the CA that signs minted certificates, the certificates minted per host, and
 * the CA that `rx3proxy ca` creates. node:crypto signs and verifies but cannot build a
 * certificate, so the DER is assembled by @peculiar/x509 on node's WebCrypto.
 *
 *   CA PEM (EC or RSA key) -> MitmCa { certificate, WebCryptoKey, key identifier }
 *   mint(host)             -> leaf PEM: EC P-256 service key, SAN dns/ip, serverAuth, AKI = CA SKI
 *
 * @peculiar/x509 (and tsyringe under it, which needs reflect-metadata) costs about 250 ms to
 * load, so it is required on first use: configs without MITM and CLI calls never pay for it.
 */
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509Types from '@peculiar/x509';

type X509Module = typeof X509Types;
type WebCryptoKey = webcrypto.CryptoKey;
let lib: X509Module | null = null;

function x509(): X509Module {
  if (lib === null) {
    // tsyringe (inside @peculiar/x509) throws at load without the Reflect metadata polyfill.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('reflect-metadata');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    lib = require('@peculiar/x509') as X509Module;
    lib.cryptoProvider.set(webcrypto);
  }
  return lib;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const RSA_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

/** A CA loaded for signing. */
export interface MitmCa {
  readonly certPem: string;
  readonly cert: X509Certificate;
  readonly signingKey: WebCryptoKey;
  readonly signingAlgorithm: typeof ECDSA_SHA256 | typeof RSA_SHA256;
  /** The CA's subject key identifier (hex), our minted certificates' authority key identifier. */
  readonly keyId: string;
  /** The CA's subject name as parsed by @peculiar/x509 (kept opaque here). */
  readonly subjectName: unknown;
  /** SHA-256 of the CA certificate: part of every cache key, so a new CA never reuses old leaves. */
  readonly fingerprint: string;
}

/** A key pair for minted certificates (one per MITM config: 3proxy's server.key). */
export interface LeafKey {
  readonly privatePem: string;
  readonly publicKey: WebCryptoKey;
}

export class CertError extends Error {}

function algorithmFor(key: KeyObject): { importAlg: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams; sign: MitmCa['signingAlgorithm'] } {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const named = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : null;
    if (named === null) throw new CertError(`unsupported EC curve ${curve ?? '?'} (use P-256, P-384 or P-521)`);
    return { importAlg: { name: 'ECDSA', namedCurve: named }, sign: ECDSA_SHA256 };
  }
  if (key.asymmetricKeyType === 'rsa') return { importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, sign: RSA_SHA256 };
  throw new CertError(`unsupported CA key type ${key.asymmetricKeyType ?? '?'} (use an EC or RSA key)`);
}

/** Parses and checks a CA certificate and its key (PEM text). Throws CertError. */
export async function loadCa(certPem: string, keyPem: string): Promise<MitmCa> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new CertError(`not a PEM certificate (${(err as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new CertError(`not a usable PEM private key (${(err as Error).message})`);
  }
  if (!cert.ca) throw new CertError('the certificate is not a CA (basicConstraints CA:TRUE is missing)');
  if (!cert.checkPrivateKey(key)) throw new CertError('the key does not belong to the CA certificate');
  if (Date.parse(cert.validTo) <= Date.now()) throw new CertError(`the CA certificate expired on ${cert.validTo}`);
  const { importAlg, sign } = algorithmFor(key);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, importAlg, false, ['sign']);
  const parsed = new (x509().X509Certificate)(cert.raw);
  const ski = parsed.getExtension(x509().SubjectKeyIdentifierExtension);
  const keyId = ski !== null ? ski.keyId : (await x509().SubjectKeyIdentifierExtension.create(parsed.publicKey)).keyId;
  return { certPem: cert.toString(), cert, signingKey, signingAlgorithm: sign, keyId, subjectName: parsed.subjectName, fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase() };
}

/** A new P-256 key pair for minted certificates. */
export async function newLeafKey(): Promise<LeafKey> {
  const pair = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
  return { privatePem: toPem('PRIVATE KEY', pkcs8), publicKey: pair.publicKey };
}

/** A leaf key read back from PEM (the cache directory keeps it across restarts). */
export async function leafKeyFromPem(pem: string): Promise<LeafKey> {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new CertError('not an EC P-256 key');
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const publicKey = await webcrypto.subtle.importKey('spki', spki, EC_P256, true, ['verify']);
  return { privatePem: pem, publicKey };
}

function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

/** How long a minted certificate is valid: under the 398 days clients accept for a leaf. */
const LEAF_DAYS = 365;
const DAY_MS = 24 * 3600 * 1000;

/** Serial numbers: 16 random bytes, first bit cleared so the INTEGER stays positive. */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

/** A DN value safe inside x509's string form (`CN=...`): escape what RFC 4514 reserves. */
function dnValue(s: string): string {
  return s.replace(/[\\,+"<>;=#]/g, (c) => `\\${c}`);
}

/**
 * Mints a certificate for `host` (a DNS name or an IP address) signed by `ca`. Valid from an
 * hour ago (client clocks drift) for LEAF_DAYS, never past the CA's own end.
 */
export async function mintLeaf(ca: MitmCa, leaf: LeafKey, host: string): Promise<string> {
  const X = x509();
  const now = Date.now();
  const caEnd = Date.parse(ca.cert.validTo);
  const notAfter = new Date(Math.min(now + LEAF_DAYS * DAY_MS, caEnd));
  const ip = isIP(host) !== 0;
  // CN is at most 64 characters (RFC 5280 ub-common-name); the SAN carries the name anyway.
  const subject = host.length <= 64 ? `CN=${dnValue(host)}` : 'O=rx3proxy MITM';
  const cert = await X.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    // The CA's subject as encoded in its certificate: clients match issuer to subject byte-wise.
    issuer: ca.subjectName as X509Module['Name']['prototype'],
    notBefore: new Date(now - 3600 * 1000),
    notAfter,
    signingAlgorithm: ca.signingAlgorithm,
    publicKey: leaf.publicKey,
    signingKey: ca.signingKey,
    extensions: [
      new X.BasicConstraintsExtension(false, undefined, true),
      new X.KeyUsagesExtension(X.KeyUsageFlags.digitalSignature, true),
      new X.ExtendedKeyUsageExtension([X.ExtendedKeyUsage.serverAuth]),
      new X.SubjectAlternativeNameExtension([{ type: ip ? 'ip' : 'dns', value: host }]),
      await X.SubjectKeyIdentifierExtension.create(leaf.publicKey),
      new X.AuthorityKeyIdentifierExtension(ca.keyId),
    ],
  });
  return cert.toString('pem') + '\n';
}

/** What `rx3proxy ca` writes: a self-signed CA certificate and its P-256 key (PEM). */
export async function createCa(commonName: string, days: number): Promise<{ certPem: string; keyPem: string }> {
  const X = x509();
  const pair = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await X.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${dnValue(commonName)}, O=rx3proxy`,
    notBefore: new Date(now - 3600 * 1000),
    notAfter: new Date(now + days * DAY_MS),
    signingAlgorithm: ECDSA_SHA256,
    keys: pair,
    extensions: [
      // pathLength 0: this CA signs leaves only, never another CA.
      new X.BasicConstraintsExtension(true, 0, true),
      new X.KeyUsagesExtension(X.KeyUsageFlags.keyCertSign | X.KeyUsageFlags.cRLSign | X.KeyUsageFlags.digitalSignature, true),
      await X.SubjectKeyIdentifierExtension.create(pair.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
  return { certPem: cert.toString('pem') + '\n', keyPem: toPem('PRIVATE KEY', pkcs8) };
}
