// Save a loaded model (ModelWeights on the GPU) to the OPFS model cache as a bitsandbytes
// 4-bit HF folder, so the next visit loads in seconds with no download and no re-quantization:
//   config.json                      the model's config + quantization_config (bitsandbytes nf4)
//   tokenizer.json, … (when known)   passed in by the caller
//   model-0000i-of-0000N.safetensors one shard per decoder layer (i = 1..L), then one with
//                                    embed_tokens, model.norm and lm_head (i = N = L + 1)
//   model.safetensors.index.json     weight_map and total_size, as transformers writes it
// Everything is read back from the GPU: NF4 linears with nf4Download (bnb layout, bnbTensors),
// 16-bit weights (embedding, lm_head, 16-bit linears) in chunks of `chunkBytes`, norms as F32.
// Each shard is streamed into its file (header first, then tensor data chunk by chunk), so only
// one layer's NF4 weights or one chunk of a 16-bit weight is in memory at a time.
// openCachedModel reopens the folder as a ModelSource; loadWeights then uploads the bnb linears
// as stored.

import type { Gpu } from '../gpu/core/context';
import { readBytes, type Tensor } from '../gpu/core/tensor';
import { nf4Download } from '../gpu/ops/nf4';
import { NESTED_BLOCK, NF4_BLOCK } from '../gpu/ops/nf4.types';
import type { Weight16 } from '../gpu/ops/w16';
import { bnbQuantizationConfig, bnbTensors } from '../model/bnb';
import { moduleKey, TARGETS } from '../model/modules';
import { DTYPE_SIZE, SafetensorsError, type StDtype, type TensorToWrite } from '../model/safetensors';
import { folderModelSource, type ModelSource } from '../model/source';
import type { ModelWeights } from '../model/weights';
import type { ByteSource } from '../model/safetensors';
import { storageEstimate, StorageQuotaError, type StorageEstimateLike } from './errors';
import { ModelCacheError, type CachedModel, type ModelCache, type WriteCachedFile } from './modelCache';

export interface CacheProgress {
  /** The file being written and its 0-based index among `fileCount`. */
  file: string;
  fileIndex: number;
  fileCount: number;
  /** Bytes written so far (all files) and the expected total. */
  bytes: number;
  totalBytes: number;
}

export interface SaveQuantizedOptions {
  /** Files copied as they are (tokenizer.json, tokenizer_config.json, generation_config.json). */
  extraFiles?: Record<string, Blob | Uint8Array | ByteSource>;
  /** Stored in the manifest (e.g. source repo and revision). */
  meta?: Record<string, unknown>;
  onProgress?: (p: CacheProgress) => void;
  /** Read-back granularity of 16-bit weights (default 32 MiB). */
  chunkBytes?: number;
  /** navigator.storage: refuse up front (StorageQuotaError) when the estimate shows too little room. */
  storage?: { estimate?: () => Promise<StorageEstimateLike> };
}

/** A tensor to stream: dtype/shape known up front, bytes produced on demand. */
interface StreamTensor { name: string; dtype: StDtype; shape: number[]; byteLength: number; chunks: () => AsyncIterable<Uint8Array> }

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function hostTensor(t: TensorToWrite): StreamTensor {
  return {
    name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.data.byteLength,
    chunks: async function* () { yield new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength); },
  };
}

/**
 * A safetensors file as a stream of chunks: the same layout as writeSafetensors (metadata
 * first, tensors by decreasing dtype size then name, header padded to 8 bytes).
 */
export async function* safetensorsStream(tensors: StreamTensor[], metadata?: Record<string, string>): AsyncIterable<Uint8Array> {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new SafetensorsError(`safetensorsStream: duplicate tensor "${t.name}"`);
    seen.add(t.name);
    if (t.byteLength !== numel(t.shape) * DTYPE_SIZE[t.dtype])
      throw new SafetensorsError(`safetensorsStream: tensor "${t.name}" [${t.shape}] ${t.dtype} needs ${numel(t.shape) * DTYPE_SIZE[t.dtype]} bytes, got ${t.byteLength}`);
  }
  const order = tensors.slice().sort((a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const t of order) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.byteLength] };
    off += t.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  yield head;
  for (const t of order) {
    let n = 0;
    for await (const c of t.chunks()) { n += c.byteLength; yield c; }
    if (n !== t.byteLength) throw new SafetensorsError(`safetensorsStream: tensor "${t.name}" produced ${n} bytes, expected ${t.byteLength}`);
  }
}

