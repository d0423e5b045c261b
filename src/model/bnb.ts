// bitsandbytes 4-bit (NF4) checkpoints ⇄ Nf4Host. The layout is what bitsandbytes'
// QuantState.as_dict(packed=True) puts in a state dict and transformers saves, per linear W:
//   W                                    U8  [ceil(n/2), 1]  two codes per byte, high nibble first
//   W.absmax                             F32 [nBlocks]       (U8 codes when double-quantized)
//   W.quant_map                          F32 [16]            the NF4 code book
//   W.nested_absmax                      F32 [ceil(nBlocks/256)]     (double quant only)
//   W.nested_quant_map                   F32 [256]                   (double quant only)
//   W.quant_state.bitsandbytes__nf4      U8  [len]  UTF-8 JSON of the non-tensor items:
//     {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [out, in],
//      "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": <float>}
// (json.dumps of bitsandbytes' pack_dict_to_tensor; keys from bitsandbytes/functional.py).
// n = out·in, nBlocks = ceil(n / 64).

import { NESTED_BLOCK, NF4_BLOCK, NF4_CODE, type Nf4DoubleQuant, type Nf4Host } from '../gpu/ops/nf4.types';
import type { StDtype, TensorToWrite, TypedData } from './safetensors';
import { writeSafetensors } from './safetensors';

export const BNB_QS_SUFFIX = '.quant_state.bitsandbytes__nf4';

/** What the importer needs from a checkpoint: SafetensorsFile and ShardedSafetensors both fit. */
export interface TensorReader {
  has(name: string): boolean;
  read(name: string): Promise<{ dtype: StDtype; shape: number[]; data: TypedData }>;
}

export interface BnbWeight {
  host: Nf4Host;
  /** The original (compute) dtype bitsandbytes recorded, e.g. 'bfloat16'. */
  dtype: string;
}

export class BnbError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'BnbError';
  }
}

/** Names of the 4-bit weights (`….weight`) in a checkpoint's tensor list. */
export function listBnbWeights(names: Iterable<string>): string[] {
  const out: string[] = [];
  for (const n of names) if (n.endsWith(BNB_QS_SUFFIX)) out.push(n.slice(0, -BNB_QS_SUFFIX.length));
  const fp4 = [...names].find((n) => n.endsWith('.quant_state.bitsandbytes__fp4'));
  if (fp4) throw new BnbError(`${fp4}: FP4 checkpoints are not supported (only NF4: bnb_4bit_quant_type "nf4")`);
  return out.sort();
}

function nBlocksOf(n: number, block: number): number {
  return Math.ceil(n / block);
}

