// Streaming safetensors reader (one tensor at a time, never the whole file) and writer.
// Format: u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets:[b,e]},
// "__metadata__": {str: str}}, then the data; offsets are relative to the end of the header.
// Byte sources abstract a browser File/Blob or a Node file handle (safetensors.node.ts), so this
// file imports nothing from Node. Sharded models: see ShardedSafetensors (index.json).

export type StDtype = 'F32' | 'F16' | 'BF16' | 'U8' | 'I32' | 'I64';

/** Supported dtypes and their element sizes in bytes. */
export const DTYPE_SIZE: Record<StDtype, number> = { F32: 4, F16: 2, BF16: 2, U8: 1, I32: 4, I64: 8 };
/** Dtypes safetensors defines that we recognise in headers but cannot read. */
const OTHER_DTYPE_SIZE: Record<string, number> = {
  F64: 8, I8: 1, I16: 2, U16: 2, U32: 4, U64: 8, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};
/** The Rust crate refuses headers over 100 MB; so do we (a lying length must not allocate GBs). */
export const MAX_HEADER_SIZE = 100_000_000;

/** Random-access bytes: a File/Blob in the browser, a file handle in Node, or memory. */
export interface ByteSource {
  size: number;
  /** Exactly `length` bytes from `offset` (a shorter result is treated as truncation). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** For messages. */
  name?: string;
}

export function bytesSource(bytes: Uint8Array, name?: string): ByteSource {
  return {
    size: bytes.byteLength,
    name,
    read: async (offset, length) => bytes.subarray(offset, Math.min(offset + length, bytes.byteLength)),
  };
}

/** Browser File/Blob (also Node's Blob): reads slices lazily. */
export function blobSource(blob: Blob, name?: string): ByteSource {
  return {
    size: blob.size,
    name: name ?? (blob as File).name,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
  };
}

export interface TensorInfo {
  name: string;
  dtype: string; // as in the header; one of StDtype when readable
  shape: number[];
  /** Absolute byte offsets in the file [begin, end). */
  begin: number;
  end: number;
}

export class SafetensorsError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'SafetensorsError';
  }
}

export type TypedData = Float32Array | Uint16Array | Uint8Array | Int32Array | BigInt64Array;

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function dtypeSize(dtype: string): number | undefined {
  return (DTYPE_SIZE as Record<string, number>)[dtype] ?? OTHER_DTYPE_SIZE[dtype];
}