/** A 16-bit GPU weight read back in chunks (raw bf16/f16 bits, row-major). */
function weight16Tensor(gpu: Gpu, name: string, w: Weight16, chunkBytes: number): StreamTensor {
  const total = w.rows * w.cols * 2;
  const step = Math.max(4, Math.floor(chunkBytes / 4) * 4); // copyBufferToBuffer needs 4-byte multiples
  return {
    name, dtype: w.format === 'bf16' ? 'BF16' : 'F16', shape: [w.rows, w.cols], byteLength: total,
    chunks: async function* () {
      for (let off = 0; off < total; off += step) {
        const n = Math.min(step, total - off);
        yield (await readBytes(gpu, w.data.buffer, off, n)).subarray(0, n);
      }
    },
  };
}

/** An f32 GPU tensor (norm weights) as F32. */
function f32Tensor(gpu: Gpu, name: string, t: Tensor): StreamTensor {
  const n = numel(t.shape);
  return {
    name, dtype: 'F32', shape: [n], byteLength: n * 4,
    chunks: async function* () { yield (await readBytes(gpu, t.buffer, 0, n * 4)).subarray(0, n * 4); },
  };
}

/** Bytes of one NF4 weight in the bnb layout (for the expected size before writing). */
function bnbBytes(rows: number, cols: number, doubleQuant: boolean, qsJsonBytes = 200): number {
  const n = rows * cols, nb = Math.ceil(n / NF4_BLOCK);
  return Math.ceil(n / 2) + 64 + qsJsonBytes + (doubleQuant ? nb + 4 * Math.ceil(nb / NESTED_BLOCK) + 1024 : 4 * nb);
}

/** About how many bytes saveQuantizedModel writes for these weights (tensor data; headers small). */
export function estimateCacheBytes(w: ModelWeights): number {
  let total = w.embed.rows * w.embed.cols * 2 + w.dims.C * 4 * (2 * w.dims.L + 1);
  if (w.lmHead !== w.embed) total += w.lmHead.rows * w.lmHead.cols * 2;
  for (const l of w.layers) for (const t of TARGETS) {
    const p = l.proj[t];
    total += p.kind === 'nf4' ? bnbBytes(p.w.rows, p.w.cols, p.w.doubleQuant) : p.w.rows * p.w.cols * 2;
  }
  return total;
}

