// Vite plugin: import shaders/*.wgsl as a string (default export).
import { readFileSync } from 'node:fs';
import type { Plugin } from 'vite';

export function wgslText(): Plugin {
  return {
    name: 'wgsl-text',
    enforce: 'pre',
    load(id) {
      if (!id.endsWith('.wgsl')) return null;
      return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
    },
  };
}
