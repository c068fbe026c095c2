/**
 * The expression language of `<class>.get_all_records_where` (xen-api
 * ocaml/database/db_filter_parse.mly), reimplemented from its grammar: tokens `field`,
 * `and`, `or`, `not`, `true`, `false`, `(`, `)`, `=` and double-quoted literals without
 * escapes; whitespace is space, tab, newline.
 * Precedence as in XAPI's yacc grammar: `and` and `or` are one left-associative level;
 * `not` binds *looser* than both, so `not A and B` means `not (A and B)`.
 * Comparisons are on the database text of a column (booleans "true"/"false", refs, enums in
 * datamodel spelling, sets/maps as S-expressions); columns use database names (name__label).
 */
import { ApiFailure } from './api-error.js';
import { fieldOfColumn, fieldSpec, type AnyRecord, type ClassName } from './schema.js';
import { formatDouble } from './codec.js';

export type WhereValue = { kind: 'field'; column: string } | { kind: 'literal'; text: string };
export type WhereExpr =
  | { kind: 'true' }
  | { kind: 'false' }
  | { kind: 'not'; e: WhereExpr }
  | { kind: 'and' | 'or'; a: WhereExpr; b: WhereExpr }
  | { kind: 'eq'; a: WhereValue; b: WhereValue };

type Tok = { t: 'eq' | 'true' | 'false' | 'lp' | 'rp' | 'field' | 'and' | 'or' | 'not' | 'eof' } | { t: 'ident'; s: string };

const KEYWORDS: ReadonlyArray<[string, Tok['t']]> = [
  ['true', 'true'],
  ['false', 'false'],
  ['field', 'field'],
  ['and', 'and'],
  ['or', 'or'],
  ['not', 'not'],
];

class ExprError extends Error {}

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
      continue;
    }
    if (c === '=') {
      out.push({ t: 'eq' });
      i++;
      continue;
    }
    if (c === '(') {
      out.push({ t: 'lp' });
      i++;
      continue;
    }
    if (c === ')') {
      out.push({ t: 'rp' });
      i++;
      continue;
    }
    if (c === '"') {
      const end = src.indexOf('"', i + 1);
      if (end < 0) throw new ExprError('Failure("lexing: empty token")');
      out.push({ t: 'ident', s: src.slice(i + 1, end) });
      i = end + 1;
      continue;
    }
    const kw = KEYWORDS.find(([w]) => src.startsWith(w, i));
    if (!kw) throw new ExprError('Failure("lexing: empty token")');
    out.push({ t: kw[1] } as Tok);
    i += kw[0].length;
  }
  out.push({ t: 'eof' });
  return out;
}

/** Parses an expression; throws ApiFailure INVALID_VALUE [expr, reason] when malformed. */
export function parseWhere(src: string): WhereExpr {
  let toks: Tok[];
  try {
    toks = lex(src);
  } catch (e) {
    throw new ApiFailure('INVALID_VALUE', [src, (e as Error).message]);
  }
  let pos = 0;
  const peek = (): Tok => toks[pos] ?? { t: 'eof' };
  const next = (): Tok => toks[pos++] ?? { t: 'eof' };
  const fail = (): never => {
    throw new ExprError('Parsing.Parse_error');
  };

  const value = (): WhereValue => {
    const t = next();
    if (t.t === 'ident') return { kind: 'literal', text: t.s };
    if (t.t === 'field') {
      const n = next();
      if (n.t !== 'ident') fail();
      return { kind: 'field', column: (n as { s: string }).s };
    }
    return fail();
  };

  // primary := value = value | true | false | ( expr ) | not expr
  // expr := primary { (and|or) primary }      (left-assoc, one level)
  // `not` takes a whole expr to its right (lowest precedence), like the yacc grammar.
  const primary = (): WhereExpr => {
    const t = peek();
    if (t.t === 'true') {
      next();
      return { kind: 'true' };
    }
    if (t.t === 'false') {
      next();
      return { kind: 'false' };
    }
    if (t.t === 'lp') {
      next();
      const e = expr();
      if (next().t !== 'rp') fail();
      return e;
    }
    if (t.t === 'not') {
      next();
      return { kind: 'not', e: expr() };
    }
    const a = value();
    if (next().t !== 'eq') fail();
    const b = value();
    return { kind: 'eq', a, b };
  };
  const expr = (): WhereExpr => {
    let left = primary();
    for (;;) {
      const t = peek();
      if (t.t !== 'and' && t.t !== 'or') return left;
      next();
      const right = primary();
      left = { kind: t.t, a: left, b: right };
    }
  };

  try {
    const e = expr();
    if (peek().t !== 'eof') fail();
    return e;
  } catch (e) {
    if (e instanceof ExprError) throw new ApiFailure('INVALID_VALUE', [src, e.message]);
    throw e;
  }
}

/** S-expression string quoting as XAPI's database uses for set/map columns. */
function sexprString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The database text of one stored value of cls.field. */
export function columnText(cls: ClassName, field: string, v: unknown): string {
  const spec = fieldSpec(cls, field);
  if (!spec) return '';
  const t = spec.type;
  const scalar = (x: unknown, kind: string): string => {
    if (kind === 'bool') return x ? 'true' : 'false';
    if (kind === 'float') return formatDouble(Number(x));
    return String(x);
  };
  const set = (xs: unknown, kind: string): string => `(${(xs as unknown[]).map((x) => sexprString(scalar(x, kind))).join(' ')})`;
  if (t.kind === 'set') return set(v, t.of.kind);
  if (t.kind === 'map') {
    const value = t.value;
    // A set inside a map (VM_metrics.VCPUs_flags) is stored as its own S-expression text.
    return `(${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `(${sexprString(k)} ${sexprString(value.kind === 'set' ? set(x, value.of.kind) : scalar(x, value.kind))})`)
      .join(' ')})`;
  }
  return scalar(v, t.kind);
}

/**
 * Evaluates a parsed expression on one record. An unknown column fails like XAPI's
 * database lookup does (INTERNAL_ERROR naming the column).
 */
export function evalWhere(cls: ClassName, e: WhereExpr, rec: AnyRecord): boolean {
  const val = (v: WhereValue): string => {
    if (v.kind === 'literal') return v.text;
    const field = fieldOfColumn(cls, v.column);
    if (field === undefined) throw new ApiFailure('INTERNAL_ERROR', [`DBCache_NotFound("missing field", "${v.column}", "")`]);
    return columnText(cls, field, rec[field]);
  };
  switch (e.kind) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'not':
      return !evalWhere(cls, e.e, rec);
    case 'and':
      return evalWhere(cls, e.a, rec) && evalWhere(cls, e.b, rec);
    case 'or':
      return evalWhere(cls, e.a, rec) || evalWhere(cls, e.b, rec);
    case 'eq':
      return val(e.a) === val(e.b);
  }
}

