/**
 * The domain, the application layer and the commands call XAPI through the typed helpers per
 * class (src/xenapi/classes: `VDI.getByUuid(session, uuid)`), never with a method string
 * (`session.call('VDI.get_by_uuid', uuid)`) or a class name string
 * (`session.getAllRecords('VM')`): read from the sources with TypeScript's parser.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ROOT, sources } from '../helpers/sources.js';

const SCANNED = ['src/dr', 'src/app', 'src/commands'];

/** A method or class name written out: 'VDI.destroy', `${kind}.set_name_label`, 'VD' + 'I…'. */
function stringLike(node: ts.Expression | undefined): boolean {
  if (!node) return false;
  if (ts.isStringLiteralLike(node) || ts.isTemplateExpression(node)) return true;
  if (ts.isParenthesizedExpression(node) || ts.isAsExpression(node)) return stringLike(node.expression);
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) return stringLike(node.left) || stringLike(node.right);
  if (ts.isConditionalExpression(node)) return stringLike(node.whenTrue) || stringLike(node.whenFalse);
  return false;
}

/** The last name of a receiver: `session`, `this.session`, `opts.session` → "session". */
function lastName(node: ts.Expression): string {
  if (ts.isIdentifier(node)) return node.text;
  if (ts.isPropertyAccessExpression(node)) return node.name.text;
  if (ts.isParenthesizedExpression(node) || ts.isNonNullExpression(node) || ts.isAsExpression(node)) return lastName(node.expression);
  return '';
}

/** Session's helpers that take a XenAPI class name. */
const CLASS_NAME_HELPERS = new Set(['getAll', 'getAllRecords', 'getAllRecordsWhere', 'getRecord', 'getByUuid']);
/** src/xenapi/tasks.ts: these take the method name as their second argument. */
const TASK_HELPERS = new Set(['runTask', 'callAsync']);

/** Every place in `text` that calls XAPI by a method or class name string. */
function stringCalls(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const [first, second] = node.arguments;
      let bad = false;
      if (ts.isPropertyAccessExpression(callee)) {
        const name = callee.name.text;
        // `x.call(…)` of a Function (hasOwnProperty.call) takes no string first and is on no session.
        if (name === 'call' || name === 'invoke') bad = stringLike(first) || /session$/i.test(lastName(callee.expression));
        else if (CLASS_NAME_HELPERS.has(name)) bad = stringLike(first);
        else if (TASK_HELPERS.has(name)) bad = stringLike(second);
      } else if (ts.isIdentifier(callee) && TASK_HELPERS.has(callee.text)) bad = stringLike(second);
      if (bad) {
        const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
        found.push(`${file}:${line + 1}: ${node.getText(sf).split('\n')[0]}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

describe('XAPI calls go through the typed helpers', () => {
  const files = SCANNED.flatMap(sources);
  const byFile = new Map(files.map((f) => [f, stringCalls(f, readFileSync(join(ROOT, f), 'utf8'))]));

  it('the scanner finds each way of calling by name', () => {
    const sample = [
      "await session.call('VDI.destroy', ref);",
      "await this.session.invoke('pool.get_all_records', [], opts);",
      'await session.call(method, host);',
      'await s.call(`${kind}.set_name_label`, ref, name);',
      "await session.getAllRecords('VM', { recordFields });",
      "await session.getByUuid('SR', uuid);",
      "await runTask(session, 'VBD.plug', [vbd]);",
      "await tasks.callAsync(session, 'VM.' + op, ref);",
      "const [pool] = await session.getAll('pool', opts);",
      "(await this.session.call<Ref[]>('pool.get_all'))[0];",
      "await session.getAllRecordsWhere('VM', expr);",
    ].join('\n');
    expect(stringCalls('sample.ts', sample).map((l) => l.split(':')[1])).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11']);
    const fine = [
      "await VDI.destroy(session, ref);",
      "await Pool.getAllRecords(session, ['uuid'], opts);",
      'Object.prototype.hasOwnProperty.call(map, KEY);',
      'fn.call(thisArg, value);',
      "await VBD.plug(session, vbd, { signal });",
      "await VM.getAllRecordsWhere(session, 'field \"is_a_snapshot\" = \"false\"', ['power_state']);",
      'await session.poolMaster(opts);',
    ].join('\n');
    expect(stringCalls('fine.ts', fine)).toEqual([]);
  });

  it('src/dr, src/app and src/commands never call XAPI by a method or class name', () => {
    expect(files.length).toBeGreaterThan(40); // the walk finds the sources at all
    // It reaches the files that call XAPI most, and each scanned folder.
    for (const f of ['src/dr/restore.ts', 'src/dr/overview.ts', 'src/dr/backup-vdi.ts', 'src/app/console-session.ts']) expect(files).toContain(f);
    expect(files.some((f) => f.startsWith('src/commands/'))).toBe(true);
    const offending = [...byFile.values()].flat();
    expect(offending).toEqual([]);
  });
});
