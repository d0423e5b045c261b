// One decode token of causal GQA attention with the KV-cache append folded in
// (attention_decode.wgsl + attention_decode_reduce.wgsl): the dispatches depend only on shapes,
// never on the position (read on the GPU from `positions[0]`), so a whole decode step can be
// recorded once and replayed (Gpu.capture / Gpu.replay, chat/generate.ts).
// Letters: H query heads, Hkv kv heads, D head dim (D % 4 == 0, D ≤ 512), S key splits (part.shape[1]),
// maxT cache rows; the token's position pos = positions[0] must satisfy pos < maxT.

import type { Gpu } from '../core/context';
import { check } from '../core/errors';
import { createTensor, numel, packUniform, type Tensor } from '../core/tensor';
import mainBody from '../../../shaders/attention_decode.wgsl';
import reduceCode from '../../../shaders/attention_decode_reduce.wgsl';
import type { AttnShape } from './attention';
import { checkBindable, checkDistinct, checkTensor } from './guards';
import { reduceVariant, reduceVariants } from './reduce';

const WG = 128;
const mainCodes = reduceVariants(mainBody); // block max / sum with subgroups / through workgroup memory

/**
 * Key splits per head: ~16 keys per split at the full context (H200 run: 64 keys per split took
 * 27 µs per layer at 130–190 cached tokens, latency-bound), at most 32 splits.
 */
export function decodeSplits(maxT: number): number {
  return Math.max(1, Math.min(32, Math.ceil(maxT / 16)));
}

/** Whether attentionDecodeStep handles this head shape (else callers use kvCacheWrite + attentionDecode). */
export function decodeStepSupported(shape: AttnShape): boolean {
  return shape.headDim % 4 === 0 && shape.headDim <= 4 * WG && shape.nHeads % shape.nKvHeads === 0;
}

/** Scratch of the split partials, [H, S, D+2] f32 (allocated once with the KV cache; S = its shape[1]). */
export function allocDecodePartials(gpu: Gpu, shape: AttnShape, maxT: number, splits = decodeSplits(maxT)): Tensor {
  return createTensor(gpu, [shape.nHeads, splits, shape.headDim + 2], 'f32', 'kv.decodePart');
}

/**
 * out [1, H·D] = attention of the token at position p = positions[0] over cache rows 0..p, after
 * writing its k, v [1, Hkv·D] into cache row p. kCache/vCache [maxT, Hkv·D], part [H, S, D+2].
 */
export function attentionDecodeStep(
  gpu: Gpu, out: Tensor, part: Tensor, kCache: Tensor, vCache: Tensor,
  q: Tensor, k: Tensor, v: Tensor, positions: Tensor, shape: AttnShape,
): void {
  const op = 'attentionDecodeStep';
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  check(decodeStepSupported(shape), op, `head shape H=${H} Hkv=${Hkv} D=${D} unsupported (needs D % 4 == 0, D ≤ ${4 * WG}, H % Hkv == 0)`);
  check(kCache.shape.length === 2 && kCache.shape[1] === Hkv * D, op, `kCache must be [maxT, ${Hkv * D}], got [${kCache.shape}]`);
  const maxT = kCache.shape[0];
  check(part.shape.length === 3 && part.shape[0] === H && part.shape[2] === D + 2 && part.shape[1] >= 1, op,
    `part must be [${H}, S, ${D + 2}], got [${part.shape}]`);
  const S = part.shape[1];
  checkTensor(op, 'vCache', vCache, maxT * Hkv * D);
  checkTensor(op, 'q', q, H * D);
  checkTensor(op, 'out', out, H * D);
  checkTensor(op, 'k', k, Hkv * D);
  checkTensor(op, 'v', v, Hkv * D);
  checkTensor(op, 'positions', positions, null, 'i32');
  check(numel(positions.shape) >= 1, op, 'positions must hold the token position');
  for (const [a, b, what] of [[kCache, vCache, 'kCache and vCache'], [out, part, 'out and part'], [part, kCache, 'part and kCache']] as const)
    checkDistinct(op, a, b, what);
  checkBindable(gpu, op, kCache, vCache, part);
  const u = gpu.uniform(packUniform([H, Hkv, D, S, maxT, { f: 1 / Math.sqrt(D) }]));
  gpu.dispatch({ code: reduceVariant(gpu, mainCodes), constants: { WG, DV: Math.max(1, D / 4) } },
    [part.buffer, kCache.buffer, vCache.buffer, q.buffer, k.buffer, v.buffer, positions.buffer, u], [H, S]);
  gpu.dispatch({ code: reduceCode, constants: { WG } }, [out.buffer, part.buffer, u], [H]);
}
