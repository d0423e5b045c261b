// SwiGLU (Llama MLP activation): h = silu(gate) · up. Dimension letters: T tokens,
// I intermediate_size. All [T, I] f32; outputs are written (not accumulated).

import type { Gpu } from '../core/context';
import { numel, packUniform, type Tensor } from '../core/tensor';
import code from '../../../shaders/swiglu.wgsl';
import { grid1d } from './grid';
import { checkBindable, checkDistinct, checkTensor } from './guards';

const WG = 256;

export function swigluForward(gpu: Gpu, h: Tensor /* [T, I] */, gate: Tensor /* [T, I] */, up: Tensor /* [T, I] */): void {
  const n = numel(h.shape);
  checkTensor('swigluForward', 'h', h, null);
  checkTensor('swigluForward', 'gate', gate, n);
  checkTensor('swigluForward', 'up', up, n);
  checkDistinct('swigluForward', h, gate, 'h and gate');
  checkDistinct('swigluForward', h, up, 'h and up');
  checkBindable(gpu, 'swigluForward', h, gate, up);
  const u = gpu.uniform(packUniform([n]));
  gpu.dispatch({ code, entry: 'forward', constants: { WG } }, [h.buffer, gate.buffer, up.buffer, u], grid1d(gpu, Math.ceil(n / WG)));
}

export function swigluBackward(
  gpu: Gpu,
  dgate: Tensor, // [T, I] written
  dup: Tensor, // [T, I] written
  dh: Tensor, // [T, I]
  gate: Tensor, // [T, I]
  up: Tensor, // [T, I]
): void {
  const op = 'swigluBackward';
  const n = numel(dh.shape);
  for (const [name, t] of [['dgate', dgate], ['dup', dup], ['dh', dh], ['gate', gate], ['up', up]] as const) checkTensor(op, name, t, n);
  for (const [name, t] of [['dh', dh], ['gate', gate], ['up', up]] as const) {
    checkDistinct(op, dgate, t, `dgate and ${name}`);
    checkDistinct(op, dup, t, `dup and ${name}`);
  }
  checkDistinct(op, dgate, dup, 'dgate and dup');
  checkBindable(gpu, op, dgate, dup, dh, gate, up);
  const u = gpu.uniform(packUniform([n]));
  gpu.dispatch(
    { code, entry: 'backward', constants: { WG } },
    [dgate.buffer, gate.buffer, up.buffer, u, dup.buffer, dh.buffer],
    grid1d(gpu, Math.ceil(n / WG)),
  );
}
