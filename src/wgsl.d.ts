// Shaders are imported as text: `import code from '../shaders/x.wgsl'` (Vite plugin in
// vite.config.ts, esbuild's text loader for the CLI and bench bundles).
declare module '*.wgsl' {
  const code: string;
  export default code;
}
