/**
 * 3proxy's MITM commands (ssl_plugin / built-in TLS) -> a service's `mitm:` block.
 *
 *   ssl_mitm / ssl_nomitm            interception on/off for the services that follow
 *   ssl_server_ca_file FILE          the CA certificate (shared with ssl_serv's client CA: tls pending)
 *   ssl_server_ca_key FILE           its key
 *   ssl_certcache DIR/               cache directory; without the two above, DIR/3proxy.pem and
 *                                    DIR/3proxy.key are the CA (as 3proxy reads them)
 *   ssl_client_verify / _no_verify   verify origins (3proxy's default: no verification)
 *   ssl_client_ca_file FILE          CA trusted for origins
 *
 * State is kept per conversion beside ConvertState (it is only read here).
 */
import type { ConvertState } from './state';

interface MitmPending {
  on?: boolean;
  caKey?: string;
  certcache?: string;
  verify?: boolean;
  originCa?: string;
}

const pendingOf = new WeakMap<ConvertState, MitmPending>();

function pending(st: ConvertState): MitmPending {
  let p = pendingOf.get(st);
  if (p === undefined) {
    p = {};
    pendingOf.set(st, p);
  }
  return p;
}

export function mitmCommand(st: ConvertState, args: readonly string[]): void {
  const p = pending(st);
  const v = args[1] ?? '';
  switch (args[0]) {
    case 'ssl_mitm':
      // 3proxy's h_mitm refuses interception on an ssl_serv listener.
      if (st.tls.serve === true) st.fail('ssl_mitm cannot be combined with ssl_serv (3proxy refuses it)');
      p.on = true;
      return;
    case 'ssl_nomitm':
      p.on = false;
      return;
    case 'ssl_server_ca_key':
      p.caKey = v;
      return;
    case 'ssl_certcache':
      // 3proxy's h_certcache: the directory must end with a path separator.
      if (!/[/\\]$/.test(v)) st.fail(`ssl_certcache "${v}": the directory must end with "/"`);
      p.certcache = v;
      return;
    case 'ssl_client_verify':
    case 'ssl_client_no_verify':
      p.verify = args[0] === 'ssl_client_verify';
      return;
    case 'ssl_client_ca_file':
      // Bare: unset (3proxy: every ssl_* setting without a value clears it).
      if (args[1] === undefined) delete p.originCa;
      else p.originCa = v;
      return;
    default:
  }
}

/** The `mitm:` block for a service line, or undefined when interception is off or cannot start. */
export function mitmOf(st: ConvertState, type: string): Record<string, unknown> | undefined {
  const p = pending(st);
  if (p.on !== true) return undefined;
  if (type !== 'proxy') {
    st.warn('PRXWRN007', `ssl_mitm on a ${type} service: rx3proxy intercepts HTTP proxy CONNECT tunnels only; this service runs without interception`);
    return undefined;
  }
  const cert = st.tls.ca ?? (p.certcache === undefined ? undefined : `${p.certcache}3proxy.pem`);
  const key = p.caKey ?? (p.certcache === undefined ? undefined : `${p.certcache}3proxy.key`);
  if (cert === undefined || key === undefined) {
    st.warn('PRXWRN007', 'ssl_mitm without ssl_server_ca_file/ssl_server_ca_key or ssl_certcache: 3proxy has no CA and does not intercept; neither does this service');
    return undefined;
  }
  const block: Record<string, unknown> = { ca: { cert, key } };
  if (p.certcache !== undefined) block['cacheDir'] = p.certcache.replace(/[/\\]$/, '');
  const origin: Record<string, unknown> = {};
  if (p.verify !== true) {
    origin['verify'] = false;
    st.warn('PRXWRN007', 'ssl_mitm without ssl_client_verify: 3proxy does not verify origin certificates, so the converted service does not either (origin.verify: false); add ssl_client_verify to check them');
  }
  if (p.originCa !== undefined) origin['ca'] = p.originCa;
  if (Object.keys(origin).length > 0) block['origin'] = origin;
  return block;
}
