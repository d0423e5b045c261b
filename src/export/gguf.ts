// GGUF v3 writer and parser, and the LoRA adapter export for llama.cpp (`--lora file.gguf`),
// laid out as llama.cpp's convert_lora_to_gguf.py writes it for a Llama base model:
//   KV: general.architecture "llama", general.type "adapter", adapter.type "lora",
//       adapter.lora.alpha f32, general.quantization_version u32 2 (+ general.name)
//   tensors (F32): blk.{i}.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight.lora_a
//       ne = [in, r]   (PyTorch A [r, in]; ggml lists dims fastest first)
//   …weight.lora_b  ne = [r, out]  (B [out, r])
// convert_hf_to_gguf.py un-permutes HF's rotary layout of q_proj/k_proj rows; for a LoRA pair that
// reorders the rows of B only (A is unchanged), which loraToGguf does too.
// File: "GGUF", u32 version, u64 n_tensors, u64 n_kv, KVs, tensor infos (name, n_dims, ne[], type,
// offset), zero padding to `general.alignment` (32), then each tensor's data, aligned likewise.

import { LINEAR_MODULES, type LinearModule, type LlamaConfig } from '../model/config';
import type { LoraHostWeights } from './peft';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;

export enum GgufType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** ggml tensor types we write/read (element sizes in bytes). */
export const GGML_TYPE = { F32: 0, F16: 1, I8: 24, I16: 25, I32: 26, I64: 27, F64: 28, BF16: 30 } as const;
const GGML_SIZE: Record<number, number> = { 0: 4, 1: 2, 24: 1, 25: 2, 26: 4, 27: 8, 28: 8, 30: 2 };

export type GgufScalar = number | bigint | boolean | string;
export interface GgufKv {
  key: string;
  type: GgufType;
  /** For ARRAY: the element type. */
  itemType?: GgufType;
  value: GgufScalar | GgufScalar[];
}

export interface GgufTensorIn {
  name: string;
  ne: number[]; // ggml order: ne[0] is the fastest-varying (row length)
  type: number; // GGML_TYPE
  data: ArrayBufferView;
}

export interface GgufTensorOut {
  name: string;
  ne: number[];
  type: number;
  offset: number; // relative to the data section
  data: Uint8Array;
}

export interface GgufFile {
  version: number;
  alignment: number;
  kv: Map<string, GgufKv>;
  tensors: GgufTensorOut[];
  dataOffset: number;
}

export class GgufError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'GgufError';
  }
}

// ---- writer ----------------------------------------------------------------------------------

