// The fields each UI message chunk type may carry, read from the installed `ai` package's own
// `uiMessageChunkSchema`, for tests/clients/node/ui_client.mjs.
//
// Why: in ai 6.0.x that schema is a union of Zod *loose* objects, so the SDK accepts a part with
// a field it does not know and passes the field on unseen (a stricter SDK version, or a
// stricter reader, would fail the stream). The union of literal types and the required fields
// the SDK checks itself; this module adds the one check it leaves out: no field outside the
// schema. The schema is not reachable at runtime (the Zod objects sit behind a closure, and its
// JSON Schema cannot be built: `data-*` is a custom type), so the field lists are read from the
// schema's source in the package's dist file. Should that text ever change shape, loading
// throws rather than letting every field through.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const MIN_TYPES = 20; // ai 6.0.325 has 25 chunk types (data-* counted once)

function schemaSource() {
  const require = createRequire(import.meta.url);
  const dist = require.resolve('ai').replace(/index\.js$/, 'index.mjs');
  const text = readFileSync(dist, 'utf8');
  const start = text.indexOf('var uiMessageChunkSchema = lazySchema(');
  const end = text.indexOf('\n);\n', start);
  if (start < 0 || end < 0) throw new Error(`uiMessageChunkSchema not found in ${dist}`);
  return text.slice(start, end);
}

// Map: chunk type ("data-*" for every data part) -> Set of field names.
function readFields() {
  const fields = new Map();
  for (const member of schemaSource().split('looseObject({').slice(1)) {
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

const FIELDS = readFields();

// The names in `chunk` that its type's schema does not list (empty when it conforms).
export function unknownFields(chunk) {
  const type = String(chunk.type).startsWith('data-') ? 'data-*' : chunk.type;
  const known = FIELDS.get(type);
  if (known === undefined) return Object.keys(chunk);
  return Object.keys(chunk).filter((name) => !known.has(name));
}

export const chunkTypes = [...FIELDS.keys()];
