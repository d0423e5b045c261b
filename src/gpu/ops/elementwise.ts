// Small helpers the model needs on whole tensors (n = numel): fill, scale, copy, addInPlace.
// All f32 except copy, which is a raw buffer copy of any dtype (queued in order with dispatches).

import type { Gpu } from '../core/context';
import { check } from '../core/errors';
import { byteSize, numel, packUniform, type Tensor } from '../core/tensor';
import code from '../../../shaders/elementwise.wgsl';
import { grid1d } from './grid';
import { checkBindable, checkDistinct, checkTensor } from './guards';

const WG = 256;

function run(gpu: Gpu, entry: string, t: Tensor, value: number, src?: Tensor): void {
  const n = numel(t.shape);
  check(Number.isFinite(value), entry, `value must be finite, got ${value}`);
  const u = gpu.uniform(packUniform([n, { f: value }]));
  const bindings = src ? [t.buffer, u, src.buffer] : [t.buffer, u];
  gpu.dispatch({ code, entry, constants: { WG } }, bindings, grid1d(gpu, Math.ceil(n / WG)));
}

/** t[i] = value. */
export function fill(gpu: Gpu, t: Tensor /* (n,) f32 */, value: number): void {
  checkTensor('fill', 't', t, null);
  checkBindable(gpu, 'fill', t);
  run(gpu, 'fill', t, value);
}

/** t[i] *= alpha (in place). */
export function scale(gpu: Gpu, t: Tensor /* (n,) f32 */, alpha: number): void {
  checkTensor('scale', 't', t, null);
  checkBindable(gpu, 'scale', t);
  run(gpu, 'scale', t, alpha);
}

/** dst += alpha · src. */
export function addInPlace(gpu: Gpu, dst: Tensor /* (n,) f32 */, src: Tensor /* (n,) f32 */, alpha = 1): void {
  checkTensor('addInPlace', 'dst', dst, null);
  checkTensor('addInPlace', 'src', src, numel(dst.shape));
  checkDistinct('addInPlace', dst, src, 'dst and src');
  checkBindable(gpu, 'addInPlace', dst, src);
  run(gpu, 'add_in_place', dst, alpha, src);
}

/** dst = src (same element count and dtype; any dtype). */
export function copy(gpu: Gpu, dst: Tensor, src: Tensor): void {
  check(dst.dtype === src.dtype, 'copy', `dtypes differ: dst ${dst.dtype}, src ${src.dtype}`);
  check(numel(dst.shape) === numel(src.shape), 'copy', `sizes differ: dst [${dst.shape}], src [${src.shape}]`);
  checkDistinct('copy', dst, src, 'dst and src');
  const bytes = Math.ceil(byteSize(src.shape, src.dtype) / 4) * 4;
  if (bytes === 0) return;
  gpu.copyBuffer(src.buffer, 0, dst.buffer, 0, bytes);
}