class Out {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  len = 0;
  private grow(n: number) {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  u8(v: number) { this.grow(1); this.dv.setUint8(this.len, v); this.len += 1; }
  i8(v: number) { this.grow(1); this.dv.setInt8(this.len, v); this.len += 1; }
  u16(v: number) { this.grow(2); this.dv.setUint16(this.len, v, true); this.len += 2; }
  i16(v: number) { this.grow(2); this.dv.setInt16(this.len, v, true); this.len += 2; }
  u32(v: number) { this.grow(4); this.dv.setUint32(this.len, v, true); this.len += 4; }
  i32(v: number) { this.grow(4); this.dv.setInt32(this.len, v, true); this.len += 4; }
  f32(v: number) { this.grow(4); this.dv.setFloat32(this.len, v, true); this.len += 4; }
  f64(v: number) { this.grow(8); this.dv.setFloat64(this.len, v, true); this.len += 8; }
  u64(v: number | bigint) { this.grow(8); this.dv.setBigUint64(this.len, BigInt(v), true); this.len += 8; }
  i64(v: number | bigint) { this.grow(8); this.dv.setBigInt64(this.len, BigInt(v), true); this.len += 8; }
  bytes(b: Uint8Array) { this.grow(b.length); this.buf.set(b, this.len); this.len += b.length; }
  str(s: string) { const b = new TextEncoder().encode(s); this.u64(b.length); this.bytes(b); }
  pad(align: number) { const n = (align - (this.len % align)) % align; this.grow(n); this.buf.fill(0, this.len, this.len + n); this.len += n; }
  result() { return this.buf.slice(0, this.len); }
}

function writeValue(o: Out, type: GgufType, v: GgufScalar, key: string): void {
  const num = () => {
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new GgufError(`GGUF KV "${key}": expected a number, got ${typeof v}`);
    return Number(v);
  };
  switch (type) {
    case GgufType.UINT8: return o.u8(num());
    case GgufType.INT8: return o.i8(num());
    case GgufType.UINT16: return o.u16(num());
    case GgufType.INT16: return o.i16(num());
    case GgufType.UINT32: return o.u32(num());
    case GgufType.INT32: return o.i32(num());
    case GgufType.FLOAT32: return o.f32(num());
    case GgufType.FLOAT64: return o.f64(num());
    case GgufType.UINT64: return o.u64(typeof v === 'bigint' ? v : num());
    case GgufType.INT64: return o.i64(typeof v === 'bigint' ? v : num());
    case GgufType.BOOL: return o.u8(v ? 1 : 0);
    case GgufType.STRING:
      if (typeof v !== 'string') throw new GgufError(`GGUF KV "${key}": expected a string`);
      return o.str(v);
    default: throw new GgufError(`GGUF KV "${key}": cannot write value type ${type}`);
  }
}

/** Serialize a GGUF v3 file. Tensor data must match ne × type size. */
export function writeGguf(kvs: GgufKv[], tensors: GgufTensorIn[], alignment = GGUF_DEFAULT_ALIGNMENT): Uint8Array {
  const o = new Out();
  o.u32(GGUF_MAGIC);
  o.u32(3);
  o.u64(tensors.length);
  const allKv = alignment !== GGUF_DEFAULT_ALIGNMENT && !kvs.some((k) => k.key === 'general.alignment')
    ? [...kvs, { key: 'general.alignment', type: GgufType.UINT32, value: alignment }] : kvs;
  o.u64(allKv.length);
  const keys = new Set<string>();
  for (const kv of allKv) {
    if (keys.has(kv.key)) throw new GgufError(`GGUF: duplicate key "${kv.key}"`);
    keys.add(kv.key);
    o.str(kv.key);
    o.u32(kv.type);
    if (kv.type === GgufType.ARRAY) {
      if (!Array.isArray(kv.value) || kv.itemType === undefined) throw new GgufError(`GGUF KV "${kv.key}": ARRAY needs itemType and a list value`);
      o.u32(kv.itemType);
      o.u64(kv.value.length);
      for (const v of kv.value) writeValue(o, kv.itemType, v, kv.key);
    } else {
      if (Array.isArray(kv.value)) throw new GgufError(`GGUF KV "${kv.key}": list value needs type ARRAY`);
      writeValue(o, kv.type, kv.value, kv.key);
    }
  }
  let off = 0;
  const offsets: number[] = [];
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufError(`GGUF: duplicate tensor "${t.name}"`);
    names.add(t.name);
    const size = GGML_SIZE[t.type];
    if (size === undefined) throw new GgufError(`GGUF tensor "${t.name}": unsupported ggml type ${t.type}`);
    const want = t.ne.reduce((a, b) => a * b, 1) * size;
    if (t.data.byteLength !== want) throw new GgufError(`GGUF tensor "${t.name}": ne [${t.ne}] needs ${want} bytes, data has ${t.data.byteLength}`);
    o.str(t.name);
    o.u32(t.ne.length);
    for (const d of t.ne) o.u64(d);
    o.u32(t.type);
    o.u64(off);
    offsets.push(off);
    off += Math.ceil(want / alignment) * alignment;
  }
  o.pad(alignment);
  for (const t of tensors) {
    o.bytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    o.pad(alignment);
  }
  return o.result();
}

// ---- parser ----------------------------------------------------------------------------------

