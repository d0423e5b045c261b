// Llama 3.1 RoPE: inverse frequencies with rope_scaling {rope_type: 'llama3'} (as
// transformers' _compute_llama3_parameters) and the in-place rotation of q or k.
// Dimension letters: T tokens, H heads (query or KV heads), D head_dim.

import type { Gpu } from '../core/context';
import { check } from '../core/errors';
import { numel, packUniform, type Tensor } from '../core/tensor';
import code from '../../../shaders/rope.wgsl';
import { grid1d } from './grid';
import { checkBindable, checkDistinct, checkTensor } from './guards';

const WG = 256;

export interface RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface RopeConfig {
  headDim: number;
  ropeTheta: number;
  scaling?: RopeScaling | null; // rope_type 'llama3'; null/undefined = default RoPE
}

/**
 * inv_freq [D/2]: 1 / theta^(2i/D), then llama3 scaling: wavelengths above
 * original_max_position_embeddings / low_freq_factor are divided by `factor`, those below
 * original / high_freq_factor are kept, and the band between is interpolated smoothly.
 * transformers computes this in float32 tensor arithmetic; every step here is rounded to f32
 * the same way (Math.fround, same operation order), which reproduces its values bit for bit
 * (checked against transformers 5.17 in torch-parity.test.ts; plain f64 was off by up to 3 ulp).
 */
export function ropeInvFreq(cfg: RopeConfig): Float32Array {
  const D = cfg.headDim;
  check(Number.isInteger(D) && D > 0 && D % 2 === 0, 'ropeInvFreq', `headDim must be a positive even integer, got ${D}`);
  check(cfg.ropeTheta > 0, 'ropeInvFreq', `ropeTheta must be positive, got ${cfg.ropeTheta}`);
  const s = cfg.scaling;
  if (s) {
    check(s.factor > 0 && s.highFreqFactor !== s.lowFreqFactor && s.originalMaxPositionEmbeddings > 0, 'ropeInvFreq',
      `bad llama3 rope_scaling ${JSON.stringify(s)}`);
  }
  const f = Math.fround;
  const out = new Float32Array(D / 2);
  for (let i = 0; i < D / 2; i++) {
    // torch.arange(0, dim, 2).float() / dim; base ** that; 1.0 / that — all float32
    const inv = f(1 / f(Math.pow(cfg.ropeTheta, f(f(2 * i) / D))));
    if (!s) { out[i] = inv; continue; }
    const old = s.originalMaxPositionEmbeddings;
    const lowFreqWavelen = old / s.lowFreqFactor; // python floats
    const highFreqWavelen = old / s.highFreqFactor;
    const wavelen = f(f(2 * Math.PI) / inv);
    const v = wavelen > lowFreqWavelen ? f(inv / s.factor) : inv;
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    if (isMedium) {
      // smooth = (old / wavelen - low) / (high - low); (1 - smooth) * v / factor + smooth * v
      const smooth = f(f(f(old / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor));
      out[i] = f(f(f(f(1 - smooth) * v) / s.factor) + f(smooth * v));
    } else {
      out[i] = v;
    }
  }
  return out;
}

function rotate(gpu: Gpu, op: string, x: Tensor, positions: Tensor, invFreq: Tensor, nHeads: number, headDim: number, sgn: number): void {
  check(Number.isInteger(nHeads) && nHeads > 0, op, `nHeads must be a positive integer, got ${nHeads}`);
  check(Number.isInteger(headDim) && headDim > 0 && headDim % 2 === 0, op, `headDim must be a positive even integer, got ${headDim}`);
  checkTensor(op, 'positions', positions, null, 'i32');
  const T = numel(positions.shape);
  checkTensor(op, 'x', x, T * nHeads * headDim);
  checkTensor(op, 'invFreq', invFreq, headDim / 2);
  checkBindable(gpu, op, x);
  const n = (T * nHeads * headDim) / 2;
  const u = gpu.uniform(packUniform([n, nHeads, headDim / 2, { f: sgn }, 0, 0]));
  gpu.dispatch({ code, constants: { WG } }, [x.buffer, positions.buffer, invFreq.buffer, u], grid1d(gpu, Math.ceil(n / WG)));
}

/** ropeForward (sgn 1) or ropeBackward (sgn −1) of q [T, H·D] and k [T, Hkv·D] in one dispatch. */
function rotateQK(gpu: Gpu, op: string, q: Tensor, k: Tensor, positions: Tensor, invFreq: Tensor, nHeads: number, nKvHeads: number, headDim: number, sgn: number): void {
  check(Number.isInteger(nHeads) && nHeads > 0 && Number.isInteger(nKvHeads) && nKvHeads > 0, op, `head counts must be positive integers, got ${nHeads}, ${nKvHeads}`);
  check(Number.isInteger(headDim) && headDim > 0 && headDim % 2 === 0, op, `headDim must be a positive even integer, got ${headDim}`);
  checkTensor(op, 'positions', positions, null, 'i32');
  const T = numel(positions.shape);
  checkTensor(op, 'q', q, T * nHeads * headDim);
  checkTensor(op, 'k', k, T * nKvHeads * headDim);
  checkTensor(op, 'invFreq', invFreq, headDim / 2);
  checkDistinct(op, q, k, 'q and k');
  checkBindable(gpu, op, q, k);
  const n = (T * nHeads * headDim) / 2, n2 = (T * nKvHeads * headDim) / 2;
  const u = gpu.uniform(packUniform([n, nHeads, headDim / 2, { f: sgn }, n2, nKvHeads]));
  gpu.dispatch({ code, entry: 'main_qk', constants: { WG } }, [q.buffer, positions.buffer, invFreq.buffer, u, k.buffer],
    grid1d(gpu, Math.ceil((n + n2) / WG)));
}

/** ropeForward of q [T, H·D] and k [T, Hkv·D] in one dispatch (bit-identical to two calls). */
export function ropeForwardQK(gpu: Gpu, q: Tensor, k: Tensor, positions: Tensor, invFreq: Tensor, nHeads: number, nKvHeads: number, headDim: number): void {
  rotateQK(gpu, 'ropeForwardQK', q, k, positions, invFreq, nHeads, nKvHeads, headDim, 1);
}

/** ropeBackward of dq [T, H·D] and dk [T, Hkv·D] in one dispatch. */
export function ropeBackwardQK(gpu: Gpu, dq: Tensor, dk: Tensor, positions: Tensor, invFreq: Tensor, nHeads: number, nKvHeads: number, headDim: number): void {
  rotateQK(gpu, 'ropeBackwardQK', dq, dk, positions, invFreq, nHeads, nKvHeads, headDim, -1);
}

/** Rotate x [T, H·D] in place by each token's position. */
export function ropeForward(
  gpu: Gpu,
  x: Tensor, // [T, H·D] in place
  positions: Tensor, // [T] i32
  invFreq: Tensor, // [D/2] f32 from ropeInvFreq
  nHeads: number,
  headDim: number,
): void {
  rotate(gpu, 'ropeForward', x, positions, invFreq, nHeads, headDim, 1);
}

/** Gradient of ropeForward: rotate dx [T, H·D] in place by minus each token's angle. */
export function ropeBackward(
  gpu: Gpu,
  dx: Tensor, // [T, H·D] in place
  positions: Tensor, // [T] i32
  invFreq: Tensor, // [D/2] f32
  nHeads: number,
  headDim: number,
): void {
  rotate(gpu, 'ropeBackward', dx, positions, invFreq, nHeads, headDim, -1);
}
