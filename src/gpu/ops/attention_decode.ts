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
import { reduceVariant, reduceVariants, type ReduceVariants } from './reduce';

const WG = 128;
// per (G, D/4): the kernel with its constants, block max with subgroups / through workgroup memory
const mainCodes = new Map<string, ReduceVariants>();
function mainCode(gpu: Gpu, G: number, D4: number): string {
  const key = `${G},${D4}`;
  let v = mainCodes.get(key);
  if (!v) mainCodes.set(key, (v = reduceVariants(`const WG: u32 = ${WG}u;\nconst G: u32 = ${G}u;\nconst D4: u32 = ${D4}u;\n${mainBody}`)));
  return reduceVariant(gpu, v);
}

/** Workgroup memory of the main kernel: qs, ps, osum, lsum, lenw, and at most the tree's three [WG] reduction arrays. */
function workgroupBytes(G: number, D4: number): number {
  const KG = Math.floor(WG / D4);
  return 16 * G * D4 + 4 * G * WG + 16 * KG * G * D4 + 4 * KG * G + 4 + 12 * WG;
}

/**
 * Key splits per head: ~16 keys per split at the full context (H200 run: 64 keys per split took
 * 27 µs per layer at 130–190 cached tokens, latency-bound), at most 32 splits.
 */
export function decodeSplits(maxT: number): number {
  return Math.max(1, Math.min(32, Math.ceil(maxT / 16)));
}

/**
 * Whether attentionDecodeStep handles this head shape (else callers use kvCacheWrite +
 * attentionDecode): D % 4 == 0, D ≤ 4·WG, H % Hkv == 0, and the G = H / Hkv heads' workgroup
 * memory within WebGPU's guaranteed 16 KiB (Llama-3.1-8B, G = 4, D = 128: 13.6 KiB).
 */
export function decodeStepSupported(shape: AttnShape): boolean {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  return D % 4 === 0 && D <= 4 * WG && H % Hkv === 0 && workgroupBytes(H / Hkv, D / 4) <= 16384;
}

/**
 * Scratch of the split partials, [H, S, D+2] f32 (allocated once with the KV cache; S = its
 * shape[1] ≤ 256): o [H·S·D] first, then (m, l) [H·S, 2] (attention_decode.wgsl).
 */
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
  check(decodeStepSupported(shape), op, `head shape H=${H} Hkv=${Hkv} D=${D} unsupported (needs D % 4 == 0, D ≤ ${4 * WG}, H % Hkv == 0, (H / Hkv)·D small enough for 16 KiB of workgroup memory)`);
  check(kCache.shape.length === 2 && kCache.shape[1] === Hkv * D, op, `kCache must be [maxT, ${Hkv * D}], got [${kCache.shape}]`);
  const maxT = kCache.shape[0];
  check(part.shape.length === 3 && part.shape[0] === H && part.shape[2] === D + 2 && part.shape[1] >= 1, op,
    `part must be [${H}, S, ${D + 2}], got [${part.shape}]`);
  const S = part.shape[1];
  check(S <= 256, op, `at most 256 key splits (part has ${S})`);
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
  gpu.dispatch({ code: mainCode(gpu, H / Hkv, D / 4) },
    [part.buffer, kCache.buffer, vCache.buffer, q.buffer, k.buffer, v.buffer, positions.buffer, u], [Hkv, S]);
  gpu.dispatch({ code: reduceCode, constants: { WG: 256 } }, [out.buffer, part.buffer, u], [H]);
}
