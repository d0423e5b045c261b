// Checkpoints as files (Node CLI): DIR/checkpoints/step-000123.safetensors + .sha256, written to
// a temporary name and renamed, so a crash mid-write never damages an earlier checkpoint. The
// two newest are kept.

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointStore } from './checkpoint';

export function fileCheckpointStore(dir: string, keep = 2): CheckpointStore {
  const folder = join(dir, 'checkpoints');
  const name = (step: number) => `step-${String(step).padStart(7, '0')}`;
  return {
    async save(_runId, step, bytes, sha256) {
      await mkdir(folder, { recursive: true });
      const base = join(folder, name(step));
      await writeFile(`${base}.tmp`, bytes);
      await writeFile(`${base}.sha256.tmp`, sha256);
      await rename(`${base}.tmp`, `${base}.safetensors`);
      await rename(`${base}.sha256.tmp`, `${base}.sha256`);
      const steps = await this.list('');
      for (const old of steps.slice(keep)) {
        await rm(join(folder, `${name(old.step)}.safetensors`), { force: true });
        await rm(join(folder, `${name(old.step)}.sha256`), { force: true });
      }
    },
    async list() {
      let files: string[] = [];
      try { files = await readdir(folder); } catch { return []; }
      const steps = files.filter((f) => /^step-\d+\.safetensors$/.test(f)).map((f) => Number(f.slice(5, 12))).sort((a, b) => b - a);
      return steps.map((step) => ({
        step,
        load: async () => ({
          bytes: new Uint8Array(await readFile(join(folder, `${name(step)}.safetensors`))),
          sha256: (await readFile(join(folder, `${name(step)}.sha256`), 'utf8').catch(() => '')).trim(),
        }),
      }));
    },
  };
}
