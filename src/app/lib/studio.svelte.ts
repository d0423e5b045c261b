// State shared by the panels (Svelte 5 runes): the loaded model, the prepared data and the
// training form. Only results of engine calls live here; the engine itself is in the worker.
import type { DataPreview, ModelSummary } from '../../engine';
import { DEFAULT_TRAIN_CONFIG, PRESETS, type TrainConfig } from '../../train/config';
import type { ColumnMapping } from '../../data/csv';

export interface PrepareSettings {
  seed: number;
  systemPrompt: string;
  columns?: Partial<ColumnMapping>;
}

export interface LoadedData {
  name: string;
  bytes: Uint8Array;
  settings: PrepareSettings;
  preview: DataPreview;
}

export type PresetId = keyof typeof PRESETS;

export function presetConfig(id: PresetId): TrainConfig {
  return { ...DEFAULT_TRAIN_CONFIG, ...PRESETS[id].config, targets: [...(PRESETS[id].config.targets ?? DEFAULT_TRAIN_CONFIG.targets)] };
}

class Studio {
  model = $state.raw<ModelSummary | null>(null);
  data = $state.raw<LoadedData | null>(null);
  /** The training form (also drives the memory plan in the Model section). */
  trainCfg = $state<TrainConfig>(presetConfig('quick-demo'));
  /** Model load, data prepare or resume in progress: engine work that others must wait for. */
  loadingModel = $state(false);
  /** Chat or evaluation generating in the engine (one at a time; not during training). */
  inferring = $state<'chat' | 'evaluate' | null>(null);
}

export const studio = new Studio();
