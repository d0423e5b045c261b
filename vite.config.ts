import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { wgslText } from './vite.wgsl.ts';

export default defineConfig({
  plugins: [wgslText(), svelte()],
  worker: { format: 'es', plugins: () => [wgslText()] },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  server: { port: 5173 },
  preview: { port: 4173 },
});
