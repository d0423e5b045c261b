// Run a TypeScript entry point in Node: bundle it with esbuild (shaders as text, packages left
// external) into .vendor/build and import it. Used by `npm run cli` and the benchmarks;
// `--bundle-only OUT` writes a self-contained bundle (packages included) for the GPU machine.
import { build } from 'esbuild';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, ...rest] = process.argv.slice(2);
const bundleOnly = rest[0] === '--bundle-only' ? rest[1] : null;
const outfile = bundleOnly ?? resolve('.vendor/build', basename(entry).replace(/\.ts$/, '.mjs'));
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  loader: { '.wgsl': 'text' },
  packages: bundleOnly ? undefined : 'external',
  external: bundleOnly ? ['webgpu', 'onnxruntime-node', 'sharp'] : undefined,
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  sourcemap: 'inline',
  logLevel: 'error',
});
if (!bundleOnly) {
  process.argv = [process.argv[0], entry, ...rest];
  await import(pathToFileURL(outfile).href);
}