/** Read one bnb-4bit weight (name ends with `.weight`) into an Nf4Host, validating every part. */
export async function readBnbWeight(st: TensorReader, name: string, file = 'model.safetensors'): Promise<BnbWeight> {
  const where = `${file}: ${name}`;
  const need = async (suffix: string, dtype: StDtype) => {
    const full = name + suffix;
    if (!st.has(full)) throw new BnbError(`${where}: missing tensor "${full}" (not a bitsandbytes 4-bit checkpoint?)`);
    const t = await st.read(full);
    if (t.dtype !== dtype) throw new BnbError(`${file}: "${full}" is ${t.dtype}, expected ${dtype}`);
    return t;
  };
  const qsT = await need(BNB_QS_SUFFIX, 'U8');
  let qs: Record<string, unknown>;
  try {
    qs = JSON.parse(new TextDecoder().decode(qsT.data as Uint8Array));
  } catch (e) {
    throw new BnbError(`${where}${BNB_QS_SUFFIX}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof qs !== 'object' || qs === null) throw new BnbError(`${where}${BNB_QS_SUFFIX}: expected a JSON object`);
  if (qs.quant_type !== 'nf4') throw new BnbError(`${where}: quant_type ${JSON.stringify(qs.quant_type)} is not supported (only "nf4")`);
  if (qs.blocksize !== NF4_BLOCK) throw new BnbError(`${where}: blocksize ${JSON.stringify(qs.blocksize)} is not supported (only ${NF4_BLOCK})`);
  const shape = qs.shape;
  if (!Array.isArray(shape) || shape.length !== 2 || shape.some((d) => !Number.isInteger(d) || d <= 0))
    throw new BnbError(`${where}: quant_state shape must be [out, in], got ${JSON.stringify(shape)}`);
  const [rows, cols] = shape as number[];
  const n = rows * cols;
  const dtype = typeof qs.dtype === 'string' ? qs.dtype : 'bfloat16';

  const w = await need('', 'U8');
  const packedLen = Math.ceil(n / 2);
  if (w.data.length !== packedLen)
    throw new BnbError(`${where}: packed weight has ${w.data.length} bytes (shape ${JSON.stringify(w.shape)}), expected ${packedLen} for shape [${rows}, ${cols}]`);

  const qm = await need('.quant_map', 'F32');
  const code = qm.data as Float32Array;
  if (code.length !== 16 || code.some((v, i) => Math.abs(v - NF4_CODE[i]) > 1e-6))
    throw new BnbError(`${where}.quant_map: is not the standard NF4 code book`);

  const nBlocks = nBlocksOf(n, NF4_BLOCK);
  const nested = st.has(name + '.nested_absmax');
  let absmax: Float32Array | Nf4DoubleQuant;
  if (nested) {
    if (qs.nested_blocksize !== NESTED_BLOCK)
      throw new BnbError(`${where}: nested_blocksize ${JSON.stringify(qs.nested_blocksize)} is not supported (only ${NESTED_BLOCK})`);
    if (typeof qs.nested_offset !== 'number' || !Number.isFinite(qs.nested_offset))
      throw new BnbError(`${where}: nested_offset must be a number, got ${JSON.stringify(qs.nested_offset)}`);
    const a = await need('.absmax', 'U8');
    if (a.data.length !== nBlocks) throw new BnbError(`${where}.absmax: ${a.data.length} codes, expected ${nBlocks} blocks of ${NF4_BLOCK}`);
    const na = await need('.nested_absmax', 'F32');
    const nNested = nBlocksOf(nBlocks, NESTED_BLOCK);
    if (na.data.length !== nNested) throw new BnbError(`${where}.nested_absmax: ${na.data.length} values, expected ${nNested}`);
    const nqm = await need('.nested_quant_map', 'F32');
    if (nqm.data.length !== 256) throw new BnbError(`${where}.nested_quant_map: ${nqm.data.length} values, expected 256`);
    absmax = {
      codes: (a.data as Uint8Array).slice(),
      nestedAbsmax: (na.data as Float32Array).slice(),
      quantMap: (nqm.data as Float32Array).slice(),
      offset: qs.nested_offset,
    };
  } else {
    const a = await need('.absmax', 'F32');
    if (a.data.length !== nBlocks) throw new BnbError(`${where}.absmax: ${a.data.length} values, expected ${nBlocks} blocks of ${NF4_BLOCK}`);
    absmax = (a.data as Float32Array).slice();
  }
  return { host: { rows, cols, packed: (w.data as Uint8Array).slice(), absmax }, dtype };
}

/** Python-style float text (json.dumps): 1.0 not 1, 1e-05 not 0.00001. */
function pyFloat(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return x.toFixed(1);
  const s = String(x);
  if (Math.abs(x) < 1e-4 && x !== 0) {
    const [m, e] = x.toExponential().split('e');
    const ex = Number(e);
    return `${m}e${ex < 0 ? '-' : '+'}${String(Math.abs(ex)).padStart(2, '0')}`;
  }
  return s;
}

/** The JSON bitsandbytes packs into `….quant_state.bitsandbytes__nf4` (Python json.dumps spacing). */
export function bnbQuantStateJson(host: Nf4Host, dtype = 'bfloat16'): string {
  const parts = [`"quant_type": "nf4"`, `"blocksize": ${NF4_BLOCK}`, `"dtype": ${JSON.stringify(dtype)}`, `"shape": [${host.rows}, ${host.cols}]`];
  if (!(host.absmax instanceof Float32Array))
    parts.push(`"nested_blocksize": ${NESTED_BLOCK}`, `"nested_dtype": "float32"`, `"nested_offset": ${pyFloat(host.absmax.offset)}`);
  return `{${parts.join(', ')}}`;
}

/** Check an Nf4Host's sizes (before writing or uploading). */
export function checkNf4Host(host: Nf4Host, name: string): void {
  const n = host.rows * host.cols;
  if (!Number.isInteger(host.rows) || !Number.isInteger(host.cols) || host.rows <= 0 || host.cols <= 0)
    throw new BnbError(`${name}: bad shape [${host.rows}, ${host.cols}]`);
  if (host.packed.length !== Math.ceil(n / 2)) throw new BnbError(`${name}: packed has ${host.packed.length} bytes, expected ${Math.ceil(n / 2)}`);
  const nBlocks = nBlocksOf(n, NF4_BLOCK);
  if (host.absmax instanceof Float32Array) {
    if (host.absmax.length !== nBlocks) throw new BnbError(`${name}: absmax has ${host.absmax.length} values, expected ${nBlocks}`);
  } else {
    const dq = host.absmax;
    if (dq.codes.length !== nBlocks) throw new BnbError(`${name}: absmax codes ${dq.codes.length}, expected ${nBlocks}`);
    if (dq.nestedAbsmax.length !== nBlocksOf(nBlocks, NESTED_BLOCK))
      throw new BnbError(`${name}: nestedAbsmax has ${dq.nestedAbsmax.length} values, expected ${nBlocksOf(nBlocks, NESTED_BLOCK)}`);
    if (dq.quantMap.length !== 256) throw new BnbError(`${name}: quantMap has ${dq.quantMap.length} values, expected 256`);
  }
}

/** The safetensors entries for one 4-bit weight `name` (ends with `.weight`), bnb layout. */
export function bnbTensors(name: string, host: Nf4Host, dtype = 'bfloat16'): TensorToWrite[] {
  checkNf4Host(host, name);
  const qs = new TextEncoder().encode(bnbQuantStateJson(host, dtype));
  const out: TensorToWrite[] = [
    { name, dtype: 'U8', shape: [host.packed.length, 1], data: host.packed },
    { name: `${name}.quant_map`, dtype: 'F32', shape: [16], data: NF4_CODE },
    { name: name + BNB_QS_SUFFIX, dtype: 'U8', shape: [qs.length], data: qs },
  ];
  if (host.absmax instanceof Float32Array) {
    out.push({ name: `${name}.absmax`, dtype: 'F32', shape: [host.absmax.length], data: host.absmax });
  } else {
    const dq = host.absmax;
    out.push(
      { name: `${name}.absmax`, dtype: 'U8', shape: [dq.codes.length], data: dq.codes },
      { name: `${name}.nested_absmax`, dtype: 'F32', shape: [dq.nestedAbsmax.length], data: dq.nestedAbsmax },
      { name: `${name}.nested_quant_map`, dtype: 'F32', shape: [256], data: dq.quantMap },
    );
  }
  return out;
}

/** A whole bnb-4bit model.safetensors: 4-bit linears plus 16-bit tensors (embeddings, norms). */
export function writeBnbCheckpoint(linears: { name: string; host: Nf4Host; dtype?: string }[], others: TensorToWrite[] = []): Uint8Array {
  return writeSafetensors([...linears.flatMap((l) => bnbTensors(l.name, l.host, l.dtype)), ...others], { format: 'pt' });
}

/** config.json's quantization_config as transformers writes it for BitsAndBytesConfig(load_in_4bit). */
export function bnbQuantizationConfig(doubleQuant: boolean, computeDtype = 'bfloat16'): Record<string, unknown> {
  return {
    _load_in_4bit: true,
    _load_in_8bit: false,
    bnb_4bit_compute_dtype: computeDtype,
    bnb_4bit_quant_storage: 'uint8',
    bnb_4bit_quant_type: 'nf4',
    bnb_4bit_use_double_quant: doubleQuant,
    llm_int8_enable_fp32_cpu_offload: false,
    llm_int8_has_fp16_weight: false,
    llm_int8_skip_modules: null,
    llm_int8_threshold: 6.0,
    load_in_4bit: true,
    load_in_8bit: false,
    quant_method: 'bitsandbytes',
  };
}

/** Inspect config.json's quantization_config: null for an unquantized model; refuses what we cannot load. */
export function parseBnbQuantizationConfig(raw: Record<string, unknown>, file = 'config.json'): { doubleQuant: boolean; computeDtype: string } | null {
  const q = raw.quantization_config as Record<string, unknown> | undefined;
  if (q === undefined || q === null) return null;
  if (q.quant_method !== 'bitsandbytes') throw new BnbError(`${file}: quantization_config.quant_method ${JSON.stringify(q.quant_method)} is not supported (only bitsandbytes 4-bit NF4)`);
  if (q.load_in_8bit === true || q._load_in_8bit === true) throw new BnbError(`${file}: bitsandbytes 8-bit checkpoints are not supported (only 4-bit NF4)`);
  if (q.bnb_4bit_quant_type !== undefined && q.bnb_4bit_quant_type !== 'nf4')
    throw new BnbError(`${file}: quantization_config.bnb_4bit_quant_type ${JSON.stringify(q.bnb_4bit_quant_type)} is not supported (only "nf4")`);
  if (q.bnb_4bit_quant_storage !== undefined && q.bnb_4bit_quant_storage !== 'uint8')
    throw new BnbError(`${file}: quantization_config.bnb_4bit_quant_storage ${JSON.stringify(q.bnb_4bit_quant_storage)} is not supported (only "uint8")`);
  return { doubleQuant: q.bnb_4bit_use_double_quant === true, computeDtype: String(q.bnb_4bit_compute_dtype ?? 'float32') };
}

/** Per-block absmax as f32, resolving double quantization: quantMap[code] · nestedAbsmax[b/256] + offset. */
export function nf4AbsmaxF32(absmax: Float32Array | Nf4DoubleQuant): Float32Array {
  if (absmax instanceof Float32Array) return absmax;
  const out = new Float32Array(absmax.codes.length);
  for (let b = 0; b < out.length; b++)
    out[b] = absmax.quantMap[absmax.codes[b]] * absmax.nestedAbsmax[Math.floor(b / NESTED_BLOCK)] + absmax.offset;
  return out;
}

/** Host dequantization W[rows, cols] f32 (reference and loader fallback). */
export function dequantizeNf4Host(host: Nf4Host): Float32Array {
  const n = host.rows * host.cols;
  const am = nf4AbsmaxF32(host.absmax);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const byte = host.packed[i >> 1];
    const q = i & 1 ? byte & 0xf : byte >> 4;
    out[i] = NF4_CODE[q] * am[Math.floor(i / NF4_BLOCK)];
  }
  return out;
}