/** Parse and validate a safetensors header given the file size. Exported for tests and indexes. */
export function parseHeader(
  headerBytes: Uint8Array,
  fileSize: number,
  file: string,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> | null; dataStart: number } {
  const n = headerBytes.byteLength;
  const dataStart = 8 + n;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(`${file}: header is not valid UTF-8 (not a safetensors file?)`);
  }
  if (!text.startsWith('{')) throw new SafetensorsError(`${file}: header does not start with "{" (not a safetensors file?)`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`${file}: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SafetensorsError(`${file}: header must be a JSON object`);
  const dataSize = fileSize - dataStart;
  let metadata: Record<string, string> | null = null;
  const tensors = new Map<string, TensorInfo>();
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SafetensorsError(`${file}: __metadata__ must be an object of strings`);
      for (const [k, s] of Object.entries(v)) if (typeof s !== 'string') throw new SafetensorsError(`${file}: __metadata__.${k} must be a string`);
      metadata = v as Record<string, string>;
      continue;
    }
    const where = `${file}: tensor "${name}"`;
    if (typeof v !== 'object' || v === null) throw new SafetensorsError(`${where}: entry must be an object`);
    const { dtype, shape, data_offsets } = v as Record<string, unknown>;
    if (typeof dtype !== 'string') throw new SafetensorsError(`${where}: missing dtype`);
    const size = dtypeSize(dtype);
    if (size === undefined) throw new SafetensorsError(`${where}: unknown dtype "${dtype}"`);
    if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0))
      throw new SafetensorsError(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || data_offsets.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0))
      throw new SafetensorsError(`${where}: data_offsets must be [begin, end], got ${JSON.stringify(data_offsets)}`);
    const [b, e] = data_offsets as number[];
    if (e < b) throw new SafetensorsError(`${where}: data_offsets [${b}, ${e}] end before begin`);
    const want = numel(shape as number[]) * size;
    if (e - b !== want)
      throw new SafetensorsError(`${where}: shape ${JSON.stringify(shape)} × ${dtype} (${size} B) = ${want} bytes but data_offsets span ${e - b} bytes`);
    if (e > dataSize)
      throw new SafetensorsError(`${where}: data_offsets [${b}, ${e}] run past the end of the data (${Math.max(dataSize, 0)} bytes): file truncated?`);
    tensors.set(name, { name, dtype, shape: (shape as number[]).slice(), begin: dataStart + b, end: dataStart + e });
  }
  // No two tensors may share bytes.
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end)
      throw new SafetensorsError(`${file}: tensors "${sorted[i - 1].name}" and "${sorted[i].name}" overlap in the data section`);
  }
  return { tensors, metadata, dataStart };
}

/** One safetensors file opened over a ByteSource; only the header is read up front. */
export class SafetensorsFile {
  private constructor(
    readonly source: ByteSource,
    readonly file: string,
    readonly tensors: Map<string, TensorInfo>,
    readonly metadata: Record<string, string> | null,
    readonly dataStart: number,
  ) {}

  static async open(source: ByteSource, file = source.name ?? 'model.safetensors'): Promise<SafetensorsFile> {
    if (source.size < 8) throw new SafetensorsError(`${file}: ${source.size} bytes is too short for a safetensors file (truncated?)`);
    const lenBytes = await source.read(0, 8);
    if (lenBytes.byteLength < 8) throw new SafetensorsError(`${file}: could not read the 8-byte header length (truncated?)`);
    const big = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
    if (big > BigInt(MAX_HEADER_SIZE)) throw new SafetensorsError(`${file}: header length ${big} exceeds ${MAX_HEADER_SIZE} bytes (not a safetensors file?)`);
    const n = Number(big);
    if (8 + n > source.size)
      throw new SafetensorsError(`${file}: header length ${n} runs past the end of the file (${source.size} bytes): truncated?`);
    const header = await source.read(8, n);
    if (header.byteLength !== n) throw new SafetensorsError(`${file}: short read of the header (truncated?)`);
    const { tensors, metadata, dataStart } = parseHeader(header, source.size, file);
    return new SafetensorsFile(source, file, tensors, metadata, dataStart);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.file}: no tensor "${name}"`);
    return t;
  }

  /** Raw little-endian bytes of a tensor, or of a byte range inside it. */
  async readBytes(name: string, byteOffset = 0, byteLength?: number): Promise<Uint8Array> {
    const t = this.info(name);
    const total = t.end - t.begin;
    const len = byteLength ?? total - byteOffset;
    if (byteOffset < 0 || len < 0 || byteOffset + len > total)
      throw new SafetensorsError(`${this.file}: tensor "${name}": range [${byteOffset}, ${byteOffset + len}) outside its ${total} bytes`);
    const got = await this.source.read(t.begin + byteOffset, len);
    if (got.byteLength !== len) throw new SafetensorsError(`${this.file}: tensor "${name}": short read (${got.byteLength} of ${len} bytes): file truncated?`);
    return got;
  }

  /** Rows [row0, row0+nRows) of a tensor of rank ≥ 1 (e.g. gathered embedding rows). */
  async readRows(name: string, row0: number, nRows: number): Promise<{ dtype: StDtype; shape: number[]; data: TypedData }> {
    const t = this.info(name);
    const dtype = this.readableDtype(t);
    if (t.shape.length === 0 || row0 < 0 || nRows < 0 || row0 + nRows > t.shape[0])
      throw new SafetensorsError(`${this.file}: tensor "${name}" ${JSON.stringify(t.shape)}: rows [${row0}, ${row0 + nRows}) out of range`);
    const rowBytes = (numel(t.shape) / (t.shape[0] || 1)) * DTYPE_SIZE[dtype];
    const bytes = await this.readBytes(name, row0 * rowBytes, nRows * rowBytes);
    return { dtype, shape: [nRows, ...t.shape.slice(1)], data: view(dtype, bytes) };
  }

  /** A whole tensor as its natural typed array (BF16/F16 → Uint16Array of raw bits). */
  async read(name: string): Promise<{ dtype: StDtype; shape: number[]; data: TypedData }> {
    const t = this.info(name);
    const dtype = this.readableDtype(t);
    return { dtype, shape: t.shape, data: view(dtype, await this.readBytes(name)) };
  }

  /** A float tensor (F32/F16/BF16) as f32. */
  async readF32(name: string): Promise<Float32Array> {
    const { dtype, data } = await this.read(name);
    if (dtype === 'F32') return data as Float32Array;
    if (dtype === 'BF16') return bf16ToF32(data as Uint16Array);
    if (dtype === 'F16') return f16ToF32(data as Uint16Array);
    throw new SafetensorsError(`${this.file}: tensor "${name}" is ${dtype}, expected a float dtype (F32, F16, BF16)`);
  }

  private readableDtype(t: TensorInfo): StDtype {
    if (!(t.dtype in DTYPE_SIZE))
      throw new SafetensorsError(`${this.file}: tensor "${t.name}" has unsupported dtype ${t.dtype} (supported: ${Object.keys(DTYPE_SIZE).join(', ')})`);
    return t.dtype as StDtype;
  }
}

