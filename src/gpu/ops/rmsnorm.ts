// RMSNorm (HF LlamaRMSNorm, frozen weight): out = x · rsqrt(mean(x²) + eps) · w.
// Dimension letters: T tokens, C hidden size. The forward saves rstd [T] for the backward.

import type { Gpu } from '../core/context';
import { check } from '../core/errors';
import { numel, packUniform, type Tensor } from '../core/tensor';
import body from '../../../shaders/rmsnorm.wgsl';
import { grid1d } from './grid';
import { checkBindable, checkDistinct, checkTensor } from './guards';
import { reduceVariant, reduceVariants, rowWorkgroup, useSubgroupReductions } from './reduce';

const WG = 256; // invocations per row without subgroups (see rowsWorkgroup)
const codes = reduceVariants(body); // wg_sum with subgroups / through workgroup memory

function rowsOf(op: string, x: Tensor, w: Tensor): { T: number; C: number } {
  checkTensor(op, 'w', w, null);
  const C = numel(w.shape);
  check(C > 0, op, 'w must not be empty');
  const T = numel(x.shape) / C;
  check(Number.isInteger(T), op, `x [${x.shape}] is not a multiple of C=${C} (w's length)`);
  checkTensor(op, 'x', x, T * C);
  return { T, C };
}

export function rmsnormForward(
  gpu: Gpu,
  out: Tensor, // [T, C] written
  rstd: Tensor, // [T] written, saved for the backward
  x: Tensor, // [T, C]
  w: Tensor, // [C] frozen weight
  eps: number, // rms_norm_eps
): void {
  const op = 'rmsnormForward';
  const { T, C } = rowsOf(op, x, w);
  checkTensor(op, 'out', out, T * C);
  checkTensor(op, 'rstd', rstd, T);
  check(eps >= 0 && Number.isFinite(eps), op, `eps must be finite and >= 0, got ${eps}`);
  checkDistinct(op, out, x, 'out and x');
  checkDistinct(op, out, w, 'out and w');
  checkDistinct(op, out, rstd, 'out and rstd');
  checkBindable(gpu, op, out, x);
  const u = gpu.uniform(packUniform([T, C, { f: eps }, 0]));
  gpu.dispatch({ code: reduceVariant(gpu, codes), entry: 'forward', constants: { WG: rowsWorkgroup(gpu, T, true) } }, [out.buffer, rstd.buffer, x.buffer, w.buffer, u], grid1d(gpu, T));
}

/**
 * Invocations per row (H200, bench/reductions.ts, run 16): up to 1024 for ≤ 4 rows (decode; T = 1:
 * 9.8 µs with 256, 5.9 with 1024, 4.9 with 1024 and subgroups); 512 with subgroups for longer
 * batches (T = 512: forward 10.8 → 7.5 µs, backward 11.8 → 9.8; T = 2048: 34 → 33, 49 → 42), 256
 * for the tree (512 was mixed there). Different sizes sum in different orders (rstd ≤ 1 ulp apart).
 */
function rowsWorkgroup(gpu: Gpu, T: number, forward: boolean): number {
  return rowWorkgroup(gpu, T, useSubgroupReductions(gpu) ? 512 : WG, forward ? 1024 : WG);
}

export function rmsnormBackward(
  gpu: Gpu,
  dx: Tensor, // [T, C] written, or accumulated with opts.accumulate
  dout: Tensor, // [T, C]
  x: Tensor, // [T, C] the forward's input
  w: Tensor, // [C]
  rstd: Tensor, // [T] from rmsnormForward
  opts: { accumulate?: boolean } = {},
): void {
  const op = 'rmsnormBackward';
  const { T, C } = rowsOf(op, x, w);
  checkTensor(op, 'dx', dx, T * C);
  checkTensor(op, 'dout', dout, T * C);
  checkTensor(op, 'rstd', rstd, T);
  for (const [name, t] of [['dout', dout], ['x', x], ['w', w], ['rstd', rstd]] as const) checkDistinct(op, dx, t, `dx and ${name}`);
  checkBindable(gpu, op, dx, dout, x);
  const u = gpu.uniform(packUniform([T, C, { f: 0 }, opts.accumulate ? 1 : 0]));
  gpu.dispatch(
    { code: reduceVariant(gpu, codes), entry: 'backward', constants: { WG: rowsWorkgroup(gpu, T, false) } },
    [dx.buffer, rstd.buffer, x.buffer, w.buffer, u, dout.buffer],
    grid1d(gpu, T),
  );
}
