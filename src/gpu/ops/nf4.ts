// NF4 weights on the GPU (bitsandbytes layout, see nf4.types.ts / nf4.ref.ts): upload from a host
// copy, quantize an f32 tensor on the GPU (bit-identical to nf4QuantizeRef), download, and
// dequantize. The matmuls (nf4Matmul, nf4MatmulBackward) live in nf4.matmul.ts, re-exported here.
// W [N = rows (out), K = cols (in)]; n = N·K values; nb = ceil(n/64) blocks.

import type { Gpu } from '../core/context';
import { check, GpuError } from '../core/errors';
import { createTensor, destroyTensor, packUniform, readF32, readU32, tensorFrom, type Tensor } from '../core/tensor';
import quantCode from '../../../shaders/nf4_quant.wgsl';
import commonCode from '../../../shaders/nf4_common.wgsl';
import dequantCode from '../../../shaders/nf4_dequant.wgsl';
import { grid1d } from './grid';
import { bindingLimit, nf4Bindings, offsetAlignment, rowChunks, slice } from './nf4.chunks';
import { placeholder } from '../core/scratch';
import { createDynamicMap, nf4CheckHost } from './nf4.ref';
import { NESTED_BLOCK, NF4_BLOCK, type Nf4Host } from './nf4.types';

export { nf4Matmul, nf4MatmulBackward } from './nf4.matmul';

export interface Nf4Weight {
  readonly rows: number; // N, out features
  readonly cols: number; // K, in features
  readonly doubleQuant: boolean;
  readonly label: string;
  /** GPU tensors, opaque to callers. */
  readonly packed: Tensor; // u32 [ceil(n/8)]: byte j = codes of elements 2j (high nibble), 2j+1
  readonly absmax: Tensor; // f32 [nb] absmax, or [ceil(nb/256)] nested absmax when doubleQuant
  readonly codes: Tensor | null; // doubleQuant: u32 [ceil(nb/4)] 8-bit absmax codes
  readonly meta: Tensor | null; // doubleQuant: f32 [257] quant map [256] and offset
}

const round4 = (b: number) => Math.ceil(b / 4) * 4;

/** GPU bytes of one NF4 weight (for the memory plan). */
export function nf4WeightBytes(rows: number, cols: number, doubleQuant: boolean): number {
  const n = rows * cols;
  const nb = Math.ceil(n / NF4_BLOCK);
  const packed = round4(Math.ceil(n / 2));
  if (!doubleQuant) return packed + 4 * nb;
  return packed + round4(nb) + 4 * Math.ceil(nb / NESTED_BLOCK) + 4 * 257;
}

function checkSize(rows: number, cols: number, op: string): void {
  check(Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0, op, `bad shape [${rows}, ${cols}]`);
  if (rows * cols >= 2 ** 32) throw new GpuError('limit', `${op}: ${rows}×${cols} values exceed 2^32`);
}

