/**
 * The layers' import rules (docs/ARCHITECTURE.md), read from the sources themselves: every
 * static, dynamic and type-only import of every module, as TypeScript's own pre-processor
 * finds them.
 *  - the domain (src/dr) never imports Ink, React or an Ink component package;
 *  - the screens (components/) never speak XML-RPC: no import of src/xenapi;
 *  - the simulator (src/sim) shares nothing with the client: it imports only its own modules,
 *    Node's and packages.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { ROOT, sources } from '../helpers/sources.js';

interface Import {
  file: string;
  spec: string;
  /** The project file it names (relative to the root), or null for a package or node: module. */
  target: string | null;
}

function importsOf(dir: string): Import[] {
  return sources(dir).flatMap((file) => {
    const info = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
    return [...info.importedFiles, ...info.referencedFiles].map(({ fileName: spec }) => ({
      file,
      spec,
      target: spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)) : null,
    }));
  });
}

const UI_PACKAGE = /^(ink|react|ink-[\w-]+|react-[\w-]+)(\/|$)/;
const shown = (list: Import[]) => list.map((i) => `${i.file} imports ${i.spec}`);

describe('layers', () => {
  it('the domain (src/dr) imports no Ink, React or Ink component', () => {
    const all = importsOf('src/dr');
    expect(all.length).toBeGreaterThan(100); // the reader finds the imports at all
    expect(shown(all.filter((i) => i.target === null && UI_PACKAGE.test(i.spec)))).toEqual([]);
    expect(shown(all.filter((i) => i.target?.startsWith('components/')))).toEqual([]);
    // The domain sits below the application layer and the front ends.
    expect(shown(all.filter((i) => /^src\/(app|commands)\//.test(i.target ?? '')))).toEqual([]);
  });

  it('the application layer (src/app) imports no Ink, React, screen or command', () => {
    const all = importsOf('src/app');
    expect(all.length).toBeGreaterThan(10);
    expect(shown(all.filter((i) => i.target === null && UI_PACKAGE.test(i.spec)))).toEqual([]);
    expect(shown(all.filter((i) => /^(components\/|src\/commands\/)/.test(i.target ?? '')))).toEqual([]);
  });

  it('the screens (components/) never reach XenAPI: no import of src/xenapi', () => {
    const all = importsOf('components');
    expect(all.length).toBeGreaterThan(50);
    expect(shown(all.filter((i) => i.target?.startsWith('src/xenapi')))).toEqual([]);
  });

  it('the simulator (src/sim) imports only its own modules, Node and packages', () => {
    const all = importsOf('src/sim');
    expect(all.length).toBeGreaterThan(50);
    expect(shown(all.filter((i) => i.target !== null && !i.target.startsWith('src/sim/')))).toEqual([]);
  });
});