/** Typed view over little-endian bytes; copies when the offset is not aligned. */
export function view(dtype: StDtype, bytes: Uint8Array): TypedData {
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteOffset % size !== 0) bytes = bytes.slice();
  const n = bytes.byteLength / size;
  switch (dtype) {
    case 'F32': return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    case 'F16':
    case 'BF16': return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    case 'U8': return bytes;
    case 'I32': return new Int32Array(bytes.buffer, bytes.byteOffset, n);
    case 'I64': return new BigInt64Array(bytes.buffer, bytes.byteOffset, n);
  }
}

// ---- sharded models: model.safetensors.index.json ----------------------------------------------

/** Several shards behind model.safetensors.index.json's weight_map; shards open lazily. */
export class ShardedSafetensors {
  private opened = new Map<string, Promise<SafetensorsFile>>();
  private constructor(
    readonly weightMap: Map<string, string>,
    private openShard: (filename: string) => Promise<ByteSource>,
    readonly indexFile: string,
  ) {}

  static fromIndex(indexJson: unknown, openShard: (filename: string) => Promise<ByteSource>, indexFile = 'model.safetensors.index.json'): ShardedSafetensors {
    if (typeof indexJson === 'string') {
      try {
        indexJson = JSON.parse(indexJson);
      } catch (e) {
        throw new SafetensorsError(`${indexFile}: not valid JSON (${(e as Error).message})`);
      }
    }
    const wm = (indexJson as { weight_map?: unknown } | null)?.weight_map;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw new SafetensorsError(`${indexFile}: missing "weight_map" object`);
    const map = new Map<string, string>();
    for (const [k, v] of Object.entries(wm)) {
      if (typeof v !== 'string' || !v.endsWith('.safetensors') || v.includes('/') || v.includes('\\'))
        throw new SafetensorsError(`${indexFile}: weight_map["${k}"] must be a .safetensors file name in the same folder, got ${JSON.stringify(v)}`);
      map.set(k, v);
    }
    return new ShardedSafetensors(map, openShard, indexFile);
  }

  names(): string[] {
    return [...this.weightMap.keys()];
  }

