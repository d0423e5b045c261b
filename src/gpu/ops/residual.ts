// Residual add / scaled accumulate: out = a + alpha·b, all (n,) f32. `out` may alias `a`
// only through the in-place variant (WebGPU forbids binding one buffer twice as writable).

import type { Gpu } from '../core/context';
import { check } from '../core/errors';
import { numel, packUniform, type Tensor } from '../core/tensor';
import code from '../../../shaders/residual.wgsl';
import { grid1d } from './grid';

const WG = 256;

export function residualAdd(gpu: Gpu, out: Tensor, a: Tensor, b: Tensor, alpha = 1): void {
  const n = numel(out.shape);
  check(numel(a.shape) === n && numel(b.shape) === n, 'residualAdd', `sizes ${n}, ${numel(a.shape)}, ${numel(b.shape)} differ`);
  check(out.dtype === 'f32' && a.dtype === 'f32' && b.dtype === 'f32', 'residualAdd', 'f32 only');
  const u = gpu.uniform(packUniform([n, { f: alpha }]));
  gpu.dispatch({ code, constants: { WG } }, [out.buffer, a.buffer, b.buffer, u], grid1d(gpu, Math.ceil(n / WG)));
}
