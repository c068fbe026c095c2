#!/usr/bin/env node
/**
 * Builds the single-file bundle an operator copies to a host that has Node.js ≥ 20:
 * dist/xsconsole-dr.mjs (all dependencies inside; the ext2fs WebAssembly is already a
 * base64 data URI in its JavaScript, so no side files are needed).
 *
 *   node scripts/bundle.mjs [--out FILE]
 *
 * What only works beside node_modules is adjusted at build time (see docs/ARCHITECTURE.md):
 *  - `const require = createRequire(import.meta.url)` in our sources (xmlrpc's CommonJS
 *    parts): removed, so esbuild sees plain `require('…')` calls and bundles those modules;
 *  - src/version.ts reads package.json at run time: replaced by the version baked in;
 *  - ext2fs 4.2.x's lib/fs.js assigns to two constants in functions this program never calls
 *    (realpath, ReadStream): Node fails only when they run, esbuild refuses to build, so those
 *    two statements become the TypeError Node would throw there;
 *  - Ink's optional react-devtools-core (DEV=true only): a stub that fails if ever loaded.
 * Every adjustment is checked: the build fails if a pattern it relies on is gone.
 */
import { build } from 'esbuild';
import { readFile, chmod, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const outfile = resolve(outIdx >= 0 && args[outIdx + 1] ? args[outIdx + 1] : join(ROOT, 'dist/xsconsole-dr.mjs'));

const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
const EXT2FS_CONST_ASSIGNMENTS = ['path = path.resolve(p.toString());', 'toRead = Math.min(this.end - this.pos + 1, toRead);'];
const LOCAL_REQUIRE = /^const require = createRequire\(import\.meta\.url\);$/m;

/** yoga-layout's emscripten loader reads `typeof fetch`, which makes Node load undici (30 ms). */
const YOGA_FETCH_TEST = '"function"!=typeof fetch?Promise.resolve().then(function(){return wa()})';
const TEXT_WIDTH = join(ROOT, 'src/console-text-width.ts');

/**
 * Start-up time of the console (each change is checked; see docs/ARCHITECTURE.md):
 *  - yoga's loader decodes its embedded WebAssembly without asking for fetch first;
 *  - every import of string-width gets the fast path of src/console-text-width.ts in front
 *    of that importer's own string-width version.
 */
const fastStart = {
  name: 'fast-start',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]yoga-layout[\\/]dist[\\/]binaries[\\/]yoga-wasm-base64-esm\.js$/ }, async (a) => {
      const text = await readFile(a.path, 'utf8');
      if (!text.includes(YOGA_FETCH_TEST)) throw new Error(`${a.path}: the loader's fetch test is not where expected; check the yoga-layout version`);
      return { contents: text.replace(YOGA_FETCH_TEST, '!0?Promise.resolve().then(function(){return wa()})'), loader: 'js' };
    });
    b.onResolve({ filter: /^string-width$/ }, async (a) => {
      if (a.pluginData === 'real-string-width') return undefined;
      const real = await b.resolve('string-width', { resolveDir: a.resolveDir, kind: a.kind, pluginData: 'real-string-width' });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'xsdr-string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'xsdr-string-width' }, (a) => ({
      // The real module is required on first need (esbuild initialises a required ES module
      // lazily): loading it builds an Intl.Segmenter, 10–20 ms each version.
      contents: [
        `import { narrowWidth } from ${JSON.stringify(TEXT_WIDTH)};`,
        'let realWidth;',
        'export default function stringWidth(text, options) {',
        '  const known = narrowWidth(text, options);',
        '  if (known !== undefined) return known;',
        `  realWidth ??= require(${JSON.stringify(a.path)}).default;`,
        '  return realWidth(text, options);',
        '}',
      ].join('\n'),
      loader: 'js',
      resolveDir: ROOT,
    }));
  },
};

/** The adjustments described in the header. */
const hostPortable = {
  name: 'host-portable',
  setup(b) {
    // Ink loads react-devtools-core only when DEV=true; it is not a dependency. An external
    // import would be hoisted to the bundle's top and fail at start, so it is a stub that
    // fails only if DEV=true asks for it.
    b.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: 'react-devtools-core', namespace: 'xsdr-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'xsdr-stub' }, () => ({
      contents: "throw new Error('React devtools are not part of this bundle: unset DEV.');",
      loader: 'js',
    }));
    b.onLoad({ filter: /[\\/]src[\\/]version\.ts$/ }, () => ({
      contents: `export const PRODUCT_NAME = ${JSON.stringify(pkg.name)};\nexport const PRODUCT_VERSION = ${JSON.stringify(pkg.version)};\n`,
      loader: 'ts',
    }));
    b.onLoad({ filter: /[\\/]node_modules[\\/]ext2fs[\\/]lib[\\/]fs\.js$/ }, async (a) => {
      let text = await readFile(a.path, 'utf8');
      for (const stmt of EXT2FS_CONST_ASSIGNMENTS) {
        if (!text.includes(stmt)) throw new Error(`${a.path}: expected statement not found (${stmt}); check the ext2fs version`);
        text = text.replace(stmt, "throw new TypeError('Assignment to constant variable.');");
      }
      return { contents: text, loader: 'js' };
    });
    b.onLoad({ filter: /[\\/](src|components)[\\/].*\.tsx?$/ }, async (a) => {
      const text = await readFile(a.path, 'utf8');
      if (!text.includes('createRequire(import.meta.url)')) return undefined;
      if (!LOCAL_REQUIRE.test(text)) {
        throw new Error(`${a.path}: createRequire(import.meta.url) in an unexpected form; the bundle cannot inline its requires`);
      }
      return { contents: text.replace(LOCAL_REQUIRE, '/* require: bundled by esbuild */'), loader: a.path.endsWith('x') ? 'tsx' : 'ts' };
    });
  },
};

await mkdir(dirname(outfile), { recursive: true });
const result = await build({
  entryPoints: [join(ROOT, 'src/cli.tsx')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  jsx: 'automatic',
  legalComments: 'eof', // keep the bundled packages' licence notices
  // Less to parse at every start (names are kept, so stack traces stay readable).
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  // The entry's own #!/usr/bin/env node line is kept first by esbuild.
  // CommonJS dependencies (emscripten's loader, xmlrpc, sax…) expect these in an ES module.
  banner: {
    js: [
      "import { createRequire as __xsdrCreateRequire } from 'node:module';",
      "import { fileURLToPath as __xsdrFileURLToPath } from 'node:url';",
      "import { dirname as __xsdrDirname } from 'node:path';",
      'const require = __xsdrCreateRequire(import.meta.url);',
      'const __filename = __xsdrFileURLToPath(import.meta.url);',
      'const __dirname = __xsdrDirname(__filename);',
    ].join('\n'),
  },
  plugins: [hostPortable, fastStart],
  metafile: true,
});
await chmod(outfile, 0o755);
const inputs = Object.keys(result.metafile.inputs).length;
const bytes = Object.values(result.metafile.outputs)[0]?.bytes ?? 0;
process.stdout.write(`${outfile}: ${(bytes / 1024 / 1024).toFixed(1)} MiB from ${inputs} modules\n`);
