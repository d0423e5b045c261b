// Entry point of the browser app: bundles the Bengali font (used for all text), applies the
// saved theme before the first paint, mounts the Svelte shell and starts the engine worker.
import '@fontsource/noto-sans-bengali/400.css';
import '@fontsource/noto-sans-bengali/600.css';
import '@fontsource/noto-sans-bengali/700.css';
import './app/app.css';
import { mount } from 'svelte';
import App from './app/App.svelte';
import { applyTheme, loadTheme } from './app/theme';
import { startEngine } from './app/engine';

applyTheme(loadTheme());

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');
target.replaceChildren();
mount(App, { target });

void startEngine();
