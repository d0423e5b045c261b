// Learning-rate schedule: linear warmup, then cosine or linear decay to 0 (the shapes of HF's
// get_cosine/linear_schedule_with_warmup), or constant after warmup. One difference: HF's
// first optimizer step runs at lr 0; here step 1 of W warmup steps runs at base/W, reaching
// base at step W (no wasted step); decay reaches 0 just after the last step.
import type { Schedule } from './config';

/** LR for optimizer step `step` (1-based) of `total`. */
export function lrAt(step: number, total: number, base: number, warmup: number, kind: Schedule): number {
  if (step <= warmup) return (base * step) / warmup;
  if (kind === 'constant') return base;
  // Progress 0 on the first step after warmup, < 1 on the last (no step is wasted at lr 0).
  const progress = Math.min(1, (step - 1 - warmup) / Math.max(1, total - warmup));
  if (kind === 'linear') return base * (1 - progress);
  return base * 0.5 * (1 + Math.cos(Math.PI * progress));
}