  shardFiles(): string[] {
    return [...new Set(this.weightMap.values())];
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  /** The shard holding `name`; checks that the shard's header really lists it. */
  async shardOf(name: string): Promise<SafetensorsFile> {
    const f = this.weightMap.get(name);
    if (!f) throw new SafetensorsError(`${this.indexFile}: no tensor "${name}" in weight_map`);
    let p = this.opened.get(f);
    if (!p) {
      p = this.openShard(f).then((src) => SafetensorsFile.open(src, f));
      this.opened.set(f, p);
    }
    const shard = await p;
    if (!shard.has(name)) throw new SafetensorsError(`${this.indexFile} says "${name}" is in ${f}, but ${f} has no such tensor`);
    return shard;
  }

  async info(name: string): Promise<TensorInfo> {
    return (await this.shardOf(name)).info(name);
  }
  async read(name: string) {
    return (await this.shardOf(name)).read(name);
  }
  async readF32(name: string): Promise<Float32Array> {
    return (await this.shardOf(name)).readF32(name);
  }
  async readRows(name: string, row0: number, nRows: number) {
    return (await this.shardOf(name)).readRows(name, row0, nRows);
  }
  async readBytes(name: string, byteOffset = 0, byteLength?: number): Promise<Uint8Array> {
    return (await this.shardOf(name)).readBytes(name, byteOffset, byteLength);
  }
}

// ---- 16-bit float conversions --------------------------------------------------------------------

export function bf16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  return out;
}

/** f32 → bf16 bits, round to nearest even (as torch does); NaN stays NaN. */
export function f32ToBf16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const x = u[i];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) out[i] = (x >>> 16) | 0x40;
    else out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

export function f16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) out[i] = s * m * 2 ** -24;
    else if (e === 31) out[i] = m ? NaN : s * Infinity;
    else out[i] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

/** f32 → f16 bits, round to nearest even; overflow → ±Inf. */
export function f32ToF16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const x = u[i];
    const sign = (x >>> 16) & 0x8000;
    const e = (x >>> 23) & 0xff;
    let m = x & 0x7fffff;
    if (e === 0xff) { out[i] = sign | 0x7c00 | (m ? 0x200 : 0); continue; }
    let he = e - 127 + 15;
    if (he >= 31) { out[i] = sign | 0x7c00; continue; }
    if (he <= 0) {
      if (he < -10) { out[i] = sign; continue; }
      m |= 0x800000;
      const shift = 14 - he;
      let hm = m >>> shift;
      const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
      if (rem > half || (rem === half && (hm & 1))) hm++;
      out[i] = sign | hm;
      continue;
    }
    let hm = m >>> 13;
    const rem = m & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (hm & 1))) {
      hm++;
      if (hm === 0x400) { hm = 0; he++; if (he >= 31) { out[i] = sign | 0x7c00; continue; } }
    }
    out[i] = sign | (he << 10) | hm;
  }
  return out;
}

// ---- writer --------------------------------------------------------------------------------------

export interface TensorToWrite {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Little-endian element data; BF16/F16 as Uint16Array bits (or raw bytes). */
  data: ArrayBufferView;
}

/**
 * Serialize tensors to one safetensors buffer. As the Rust crate does: "__metadata__" first,
 * tensors laid out by decreasing dtype size then name (keeps every tensor aligned), header padded
 * with spaces to a multiple of 8 bytes. Same input ⇒ identical bytes.
 */
export function writeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || !t.name) throw new SafetensorsError(`writeSafetensors: invalid tensor name "${t.name}"`);
    if (seen.has(t.name)) throw new SafetensorsError(`writeSafetensors: duplicate tensor "${t.name}"`);
    seen.add(t.name);
    const size = DTYPE_SIZE[t.dtype];
    if (size === undefined) throw new SafetensorsError(`writeSafetensors: tensor "${t.name}" has unsupported dtype ${t.dtype}`);
    if (t.shape.some((d) => !Number.isInteger(d) || d < 0)) throw new SafetensorsError(`writeSafetensors: tensor "${t.name}" has bad shape ${JSON.stringify(t.shape)}`);
    const want = numel(t.shape) * size;
    if (t.data.byteLength !== want)
      throw new SafetensorsError(`writeSafetensors: tensor "${t.name}" shape ${JSON.stringify(t.shape)} × ${t.dtype} needs ${want} bytes, data has ${t.data.byteLength}`);
  }
  const order = tensors.slice().sort((a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const t of order) {
    const n = t.data.byteLength;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + padded);
  let p = 8 + padded;
  for (const t of order) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}