/** Parse a whole GGUF file held in memory (tensors are views into `bytes`). */
export function parseGguf(bytes: Uint8Array, file = 'model.gguf'): GgufFile {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const need = (n: number, what: string) => {
    if (p + n > bytes.byteLength) throw new GgufError(`${file}: truncated while reading ${what} at byte ${p}`);
  };
  const u32 = (w: string) => { need(4, w); const v = dv.getUint32(p, true); p += 4; return v; };
  const u64 = (w: string) => {
    need(8, w);
    const v = dv.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(`${file}: ${w} ${v} is too large`);
    return Number(v);
  };
  const str = (w: string) => {
    const n = u64(`${w} length`);
    need(n, w);
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(p, p + n));
    p += n;
    return s;
  };
  const value = (type: GgufType, w: string): GgufScalar => {
    switch (type) {
      case GgufType.UINT8: need(1, w); return dv.getUint8(p++);
      case GgufType.INT8: need(1, w); return dv.getInt8(p++);
      case GgufType.UINT16: { need(2, w); const v = dv.getUint16(p, true); p += 2; return v; }
      case GgufType.INT16: { need(2, w); const v = dv.getInt16(p, true); p += 2; return v; }
      case GgufType.UINT32: return u32(w);
      case GgufType.INT32: { need(4, w); const v = dv.getInt32(p, true); p += 4; return v; }
      case GgufType.FLOAT32: { need(4, w); const v = dv.getFloat32(p, true); p += 4; return v; }
      case GgufType.FLOAT64: { need(8, w); const v = dv.getFloat64(p, true); p += 8; return v; }
      case GgufType.UINT64: { need(8, w); const v = dv.getBigUint64(p, true); p += 8; return v; }
      case GgufType.INT64: { need(8, w); const v = dv.getBigInt64(p, true); p += 8; return v; }
      case GgufType.BOOL: { need(1, w); const v = dv.getUint8(p++); if (v > 1) throw new GgufError(`${file}: ${w}: bad bool ${v}`); return v === 1; }
      case GgufType.STRING: return str(w);
      default: throw new GgufError(`${file}: ${w}: unknown value type ${type}`);
    }
  };
  if (bytes.byteLength < 24) throw new GgufError(`${file}: ${bytes.byteLength} bytes is too short for GGUF`);
  if (u32('magic') !== GGUF_MAGIC) throw new GgufError(`${file}: not a GGUF file (bad magic)`);
  const version = u32('version');
  if (version !== 2 && version !== 3) throw new GgufError(`${file}: GGUF version ${version} is not supported (2 or 3)`);
  const nTensors = u64('tensor count');
  const nKv = u64('KV count');
  const kv = new Map<string, GgufKv>();
  for (let i = 0; i < nKv; i++) {
    const key = str(`key #${i}`);
    const type = u32(`type of "${key}"`) as GgufType;
    if (type === GgufType.ARRAY) {
      const itemType = u32(`item type of "${key}"`) as GgufType;
      const n = u64(`length of "${key}"`);
      if (n > bytes.byteLength) throw new GgufError(`${file}: array "${key}" claims ${n} items`);
      const arr: GgufScalar[] = [];
      for (let j = 0; j < n; j++) arr.push(value(itemType, `"${key}"[${j}]`));
      kv.set(key, { key, type, itemType, value: arr });
    } else kv.set(key, { key, type, value: value(type, `"${key}"`) });
  }
  const alignKv = kv.get('general.alignment');
  const alignment = alignKv ? Number(alignKv.value) : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0)
    throw new GgufError(`${file}: general.alignment ${alignment} must be a power of two`);
  const infos: { name: string; ne: number[]; type: number; offset: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str(`tensor name #${i}`);
    const nd = u32(`n_dims of "${name}"`);
    if (nd > 4) throw new GgufError(`${file}: tensor "${name}" has ${nd} dims (at most 4)`);
    const ne: number[] = [];
    for (let d = 0; d < nd; d++) ne.push(u64(`ne[${d}] of "${name}"`));
    const type = u32(`type of "${name}"`);
    const offset = u64(`offset of "${name}"`);
    infos.push({ name, ne, type, offset });
  }
  const dataOffset = Math.ceil(p / alignment) * alignment;
  const tensors: GgufTensorOut[] = [];
  const seen = new Set<string>();
  for (const t of infos) {
    if (seen.has(t.name)) throw new GgufError(`${file}: duplicate tensor "${t.name}"`);
    seen.add(t.name);
    const size = GGML_SIZE[t.type];
    if (size === undefined) throw new GgufError(`${file}: tensor "${t.name}" has ggml type ${t.type}, which this reader does not support`);
    if (t.offset % alignment !== 0) throw new GgufError(`${file}: tensor "${t.name}" offset ${t.offset} is not aligned to ${alignment}`);
    const n = t.ne.reduce((a, b) => a * b, 1) * size;
    const begin = dataOffset + t.offset;
    if (begin + n > bytes.byteLength) throw new GgufError(`${file}: tensor "${t.name}" runs past the end of the file (truncated?)`);
    tensors.push({ ...t, data: bytes.subarray(begin, begin + n) });
  }
  return { version, alignment, kv, tensors, dataOffset };
}

