/**
 * A tiny XML element model for the emitters: build elements, print them indented, and turn them into
 * fast-xml-parser's order-preserving tree (for merging into an existing document).
 */

/** An element: name, attributes in order, children (elements or text). */
export interface XNode {
  name: string;
  attrs: [string, string][];
  children: (XNode | string)[];
}

/** Builds an element; attributes with undefined values are left out. */
export function el(name: string, attrs: Record<string, string | number | undefined> = {}, children: (XNode | string | null)[] = []): XNode {
  const a: [string, string][] = [];
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) a.push([k, String(v)]);
  return { name, attrs: a, children: children.filter((c): c is XNode | string => c !== null) };
}

/** Escapes text or an attribute value (single-quoted attributes, libvirt's own style). */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

/** Prints an element indented by two spaces per level, one element per line. */
export function printXml(node: XNode, level = 0): string {
  const pad = '  '.repeat(level);
  const attrs = node.attrs.map(([k, v]) => ` ${k}='${escapeXml(v)}'`).join('');
  if (node.children.length === 0) return `${pad}<${node.name}${attrs}/>\n`;
  if (node.children.every((c) => typeof c === 'string')) {
    return `${pad}<${node.name}${attrs}>${escapeXml(node.children.join(''))}</${node.name}>\n`;
  }
  const inner = node.children.map((c) => (typeof c === 'string' ? `${pad}  ${escapeXml(c)}\n` : printXml(c, level + 1))).join('');
  return `${pad}<${node.name}${attrs}>\n${inner}${pad}</${node.name}>\n`;
}

/** One entry of fast-xml-parser's preserveOrder tree. */
export type FxpNode = Record<string, unknown>;

/** Converts to fast-xml-parser's preserveOrder form, with whitespace for an element at `indent`. */
export function toFxp(node: XNode, indent: string): FxpNode {
  const attrs: Record<string, string> = {};
  for (const [k, v] of node.attrs) attrs[`@_${k}`] = v;
  const kids: FxpNode[] = [];
  const onlyText = node.children.every((c) => typeof c === 'string');
  for (const c of node.children) {
    if (typeof c === 'string') kids.push({ '#text': c });
    else kids.push({ '#text': `\n${indent}  ` }, toFxp(c, `${indent}  `));
  }
  if (!onlyText && node.children.length > 0) kids.push({ '#text': `\n${indent}` });
  const out: FxpNode = { [node.name]: kids };
  if (node.attrs.length > 0) out[':@'] = attrs;
  return out;
}
