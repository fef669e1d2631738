// Builds the board into dist/: one fingerprinted script and one stylesheet under
// dist/assets/, and dist/index.html naming them. `--check` builds into a temporary
// folder and fails when it differs from the committed dist/ (CI runs it), so that the
// committed build is always what the source makes.
import * as esbuild from 'esbuild';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';

const check = process.argv.includes('--check');
const out = check ? mkdtempSync(join(tmpdir(), 'board-')) : 'dist';
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: ['src/main.jsx'],
  bundle: true,
  minify: true,
  format: 'esm',
  splitting: true,
  chunkNames: 'assets/[name]-[hash]',
  target: ['chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: 'assets/[name]-[hash]',
  assetNames: 'assets/[name]-[hash]',
  outdir: out,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

// The entry's script and stylesheet go in the page; the other chunks (statistics and
// its chart library) are imported when first needed.
const [entry, meta] = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === 'src/main.jsx');
const script = relative(out, entry);
const style = relative(out, meta.cssBundle);
const page = readFileSync('src/index.html', 'utf8')
  .replace('%SCRIPT%', `/board/${script}`)
  .replace('%STYLE%', `/board/${style}`);
writeFileSync(join(out, 'index.html'), page);

// What is served as it is (the manifest, its icons), and the service worker with the
// built files it keeps for offline use; its version changes with them.
for (const f of readdirSync('public')) writeFileSync(join(out, f), readFileSync(join('public', f)));
const assets = Object.keys(result.metafile.outputs).map((p) => `/board/${relative(out, p)}`).sort();
const version = createHash('sha256').update(assets.join('\n')).digest('hex').slice(0, 16);
writeFileSync(join(out, 'sw.js'), readFileSync('src/sw.js', 'utf8')
  .replace('%VERSION%', version)
  .replace('%ASSETS%', JSON.stringify(assets)));

const files = (dir) => readdirSync(dir).flatMap((f) => {
  const p = join(dir, f);
  return statSync(p).isDirectory() ? files(p) : [p];
});
let total = 0;
for (const f of files(out)) {
  const gz = gzipSync(readFileSync(f), { level: 9 }).length;
  total += gz;
  if (!check) console.log(`${relative(out, f).padEnd(40)} ${gz} bytes gzipped`);
}
if (!check) console.log(`${'everything'.padEnd(40)} ${total} bytes gzipped`);

if (check) {
  const list = (dir) => files(dir).map((f) => relative(dir, f)).sort();
  const built = list(out), committed = list('dist');
  const differ = JSON.stringify(built) !== JSON.stringify(committed)
    || built.some((f) => !readFileSync(join(out, f)).equals(readFileSync(join('dist', f))));
  rmSync(out, { recursive: true, force: true });
  if (differ) {
    console.error('web/dist differs from what web/src builds: run `npm run build` in web/ and commit dist/');
    process.exit(1);
  }
  console.log('web/dist is what web/src builds');
}
