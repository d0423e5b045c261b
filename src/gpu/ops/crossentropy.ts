// Cross-entropy on a chunk of rows of logits (the model feeds [Tc, V] chunks so the full
// [T, 128256] matrix never has to exist). Dimension letters: Tc rows in the chunk, V vocabulary.
// Labels i32, −100 = ignored (nll 0, gradient row 0). A label outside [0, V) that is not −100
// gives nll = NaN so a data bug cannot pass silently.

import type { Gpu } from '../core/context';
import { check } from '../core/errors';
import { numel, packUniform, type Tensor } from '../core/tensor';
import body from '../../../shaders/crossentropy.wgsl';
import { grid1d } from './grid';
import { checkBindable, checkDistinct, checkTensor } from './guards';
import { reduceVariant, reduceVariants, rowWorkgroup } from './reduce';

/**
 * Invocations per row (H200, bench/reductions.ts, run 16; either reduction variant): 512 — with
 * 256 a 512-row chunk is 4 workgroups per SM, too few loads in flight (fwd_bwd 512 × 128256: 705
 * → 346 µs, 27 → 52 % of copy bandwidth over 4 chunks); 1024 for ≤ 4 rows (greedy decode's
 * lse_argmax, one row of 128256: 200 → 58 µs).
 */
const WG_MANY = 512, WG_FEW = 1024;
const codes = reduceVariants(body); // wg_lse / wg_argmax with subgroups / through workgroup memory
const NAN_F32 = { f: NaN };

function rows(gpu: Gpu, op: string, out: Tensor, logits: Tensor, ints: Tensor, intsName: string): { Tc: number; V: number } {
  checkTensor(op, intsName, ints, null, 'i32');
  const Tc = numel(ints.shape);
  checkTensor(op, 'logits', logits, null);
  check(Tc > 0 || numel(logits.shape) === 0, op, 'logits given for zero rows');
  const V = Tc > 0 ? numel(logits.shape) / Tc : 0;
  check(Number.isInteger(V) && (Tc === 0 || V > 0), op, `logits [${logits.shape}] is not ${Tc} rows (${intsName} has ${Tc})`);
  checkTensor(op, 'out', out, Tc);
  checkDistinct(op, out, logits, 'out and logits');
  checkDistinct(op, ints, logits, `${intsName} and logits`);
  checkBindable(gpu, op, logits);
  return { Tc, V };
}

function run(gpu: Gpu, entry: string, out: Tensor, logits: Tensor, ints: Tensor, Tc: number, V: number, gradScale: number): void {
  const u = gpu.uniform(packUniform([Tc, V, { f: gradScale }, NAN_F32]));
  gpu.dispatch({ code: reduceVariant(gpu, codes), entry, constants: { WG: rowWorkgroup(gpu, Tc, WG_MANY, WG_FEW) } }, [out.buffer, logits.buffer, u, ints.buffer], grid1d(gpu, Tc));
}

/**
 * nll[t] = logsumexp(logits[t]) − logits[t, label[t]] (0 where label = −100), and logits
 * overwritten in place with d(Σ nll · gradScale)/d logits = (softmax − onehot) · gradScale.
 */
export function crossEntropyForwardBackward(
  gpu: Gpu,
  nll: Tensor, // [Tc] f32 written
  logits: Tensor, // [Tc, V] f32 in place → dLogits · gradScale
  labels: Tensor, // [Tc] i32, −100 ignored
  gradScale: number, // e.g. 1 / (number of counted tokens in the batch)
): void {
  const op = 'crossEntropyForwardBackward';
  check(Number.isFinite(gradScale), op, `gradScale must be finite, got ${gradScale}`);
  const { Tc, V } = rows(gpu, op, nll, logits, labels, 'labels');
  run(gpu, 'fwd_bwd', nll, logits, labels, Tc, V, gradScale);
}

/** nll only (eval / perplexity); logits are not modified. */
export function crossEntropyForward(
  gpu: Gpu,
  nll: Tensor, // [Tc] f32 written
  logits: Tensor, // [Tc, V] f32 read
  labels: Tensor, // [Tc] i32, −100 ignored
): void {
  const { Tc, V } = rows(gpu, 'crossEntropyForward', nll, logits, labels, 'labels');
  run(gpu, 'forward', nll, logits, labels, Tc, V, 0);
}

/** lse[t] = logsumexp(logits[t]); argmax[t] = first index of the row's maximum (greedy decode). */
export function logsumexpArgmax(
  gpu: Gpu,
  lse: Tensor, // [Tc] f32 written
  argmax: Tensor, // [Tc] i32 written
  logits: Tensor, // [Tc, V] f32 read
): void {
  checkDistinct('logsumexpArgmax', lse, argmax, 'lse and argmax');
  const { Tc, V } = rows(gpu, 'logsumexpArgmax', lse, logits, argmax, 'argmax');
  run(gpu, 'lse_argmax', lse, logits, argmax, Tc, V, 0);
}
