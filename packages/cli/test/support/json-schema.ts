/**
 * A small JSON Schema (2020-12) validator for the keywords docs/schema/*.schema.json use:
 * $ref (local), type, const, enum, properties, required, additionalProperties: false, items,
 * oneOf, minimum, minLength, pattern. An unknown keyword is an error, so the schema cannot
 * silently use something this validator ignores.
 */
type Schema = { [k: string]: unknown };

const KNOWN = new Set(['$schema', '$id', '$defs', 'title', 'description', '$ref', 'type', 'const', 'enum', 'properties', 'required', 'additionalProperties', 'items', 'oneOf', 'minimum', 'minLength', 'pattern']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Every way `value` breaks `schema`, as `path: reason` lines; empty when it is valid. */
export function validate(root: Schema, value: unknown): string[] {
  const errors: string[] = [];
  check(root, root, value, '$', errors);
  return errors;
}

function check(root: Schema, s: Schema, v: unknown, at: string, out: string[]): void {
  for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`schema keyword ${k} at ${at} is not supported by this validator`);
  if (typeof s.$ref === 'string') {
    const m = /^#\/\$defs\/(.+)$/.exec(s.$ref);
    const target = m ? (root.$defs as Record<string, Schema> | undefined)?.[m[1]!] : undefined;
    if (!target) throw new Error(`unresolvable $ref ${s.$ref}`);
    check(root, target, v, at, out);
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    const t = typeOf(v);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) out.push(`${at}: ${t}, expected ${types.join(' or ')}`);
  }
  if ('const' in s && JSON.stringify(v) !== JSON.stringify(s.const)) out.push(`${at}: ${JSON.stringify(v)}, expected ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) out.push(`${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`);
  if (typeof s.minimum === 'number' && typeof v === 'number' && v < s.minimum) out.push(`${at}: ${v} < ${s.minimum}`);
  if (typeof s.minLength === 'number' && typeof v === 'string' && v.length < s.minLength) out.push(`${at}: shorter than ${s.minLength}`);
  if (typeof s.pattern === 'string' && typeof v === 'string' && !new RegExp(s.pattern, 'u').test(v)) out.push(`${at}: ${JSON.stringify(v)} does not match ${s.pattern}`);
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const r of (s.required ?? []) as string[]) if (!(r in o)) out.push(`${at}: missing ${r}`);
    for (const [k, x] of Object.entries(o)) {
      if (props[k]) check(root, props[k], x, `${at}.${k}`, out);
      else if (s.additionalProperties === false) out.push(`${at}: unexpected property ${k}`);
    }
  }
  if (Array.isArray(v) && s.items) v.forEach((x, i) => check(root, s.items as Schema, x, `${at}[${i}]`, out));
  if (Array.isArray(s.oneOf)) {
    const results = (s.oneOf as Schema[]).map((alt) => {
      const e: string[] = [];
      check(root, alt, v, at, e);
      return e;
    });
    const fits = results.filter((e) => e.length === 0).length;
    // None fits: show why the closest alternative fails, then say so.
    if (fits === 0) out.push(...results.reduce((a, b) => (b.length < a.length ? b : a)));
    if (fits !== 1) out.push(`${at}: matches ${fits} of the oneOf alternatives, expected exactly 1`);
  }
}
