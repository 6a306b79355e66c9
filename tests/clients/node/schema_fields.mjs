// The fields each UI message chunk type may carry, read from the installed `ai` package's own
// `uiMessageChunkSchema` (the one sdk.mjs chose), for tests/clients/node/ui_client.mjs.
//
// Why: in ai 6.0.x and 5.0.x (5.0.277 checked) that schema is a union of Zod *loose* objects, so
// the SDK accepts a part with a field it does not know and passes the field on unseen (a
// stricter SDK version, or a stricter reader, would fail the stream). The union of literal types
// and the required fields the SDK checks itself; this module adds the one check it leaves out:
// no field outside the schema. The schema is not reachable at runtime (the Zod objects sit
// behind a closure, and its JSON Schema cannot be built: `data-*` is a custom type), so the field
// lists are read from the schema's source in the package's dist file. Should that text ever
// change shape, loading throws rather than letting every field through.
import { readFileSync } from 'node:fs';
import { aiDist } from './sdk.mjs';

const MIN_TYPES = 20; // ai 6.0.325 has 25 chunk types, ai 5.0.277 has 23 (data-* counted once)

// ai@6 wraps the schema in lazySchema(...), ai 5.0.x in lazyValidator(...).
function schemaSource() {
  const text = readFileSync(aiDist, 'utf8');
  const start = text.search(/var uiMessageChunkSchema = lazy(Schema|Validator)\(/);
  const end = text.indexOf('\n);\n', start);
  if (start < 0 || end < 0) throw new Error(`uiMessageChunkSchema not found in ${aiDist}`);
  return text.slice(start, end);
}

// "loose" (unknown fields pass) or "strict" (the SDK itself rejects them), as the source says;
// a mix, or neither, is a shape this reader does not know.
function objectKind(source) {
  const loose = source.includes('looseObject({');
  const strict = source.includes('strictObject({');
  if (loose === strict) throw new Error('uiMessageChunkSchema is neither loose nor strict objects');
  return loose ? 'loose' : 'strict';
}

// Map: chunk type ("data-*" for every data part) -> Set of field names.
function readFields(source, kind) {
  const fields = new Map();
  for (const member of source.split(`${kind}Object({`).slice(1)) {
    const body = member.slice(0, member.indexOf('\n      })'));
    const literal = body.match(/^\s*type: z\d*\.literal\("([a-z-]+)"\)/);
    const custom = /^\s*type: z\d*\.custom\(/.test(body) && body.includes('"data-"');
    const type = literal ? literal[1] : custom ? 'data-*' : null;
    if (type === null) throw new Error(`a chunk schema without a type: ${body.slice(0, 200)}`);
    const names = [...body.matchAll(/^ {8}([A-Za-z_]\w*):/gm)].map((m) => m[1]);
    fields.set(type, new Set(names));
  }
  if (fields.size < MIN_TYPES) throw new Error(`only ${fields.size} chunk types read`);
  return fields;
}

const SOURCE = schemaSource();

export const schemaKind = objectKind(SOURCE);

const FIELDS = readFields(SOURCE, schemaKind);

// The names in `chunk` that its type's schema does not list (empty when it conforms).
export function unknownFields(chunk) {
  const type = String(chunk.type).startsWith('data-') ? 'data-*' : chunk.type;
  const known = FIELDS.get(type);
  if (known === undefined) return Object.keys(chunk);
  return Object.keys(chunk).filter((name) => !known.has(name));
}

export const chunkTypes = [...FIELDS.keys()];
