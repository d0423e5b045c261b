// The studio's sections, in workflow order, and hash routing (`#/data`, `#/gpu`, ...).
import type { Component } from 'svelte';
import DataPanel from './panels/DataPanel.svelte';
import ModelPanel from './panels/ModelPanel.svelte';
import TrainPanel from './panels/TrainPanel.svelte';
import ChatPanel from './panels/ChatPanel.svelte';
import EvaluatePanel from './panels/EvaluatePanel.svelte';
import RunsPanel from './panels/RunsPanel.svelte';
import ExportPanel from './panels/ExportPanel.svelte';
import GpuPanel from './panels/GpuPanel.svelte';

export interface Section {
  id: string;
  label: string;
  /** One line under the label in the navigation. */
  hint: string;
  component: Component;
}

export const SECTIONS: Section[] = [
  { id: 'data', label: 'Data', hint: 'CSV, cleaning, tokens', component: DataPanel },
  { id: 'model', label: 'Model', hint: 'Base model, NF4', component: ModelPanel },
  { id: 'train', label: 'Train', hint: 'LoRA config, curves', component: TrainPanel },
  { id: 'chat', label: 'Chat', hint: 'Try the adapter', component: ChatPanel },
  { id: 'evaluate', label: 'Evaluate', hint: 'Metrics, ratings', component: EvaluatePanel },
  { id: 'runs', label: 'Runs', hint: 'Experiment log', component: RunsPanel },
  { id: 'export', label: 'Export', hint: 'PEFT adapter zip', component: ExportPanel },
  { id: 'gpu', label: 'GPU', hint: 'Device, self-test', component: GpuPanel },
];

export const DEFAULT_SECTION = 'data';

export function sectionHref(id: string): string {
  return `#/${id}`;
}

/** The section a location hash names, or null when the hash is not a route. */
export function sectionFromHash(hash: string): string | null {
  const m = /^#\/([a-z]+)$/.exec(hash);
  return m && SECTIONS.some((s) => s.id === m[1]) ? m[1] : null;
}
