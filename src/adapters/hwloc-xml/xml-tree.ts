/**
 * A small, uniform view of an XML document (element name, attributes, children, text), built with
 * fast-xml-parser. Malformed documents become a TopologyError naming the file and the line.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { TopologyError } from '../../core/topology/errors.js';

/** One XML element. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated text content directly inside the element. */
  text: string;
}

type Ordered = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  preserveOrder: true,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
});

/** Parses a document and returns its top-level elements; throws TopologyError (ERR_HWLOC_XML) when malformed. */
export function parseXmlDocument(text: string, origin: string): XmlElement[] {
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new TopologyError(origin, `malformed XML at line ${line}, column ${col}: ${msg}`, 'ERR_HWLOC_XML');
  }
  let raw: unknown;
  try {
    raw = parser.parse(text);
  } catch (err) {
    throw new TopologyError(origin, `malformed XML: ${(err as Error).message}`, 'ERR_HWLOC_XML');
  }
  return convert(raw as Ordered[]).children;
}

function convert(nodes: Ordered[]): { children: XmlElement[]; text: string } {
  const children: XmlElement[] = [];
  let text = '';
  for (const node of nodes) {
    for (const key of Object.keys(node)) {
      if (key === ':@') continue;
      if (key === '#text') {
        text += (text === '' ? '' : ' ') + String(node[key]);
        continue;
      }
      if (key.startsWith('?') || key.startsWith('!')) continue;
      const inner = convert((node[key] as Ordered[] | undefined) ?? []);
      const attrs = (node[':@'] as Record<string, unknown> | undefined) ?? {};
      children.push({
        name: key,
        attrs: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, String(v)])),
        children: inner.children,
        text: inner.text,
      });
    }
  }
  return { children, text };
}
