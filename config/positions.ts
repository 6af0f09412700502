/**
 * Maps a JSON pointer to a line and column in the YAML/JSON source, using the `yaml`
 * package's document tree and LineCounter (js-yaml loses source positions; see README).
 */
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export interface Position {
  line: number;
  column: number;
}

function decode(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Position of the node at `pointer`; with `key`, the position of that key inside a map. */
export function positionOf(doc: Document, lc: LineCounter, pointer: string, key?: string): Position {
  let node: unknown = doc.contents;
  let best: Node | null = (doc.contents) ?? null;
  const tokens = pointer === '' ? [] : pointer.split('/').slice(1).map(decode);
  if (key !== undefined) tokens.push(key);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const last = i === tokens.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === t);
      if (pair === undefined) break;
      // For the key asked about (unknown keys), point at the key itself.
      if (last && key !== undefined && isScalar(pair.key)) {
        best = pair.key;
        break;
      }
      node = pair.value;
      if (node !== null && typeof node === 'object') best = node as Node;
    } else if (isSeq(node)) {
      const item = node.items[Number(t)];
      if (item === undefined) break;
      node = item;
      if (node !== null && typeof node === 'object') best = node as Node;
    } else break;
  }
  const offset = best?.range?.[0] ?? 0;
  const p = lc.linePos(offset);
  return { line: p.line, column: p.col };
}