/** F32 tensor data as a Float32Array (copied: GGUF views may be unaligned). */
export function ggufF32(t: GgufTensorOut): Float32Array {
  if (t.type !== GGML_TYPE.F32) throw new GgufError(`tensor "${t.name}" is ggml type ${t.type}, not F32`);
  return new Float32Array(t.data.slice().buffer);
}

// ---- LoRA adapter for llama.cpp ------------------------------------------------------------------

export const GGUF_LORA_NAMES: Record<LinearModule, string> = {
  q_proj: 'attn_q', k_proj: 'attn_k', v_proj: 'attn_v', o_proj: 'attn_output',
  gate_proj: 'ffn_gate', up_proj: 'ffn_up', down_proj: 'ffn_down',
};

/**
 * Undo HF's rotary row order for q/k (convert_hf_to_gguf.py LlamaModel.permute): rows of a
 * [nHead·D, cols] matrix go from (head, half, i) to (head, i, half).
 */
export function permuteRopeRows(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  const hd = rows / nHead, half = hd / 2;
  if (!Number.isInteger(half)) throw new GgufError(`permuteRopeRows: ${rows} rows do not split into ${nHead} heads of even size`);
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++)
    for (let s = 0; s < 2; s++)
      for (let i = 0; i < half; i++) {
        const src = h * hd + s * half + i, dst = h * hd + i * 2 + s;
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
  return out;
}

/** The LoRA adapter as a GGUF file llama.cpp loads with --lora. */
export function loraToGguf(w: LoraHostWeights, cfg: LlamaConfig, opts: { name?: string } = {}): Uint8Array {
  if (w.layers.length !== cfg.numHiddenLayers) throw new GgufError(`adapter has ${w.layers.length} layers, config has ${cfg.numHiddenLayers}`);
  const kvs: GgufKv[] = [
    { key: 'general.architecture', type: GgufType.STRING, value: 'llama' },
    { key: 'general.type', type: GgufType.STRING, value: 'adapter' },
    { key: 'adapter.type', type: GgufType.STRING, value: 'lora' },
  ];
  if (opts.name) kvs.push({ key: 'general.name', type: GgufType.STRING, value: opts.name });
  kvs.push(
    { key: 'adapter.lora.alpha', type: GgufType.FLOAT32, value: w.alpha },
    { key: 'general.quantization_version', type: GgufType.UINT32, value: 2 },
  );
  const tensors: GgufTensorIn[] = [];
  w.layers.forEach((layer, i) => {
    for (const m of LINEAR_MODULES) {
      const t = layer[m];
      if (!t) continue;
      let B = t.B;
      if (m === 'q_proj') B = permuteRopeRows(B, t.outF, w.r, cfg.numAttentionHeads);
      if (m === 'k_proj') B = permuteRopeRows(B, t.outF, w.r, cfg.numKeyValueHeads);
      const base = `blk.${i}.${GGUF_LORA_NAMES[m]}.weight`;
      tensors.push({ name: `${base}.lora_a`, ne: [t.inF, w.r], type: GGML_TYPE.F32, data: t.A });
      tensors.push({ name: `${base}.lora_b`, ne: [w.r, t.outF], type: GGML_TYPE.F32, data: B });
    }
  });
  return writeGguf(kvs, tensors);
}
