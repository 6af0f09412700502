/**
 * Global limits (inventory §5): bandlimin/out and nobandlim*, countin/out/all and nocount*,
 * connlim/noconnlim, counter. Each rule carries an ACE, parsed like an ACL entry. These lists
 * are global in 3proxy: not copied per service and not emptied by `flush`.
 */
import { parseAce } from './ace';
import type { Match } from './model';
import { period } from './model';
import type { ConvertState } from './state';

const withMatch = (rule: Record<string, unknown>, match: Match, weight: number | undefined, st: ConvertState): Record<string, unknown> => {
  if (weight !== undefined) st.warn('PRXWRN004', `ACE weight field (${weight}) on a limit rule`);
  rule['match'] = match;
  return rule;
};

/** `bandlimin|bandlimout RATE <ACE>` and `nobandlimin|nobandlimout <ACE>`. */
export function bandlim(st: ConvertState, args: readonly string[]): void {
  const cmd = args[0] ?? '';
  const direction = cmd.endsWith('in') ? 'in' : 'out';
  if (cmd.startsWith('no')) {
    const { match, weight } = parseAce(st, args.slice(1));
    st.push('bandwidth', withMatch({ direction, exempt: true }, match, weight, st));
    return;
  }
  // sscanf %u: leading digits.
  const rate = Number(/^\d*/.exec(args[1] ?? '')?.[0] || '0');
  if (rate < 300) st.fail(`Wrong bandwidth specified (${args[1] ?? ''}: at least 300 bits/s)`);
  const { match, weight } = parseAce(st, args.slice(2));
  st.push('bandwidth', withMatch({ direction, rate }, match, weight, st));
}

/** `countin|countout|countall "N[/comment]" PERIOD LIMIT_MB <ACE>` and the no* exceptions. */
export function count(st: ConvertState, args: readonly string[]): void {
  const cmd = args[0] ?? '';
  const direction = cmd.slice(cmd.indexOf('count') + 5);
  if (cmd.startsWith('no')) {
    const { match, weight } = parseAce(st, args.slice(1));
    st.counters.rules.push(st.sourced(withMatch({ direction, exempt: true }, match, weight, st)));
    return;
  }
  const head = /^(\d*)\/?(.*)$/.exec(args[1] ?? '');
  const id = Number(head?.[1] || '0');
  const comment = head?.[2] ?? '';
  const limit = Number(/^\d*/.exec(args[3] ?? '')?.[0] || '0');
  if (limit === 0) st.fail(`Wrong traffic limit specified (${args[3] ?? ''})`);
  const rule: Record<string, unknown> = { id };
  if (comment !== '') rule['comment'] = comment;
  Object.assign(rule, { direction, every: period(args[2]), limitMB: limit });
  const { match, weight } = parseAce(st, args.slice(4));
  st.counters.rules.push(st.sourced(withMatch(rule, match, weight, st)));
}

/** `connlim RATE PERIOD_SEC <ACE>` and `noconnlim <ACE>`. */
export function connlim(st: ConvertState, args: readonly string[]): void {
  if (args[0] === 'noconnlim') {
    const { match, weight } = parseAce(st, args.slice(1));
    st.push('connectionLimits', withMatch({ exempt: true }, match, weight, st));
    return;
  }
  const rate = Number(/^\d*/.exec(args[1] ?? '')?.[0] || '0');
  const per = Number(/^\d*/.exec(args[2] ?? '')?.[0] || '0');
  if (rate === 0) st.fail(`connlim rate "${args[1] ?? ''}" must be a positive number`);
  const { match, weight } = parseAce(st, args.slice(3));
  st.push('connectionLimits', withMatch({ rate, per: `${per}s` }, match, weight, st));
}

/** `counter FILE [PERIOD REPORTNAME]`: where counters persist, and periodic text reports. */
export function counter(st: ConvertState, args: readonly string[]): void {
  const file = args[1] ?? '';
  // Never overwrite 3proxy's binary file: rx3proxy persists JSON next to it.
  const json = file.endsWith('.json') ? file : `${file}.json`;
  st.counters.file = st.sourced(json);
  if (json !== file) st.warn('PRXWRN007', `counter file "${file}" is 3proxy's binary format and is not read: totals start from 0 and persist as JSON in "${json}"`);
  if (args.length >= 4) st.counters.report = st.sourced({ every: period(args[2]), file: args[3] ?? '' });
  else if (args.length === 3) st.warn('PRXWRN004', `counter report period "${args[2] ?? ''}" without a report file name`);
}