const shardName = (i: number, n: number) => `model-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;

/** Original dtype recorded in each quant_state (bitsandbytes keeps the pre-quantization dtype). */
function bnbDtype(torchDtype: string): string {
  return ['bfloat16', 'float16', 'float32'].includes(torchDtype) ? torchDtype : 'bfloat16';
}

/** Read a small extra file (tokenizer etc.) into something the cache can write. */
async function extraBody(v: Blob | Uint8Array | ByteSource): Promise<Blob | Uint8Array> {
  if (v instanceof Uint8Array || v instanceof Blob) return v;
  return v.read(0, v.size);
}

/**
 * Save `w` (loaded on `gpu`) to `cache` under `modelId` as a sharded bnb-4bit folder. Replaces
 * a previous save of the same id; the manifest is written last (an interrupted save is invisible).
 */
export async function saveQuantizedModel(gpu: Gpu, cache: ModelCache, modelId: string, w: ModelWeights, o: SaveQuantizedOptions = {}): Promise<CachedModel> {
  const chunkBytes = o.chunkBytes ?? 32 * 2 ** 20;
  const L = w.dims.L, nShards = L + 1;
  const nf4 = w.layers.flatMap((l) => TARGETS.map((t) => l.proj[t])).filter((p) => p.kind === 'nf4');
  const doubleQuant = nf4.some((p) => p.kind === 'nf4' && p.w.doubleQuant);
  const dtype = bnbDtype(w.cfg.torchDtype);
  const config: Record<string, unknown> = { ...w.cfg.raw };
  delete config.quantization_config;
  if (nf4.length) config.quantization_config = bnbQuantizationConfig(doubleQuant, dtype === 'float32' ? 'float32' : dtype);
  const extra = Object.entries(o.extraFiles ?? {}).filter(([n]) => n !== 'config.json' && !/\.safetensors(\.index\.json)?$/.test(n));
  const expected = estimateCacheBytes(w);
  const fileCount = 1 + extra.length + nShards + 1;
  let written = 0, fileIndex = 0;

  const write = async (writeFile: WriteCachedFile, name: string, body: Blob | Uint8Array | AsyncIterable<Uint8Array>) => {
    const idx = fileIndex++;
    o.onProgress?.({ file: name, fileIndex: idx, fileCount, bytes: written, totalBytes: expected });
    const counted = body instanceof Uint8Array || body instanceof Blob ? body : (async function* () {
      for await (const c of body) { yield c; written += c.byteLength; o.onProgress?.({ file: name, fileIndex: idx, fileCount, bytes: written, totalBytes: expected }); }
    })();
    const n = await writeFile(name, counted);
    if (counted === body) written += n;
    return n;
  };

  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  const shard = async (writeFile: WriteCachedFile, i: number, tensors: StreamTensor[]) => {
    const name = shardName(i, nShards);
    for (const t of tensors) { weightMap[t.name] = name; totalSize += t.byteLength; }
    await write(writeFile, name, safetensorsStream(tensors, { format: 'pt' }));
  };

  const meta = {
    format: 'bnb-4bit-sharded', quant: w.quant, doubleQuant, layers: L,
    linears: nf4.length ? 'nf4' : 'w16', ...(o.meta ?? {}),
  };
  if (o.storage) {
    const { usage, quota } = await storageEstimate(o.storage);
    const replaced = (await cache.get(modelId))?.size ?? 0; // a save replaces the same id
    if (usage !== null && quota !== null && quota - usage + replaced < expected)
      throw new StorageQuotaError(expected, usage, quota, `model ${modelId}`);
  }
  return cache.saveStreaming(modelId, async (writeFile) => {
    await write(writeFile, 'config.json', new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
    for (const [name, v] of extra) await write(writeFile, name, await extraBody(v));
    for (let l = 0; l < L; l++) {
      const lw = w.layers[l], pre = `model.layers.${l}`;
      const tensors: StreamTensor[] = [f32Tensor(gpu, `${pre}.input_layernorm.weight`, lw.inputNorm), f32Tensor(gpu, `${pre}.post_attention_layernorm.weight`, lw.postNorm)];
      for (const t of TARGETS) {
        const p = lw.proj[t], name = `${moduleKey(l, t)}.weight`;
        if (p.kind === 'nf4') tensors.push(...bnbTensors(name, await nf4Download(gpu, p.w), dtype).map(hostTensor));
        else tensors.push(weight16Tensor(gpu, name, p.w, chunkBytes));
      }
      await shard(writeFile, l + 1, tensors);
    }
    const last = [weight16Tensor(gpu, 'model.embed_tokens.weight', w.embed, chunkBytes), f32Tensor(gpu, 'model.norm.weight', w.finalNorm)];
    if (!w.cfg.tieWordEmbeddings) last.push(weight16Tensor(gpu, 'lm_head.weight', w.lmHead, chunkBytes));
    await shard(writeFile, nShards, last);
    const index = { metadata: { total_size: totalSize }, weight_map: Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
    await write(writeFile, 'model.safetensors.index.json', new TextEncoder().encode(JSON.stringify(index, null, 2) + '\n'));
  }, meta, { expectedBytes: expected });
}

export type CachedModelSource = ModelSource & { files: Map<string, ByteSource>; cached: CachedModel };

/** A cached model as a ModelSource (named by its model id), files read lazily from OPFS. */
export async function openCachedModel(cache: ModelCache, modelId: string): Promise<CachedModelSource> {
  const m = await cache.get(modelId);
  const files = m && (await cache.open(modelId));
  if (!m || !files) throw new ModelCacheError(`"${modelId}" is not in the model cache (or its save was interrupted); load it from the Hub or a folder again`);
  const map = new Map(Object.entries(files));
  return { ...(await folderModelSource(modelId, map)), files: map, cached: m };
}
