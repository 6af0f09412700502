/**
 * Turns the converter state into the YAML-shaped config object and readable YAML whose
 * comments name the 3proxy lines each entry comes from (`# 3proxy.cfg:12: proxy -p3128`).
 */
import { Document, isMap, isNode, isScalar, isSeq } from 'yaml';
import type { Node } from 'yaml';
import type { LogSetting, SourceRef, Sourced } from './model';
import { DEFAULT_LOG_FORMAT } from './model';
import type { ConvertState } from './state';
import { sourceComment } from './state';

type Path = readonly (string | number)[];

/** The object under construction plus the comments to put on its nodes. */
class Builder {
  readonly config: Record<string, unknown> = { version: 1 };
  readonly notes: { path: Path; text: string }[] = [];

  note(path: Path, src: SourceRef | string): void {
    this.notes.push({ path, text: typeof src === 'string' ? src : sourceComment(src) });
  }

  /** A map of sourced values under `key`, one comment per entry. */
  sourcedMap(key: Path, entries: Iterable<[string, Sourced<unknown>]>): Record<string, unknown> | undefined {
    const out: Record<string, unknown> = {};
    let prev: SourceRef | undefined;
    for (const [k, v] of entries) {
      out[k] = v.value;
      // One comment per source line: `users a:CL:x b:CL:y` names its line once.
      if (v.src !== prev) this.note([...key, k], v.src);
      prev = v.src;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  /** A list of sourced values under `key`, one comment per item. */
  sourcedList(key: Path, items: readonly Sourced<unknown>[] | undefined): unknown[] | undefined {
    if (items === undefined || items.length === 0) return undefined;
    items.forEach((it, i) => {
      if (it.src !== items[i - 1]?.src) this.note([...key, i], it.src);
    });
    return items.map((it) => it.value);
  }
}

const put = (obj: Record<string, unknown>, key: string, value: unknown): void => {
  if (value !== undefined) obj[key] = value;
};

function topAccessLog(st: ConvertState, b: Builder): LogSetting {
  const log = st.log;
  const to = log.target?.value ?? 'none';
  const out: Record<string, unknown> = { to };
  if (log.target !== undefined) b.note(['accessLog', 'to'], log.target.src);
  else b.note(['accessLog', 'to'], ' no "log" line: 3proxy writes no access log');
  const format = log.format?.value ?? (to === 'none' ? undefined : DEFAULT_LOG_FORMAT);
  put(out, 'format', format);
  if (log.format !== undefined) b.note(['accessLog', 'format'], log.format.src);
  else if (format !== undefined) b.note(['accessLog', 'format'], " no logformat line: 3proxy's default format");
  const rotate: Record<string, unknown> = {};
  put(rotate, 'every', log.every?.value);
  put(rotate, 'keep', log.keep?.value);
  if (Object.keys(rotate).length > 0) out['rotate'] = rotate;
  if (log.every !== undefined) b.note(['accessLog', 'rotate', 'every'], log.every.src);
  if (log.keep !== undefined) b.note(['accessLog', 'rotate', 'keep'], log.keep.src);
  if (log.archiver !== undefined) {
    out['archiver'] = log.archiver.value;
    b.note(['accessLog', 'archiver'], log.archiver.src);
  }
  b.config['accessLog'] = out;
  return { to, format: log.format?.value ?? DEFAULT_LOG_FORMAT };
}

function resolver(st: ConvertState, b: Builder): void {
  const r = st.resolver;
  const out: Record<string, unknown> = {};
  put(out, 'servers', b.sourcedList(['resolver', 'servers'], r.servers));
  const one = (key: string, v: Sourced<unknown> | undefined): void => {
    if (v === undefined) return;
    out[key] = v.value;
    b.note(['resolver', key], v.src);
  };
  one('cacheSize', r.cacheSize);
  one('cacheSize6', r.cacheSize6);
  put(out, 'hosts', b.sourcedMap(['resolver', 'hosts'], r.hosts));
  one('fakeResolve', r.fakeResolve);
  one('authServer', r.authServer);
  if (Object.keys(out).length > 0) b.config['resolver'] = out;
}

function counters(st: ConvertState, b: Builder): void {
  const c = st.counters;
  const out: Record<string, unknown> = {};
  if (c.file !== undefined) {
    out['file'] = c.file.value;
    b.note(['counters', 'file'], c.file.src);
  }
  if (c.report !== undefined) {
    out['report'] = c.report.value;
    b.note(['counters', 'report'], c.report.src);
  }
  put(out, 'rules', b.sourcedList(['counters', 'rules'], c.rules));
  if (Object.keys(out).length > 0) b.config['counters'] = out;
}

const SCALARS_BEFORE = ['authCache'];
const LISTS = ['bandwidth', 'connectionLimits'];
const SCALARS_AFTER = ['logDump', 'parentRetries', 'filterMaxSize', 'delimChar', 'reloadReauth', 'pidfile', 'setuid', 'setgid'];

function globals(st: ConvertState, b: Builder): void {
  const scalar = (key: string): void => {
    const v = st.scalars.get(key);
    if (v === undefined) return;
    b.config[key] = v.value;
    b.note([key], v.src);
  };
  const list = (key: string): void => put(b.config, key, b.sourcedList([key], st.lists.get(key)));
  resolver(st, b);
  put(b.config, 'users', b.sourcedMap(['users'], st.users));
  list('usersFiles');
  SCALARS_BEFORE.forEach(scalar);
  counters(st, b);
  LISTS.forEach(list);
  SCALARS_AFTER.forEach(scalar);
  list('monitor');
  scalar('configPath');
  scalar('timeouts');
  list('plugins');
  for (const [key, v] of st.pluginSections) {
    b.config[key] = v.value;
    b.note([key], v.src);
  }
}

function services(st: ConvertState, b: Builder, top: LogSetting): void {
  const out = st.services.map((s, i) => {
    const svc = structuredClone(s.value);
    b.note(['services', i], s.src);
    const log = svc.accessLog;
    if (log !== undefined && log.to === top.to && (log.to === 'none' || log.format === top.format)) delete svc.accessLog;
    const auth = st.serviceMeta[i]?.auth;
    b.note(['services', i, 'auth'], auth ?? ' no auth line before this service: 3proxy\'s default is iponly');
    if (svc.acl === undefined) b.note(['services', i, 'auth'], ' no ACL in force here: every request that passes auth is allowed (3proxy)');
    else noteRules(st, b, i);
    return svc;
  });
  if (out.length > 0) b.config['services'] = out;
}

/** Comments on ACL entries and parents, from the rules the service copied. */
function noteRules(st: ConvertState, b: Builder, index: number): void {
  (st.serviceMeta[index]?.rules ?? []).forEach((r, j) => {
    b.note(['services', index, 'acl', j], r.src);
    // A redirect with parents is emitted as allow + its own http hop first.
    const own = r.redirect !== undefined && r.parents.length > 0 ? 1 : 0;
    r.parents.forEach((p, k) => b.note(['services', index, 'acl', j, 'parents', k + own], p.src));
  });
}

/** Puts `text` as a comment on the node at `path` (on the key for map entries). */
function attach(doc: Document, path: Path, text: string): void {
  const parentPath = path.slice(0, -1);
  const last = path[path.length - 1];
  const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
  let target: Node | undefined;
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
    if (pair !== undefined && isScalar(pair.key)) target = pair.key;
  } else if (isSeq(parent) && typeof last === 'number') {
    const item: unknown = parent.items[last];
    if (isNode(item)) target = item;
  }
  if (target === undefined) return;
  const line = text.startsWith(' ') ? text : ` ${text}`;
  target.commentBefore = target.commentBefore === undefined || target.commentBefore === null ? line : `${target.commentBefore}\n${line}`;
}

/** Lists of plain values without comments read best on one line: `auth: [ strong ]`. */
function flowScalarLists(node: unknown): void {
  if (isSeq(node)) {
    if (node.items.length > 0 && node.items.every((i) => isScalar(i) && i.commentBefore == null)) node.flow = true;
    else node.items.forEach(flowScalarLists);
  } else if (isMap(node)) {
    for (const pair of node.items) flowScalarLists(pair.value);
  }
}

/** Limit and counter rules read best as one line each. */
function flowItems(seq: unknown): void {
  if (isSeq(seq)) for (const item of seq.items) if (isMap(item)) item.flow = true;
}

/** Flow style for the small objects, so rules read as one line each. */
function compact(doc: Document): void {
  flowScalarLists(doc.contents);
  flowItems(doc.get('bandwidth', true));
  flowItems(doc.get('connectionLimits', true));
  flowItems(doc.getIn(['counters', 'rules'], true));
  const services = doc.get('services', true);
  if (!isSeq(services)) return;
  for (const svc of services.items) {
    if (!isMap(svc)) continue;
    const acl = svc.get('acl', true);
    if (!isSeq(acl)) continue;
    for (const rule of acl.items) {
      if (!isMap(rule)) continue;
      for (const pair of rule.items) {
        const v = pair.value;
        if (isMap(v)) v.flow = true;
        if (isSeq(v)) for (const p of v.items) if (isMap(p)) p.flow = true;
      }
    }
  }
}

/** Builds the config object and its YAML text. */
export function emit(st: ConvertState, fileName: string): { config: Record<string, unknown>; yaml: string } {
  const b = new Builder();
  const top = topAccessLog(st, b);
  globals(st, b);
  services(st, b, top);
  const config = structuredClone(b.config);
  const doc = new Document(b.config, { aliasDuplicateObjects: false });
  for (const n of b.notes) attach(doc, n.path, n.text);
  compact(doc);
  const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  const errors = st.errors.length > 0 ? `, ${plural(st.errors.length, 'error')}: NOT usable as is` : '';
  doc.commentBefore = ` Converted by rx3proxy from ${fileName} (${plural(st.warnings.length, 'warning')}${errors}).\n Comments "FILE:LINE: ..." name the 3proxy line each entry comes from.`;
  return { config, yaml: doc.toString({ lineWidth: 0 }) };
}