function bytesToU32(b: Uint8Array): Uint32Array {
  const out = new Uint32Array(Math.max(1, Math.ceil(b.length / 4)));
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Upload a host NF4 weight (e.g. from a bnb-4bit checkpoint or nf4QuantizeRef). */
export function nf4Upload(gpu: Gpu, h: Nf4Host, label = 'nf4'): Nf4Weight {
  checkSize(h.rows, h.cols, 'nf4Upload');
  try {
    nf4CheckHost(h, 'nf4Upload');
  } catch (e) {
    throw new GpuError('shape', (e as Error).message);
  }
  const words = bytesToU32(h.packed);
  const packed = tensorFrom(gpu, words, [words.length], `${label}.packed`);
  if (h.absmax instanceof Float32Array) {
    const absmax = tensorFrom(gpu, h.absmax, [h.absmax.length], `${label}.absmax`);
    return { rows: h.rows, cols: h.cols, doubleQuant: false, label, packed, absmax, codes: null, meta: null };
  }
  const d = h.absmax;
  const cw = bytesToU32(d.codes);
  const codes = tensorFrom(gpu, cw, [cw.length], `${label}.absmax_codes`);
  const absmax = tensorFrom(gpu, d.nestedAbsmax, [d.nestedAbsmax.length], `${label}.nested_absmax`);
  const m = new Float32Array(257);
  m.set(d.quantMap);
  m[256] = d.offset;
  const meta = tensorFrom(gpu, m, [257], `${label}.quant_meta`);
  return { rows: h.rows, cols: h.cols, doubleQuant: true, label, packed, absmax, codes, meta };
}

/**
 * Quantize W [N, K] f32 on the GPU (model loading). Records the dispatches and, with double
 * quantization, submits them so the temporary f32 absmax can be freed.
 */
export function nf4Quantize(gpu: Gpu, w: Tensor, opts: { doubleQuant?: boolean } = {}, label = 'nf4'): Nf4Weight {
  check(w.dtype === 'f32' && w.shape.length === 2, 'nf4Quantize', `W must be [N, K] f32, got [${w.shape}] ${w.dtype}`);
  const [rows, cols] = w.shape;
  checkSize(rows, cols, 'nf4Quantize');
  const n = rows * cols;
  const nb = Math.ceil(n / NF4_BLOCK);
  const packed = createTensor(gpu, [Math.ceil(n / 8)], 'u32', `${label}.packed`);
  const absmaxF = createTensor(gpu, [nb], 'f32', `${label}.absmax`);
  const al = offsetAlignment(gpu);
  // chunk starts: multiple of 64·al/4 elements keeps W, packed and absmax offsets aligned
  for (const c of rowChunks(rows, cols, 4, bindingLimit(gpu), (NF4_BLOCK * al) / 4, 'nf4Quantize')) {
    const e0 = c.row0 * cols, nc = c.rows * cols;
    const u = gpu.uniform(packUniform([nc, { f: 0 }]));
    gpu.dispatch(
      { code: quantCode, entry: 'quant4', constants: { WG: 64 } },
      [slice(packed.buffer, e0 / 2, Math.ceil(nc / 2)), slice(absmaxF.buffer, (e0 / NF4_BLOCK) * 4, Math.ceil(nc / NF4_BLOCK) * 4),
        slice(w.buffer, e0 * 4, nc * 4), placeholder(gpu, 3).buffer, u],
      grid1d(gpu, Math.ceil(nc / 8 / 64)),
    );
  }
  if (!opts.doubleQuant)
    return { rows, cols, doubleQuant: false, label, packed, absmax: absmaxF, codes: null, meta: null };
  if (nb * 4 > bindingLimit(gpu)) throw new GpuError('limit', `nf4Quantize: ${nb} absmax values exceed the binding limit`);
  const m = new Float32Array(257);
  m.set(createDynamicMap());
  const meta = tensorFrom(gpu, m, [257], `${label}.quant_meta`);
  const u = gpu.uniform(packUniform([nb, { f: Math.fround(1 / nb) }]));
  gpu.dispatch({ code: quantCode, entry: 'dq_mean' }, [placeholder(gpu, 0).buffer, placeholder(gpu, 1).buffer, absmaxF.buffer, meta.buffer, u], [1]);
  const codes = createTensor(gpu, [Math.ceil(nb / 4)], 'u32', `${label}.absmax_codes`);
  const nested = createTensor(gpu, [Math.ceil(nb / NESTED_BLOCK)], 'f32', `${label}.nested_absmax`);
  gpu.dispatch(
    { code: quantCode, entry: 'dq_quant8' },
    [codes.buffer, nested.buffer, absmaxF.buffer, meta.buffer, u],
    grid1d(gpu, Math.ceil(nb / NESTED_BLOCK)),
  );
  gpu.flush();
  destroyTensor(gpu, absmaxF);
  return { rows, cols, doubleQuant: true, label, packed, absmax: nested, codes, meta };
}

/** Read a weight back to the host layout (export, bit-exact tests). */
export async function nf4Download(gpu: Gpu, w: Nf4Weight): Promise<Nf4Host> {
  const n = w.rows * w.cols;
  const nb = Math.ceil(n / NF4_BLOCK);
  const packed = new Uint8Array((await readU32(gpu, w.packed)).buffer).slice(0, Math.ceil(n / 2));
  const absmax = await readF32(gpu, w.absmax);
  if (!w.doubleQuant) return { rows: w.rows, cols: w.cols, packed, absmax };
  const codes = new Uint8Array((await readU32(gpu, w.codes!)).buffer).slice(0, nb);
  const meta = await readF32(gpu, w.meta!);
  return {
    rows: w.rows,
    cols: w.cols,
    packed,
    absmax: { codes, nestedAbsmax: absmax, quantMap: meta.slice(0, 256), offset: meta[256] },
  };
}

/** out [N, K] f32 = dequantized W. */
export function nf4Dequantize(gpu: Gpu, out: Tensor, w: Nf4Weight): void {
  check(out.dtype === 'f32' && out.shape.length === 2 && out.shape[0] === w.rows && out.shape[1] === w.cols,
    'nf4Dequantize', `out must be [${w.rows}, ${w.cols}] f32, got [${out.shape}] ${out.dtype}`);
  const code = dequantCode + commonCode;
  for (const c of rowChunks(w.rows, w.cols, 4, bindingLimit(gpu), 2 * offsetAlignment(gpu), 'nf4Dequantize')) {
    const e0 = c.row0 * w.cols, nc = c.rows * w.cols;
    const u = gpu.uniform(packUniform([nc, e0, w.doubleQuant ? 1 : 0]));
    gpu.dispatch({ code, constants: { WG: 256 } },
      [slice(out.buffer, e0 * 4, nc * 4), u, ...nf4Bindings(gpu, w, c.row0, c.rows)],
      grid1d(gpu, Math.ceil(nc / 8 / 256)));
  }
}

/** Free a weight's GPU buffers. */
export function nf4Destroy(gpu: Gpu, w: Nf4Weight): void {
  for (const t of [w.packed, w.absmax, w.codes, w.meta]) if (t) destroyTensor(gpu, t);
}
