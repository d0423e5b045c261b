import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bf16ToF32, blobSource, bytesSource, f16ToF32, f32ToBf16, f32ToF16, MAX_HEADER_SIZE, SafetensorsFile, ShardedSafetensors, writeSafetensors,
  type ByteSource,
} from '../../../src/model/safetensors';
import { nodeFileSource, openSafetensorsPath, openShardedPath } from '../../../src/model/safetensors.node';
import { Rng } from '../../../src/util/rng';

const enc = new TextEncoder();

/** Build a file from a raw header object (possibly lying) and a data section. */
function rawFile(header: unknown, data: Uint8Array, headerLen?: number): Uint8Array {
  const json = typeof header === 'string' ? enc.encode(header) : enc.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const open = (b: Uint8Array, name = 't.safetensors') => SafetensorsFile.open(bytesSource(b), name);

function sample() {
  const rng = new Rng(7);
  const f = rng.floats(6);
  return [
    { name: 'w.f32', dtype: 'F32' as const, shape: [2, 3], data: f },
    { name: 'w.bf16', dtype: 'BF16' as const, shape: [3, 2], data: f32ToBf16(f) },
    { name: 'w.f16', dtype: 'F16' as const, shape: [6], data: f32ToF16(f) },
    { name: 'w.u8', dtype: 'U8' as const, shape: [5, 1], data: Uint8Array.from([1, 2, 3, 250, 255]) },
    { name: 'w.i32', dtype: 'I32' as const, shape: [3], data: Int32Array.from([-1, 0, 2 ** 31 - 1]) },
    { name: 'w.i64', dtype: 'I64' as const, shape: [2], data: BigInt64Array.from([-5n, 2n ** 40n]) },
    { name: 'empty', dtype: 'F32' as const, shape: [0, 4], data: new Float32Array(0) },
  ];
}

describe('safetensors writer', () => {
  it('writes exactly the layout of the Rust crate (header JSON, space padding to 8 bytes)', () => {
    const bytes = writeSafetensors([{ name: 'a', dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) }]);
    const json = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const padded = Math.ceil(json.length / 8) * 8;
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true))).toBe(padded);
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + padded))).toBe(json.padEnd(padded, ' '));
    expect([...new Float32Array(bytes.slice(8 + padded).buffer)]).toEqual([1, 2]);
  });

  it('round-trips every dtype, metadata, and keeps each tensor aligned', async () => {
    const t = sample();
    const bytes = writeSafetensors(t, { format: 'pt', note: 'x' });
    expect(writeSafetensors(t, { format: 'pt', note: 'x' })).toEqual(bytes); // deterministic
    const st = await open(bytes);
    expect(st.metadata).toEqual({ format: 'pt', note: 'x' });
    expect(st.names().sort()).toEqual(t.map((x) => x.name).sort());
    for (const x of t) {
      const r = await st.read(x.name);
      expect(r.dtype).toBe(x.dtype);
      expect(r.shape).toEqual(x.shape);
      expect([...(r.data as ArrayLike<unknown> & Iterable<unknown>)]).toEqual([...(x.data as unknown as Iterable<unknown>)]);
      const info = st.info(x.name);
      expect((info.begin - st.dataStart) % { F32: 4, BF16: 2, F16: 2, U8: 1, I32: 4, I64: 8 }[x.dtype]).toBe(0);
    }
    const f = sample()[0].data as Float32Array;
    expect(await st.readF32('w.f32')).toEqual(f);
    const fromBf = await st.readF32('w.bf16');
    const fromF16 = await st.readF32('w.f16');
    for (let i = 0; i < f.length; i++) {
      expect(Math.abs(fromBf[i] - f[i])).toBeLessThanOrEqual(Math.abs(f[i]) * 2 ** -8);
      expect(Math.abs(fromF16[i] - f[i])).toBeLessThanOrEqual(Math.abs(f[i]) * 2 ** -11 + 2 ** -25);
    }
    await expect(st.readF32('w.u8')).rejects.toThrow(/t\.safetensors: tensor "w\.u8" is U8, expected a float dtype/);
    const rows = await st.readRows('w.f32', 1, 1);
    expect(rows.shape).toEqual([1, 3]);
    expect([...(rows.data as Float32Array)]).toEqual([...f.subarray(3, 6)]);
    await expect(st.readRows('w.f32', 1, 2)).rejects.toThrow(/rows \[1, 3\) out of range/);
    await expect(st.read('nope')).rejects.toThrow(/t\.safetensors: no tensor "nope"/);
  });

  it('refuses bad input to the writer', () => {
    expect(() => writeSafetensors([{ name: 'a', dtype: 'F32', shape: [3], data: new Float32Array(2) }])).toThrow(/"a" shape \[3\] × F32 needs 12 bytes, data has 8/);
    expect(() => writeSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) }, { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) }])).toThrow(/duplicate tensor "a"/);
    expect(() => writeSafetensors([{ name: 'a', dtype: 'F64' as never, shape: [1], data: new Float64Array(1) }])).toThrow(/unsupported dtype F64/);
  });
});

describe('safetensors reader refuses corrupted files with the file and tensor named', () => {
  const good = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const data8 = new Uint8Array(8);

  it('truncated files', async () => {
    const bytes = writeSafetensors(sample());
    await expect(open(bytes.subarray(0, bytes.length - 3), 'cut.safetensors')).rejects.toThrow(/cut\.safetensors: tensor ".*": data_offsets .* run past the end of the data .*truncated\?/);
    await expect(open(bytes.subarray(0, 20), 'cut.safetensors')).rejects.toThrow(/cut\.safetensors: header length \d+ runs past the end of the file/);
    await expect(open(bytes.subarray(0, 5), 'cut.safetensors')).rejects.toThrow(/too short/);
  });

  it('a source that returns fewer bytes than asked (file shrank)', async () => {
    const bytes = writeSafetensors(sample());
    const src: ByteSource = { size: bytes.length, read: async (o, l) => bytes.subarray(o, Math.min(o + l, bytes.length - 4)) };
    const st = await SafetensorsFile.open(src, 'shrunk.safetensors');
    const last = [...st.tensors.values()].sort((a, b) => b.end - a.end)[0];
    await expect(st.read(last.name)).rejects.toThrow(/shrunk\.safetensors: tensor ".*": short read .*truncated\?/);
  });

  it('lying headers', async () => {
    await expect(open(rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(12)), 'lie.safetensors'))
      .rejects.toThrow(/lie\.safetensors: tensor "a": shape \[3\] × F32 \(4 B\) = 12 bytes but data_offsets span 8 bytes/);
    await expect(open(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12))))
      .rejects.toThrow(/tensors "a" and "b" overlap/);
    await expect(open(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, data8))).rejects.toThrow(/"a": data_offsets \[8, 0\] end before begin/);
    await expect(open(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data8))).rejects.toThrow(/"a": data_offsets \[8, 16\] run past the end/);
    await expect(open(rawFile({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data8))).rejects.toThrow(/"a": shape must be a list of non-negative integers/);
    await expect(open(rawFile({ a: { dtype: 'F32', shape: [2] } }, data8))).rejects.toThrow(/"a": data_offsets must be \[begin, end\]/);
    await expect(open(rawFile(good, data8, 2 ** 40))).rejects.toThrow(/header length .* exceeds/);
    await expect(open(rawFile(good, data8, MAX_HEADER_SIZE + 1))).rejects.toThrow(/exceeds 100000000 bytes/);
    await expect(open(rawFile('{"a": {"dtype": "F32", ', data8), 'bad.safetensors')).rejects.toThrow(/bad\.safetensors: header is not valid JSON/);
    await expect(open(rawFile('[1,2]', data8))).rejects.toThrow(/does not start with "\{"/);
    await expect(open(rawFile({ __metadata__: { a: 1 } }, data8))).rejects.toThrow(/__metadata__\.a must be a string/);
    const junk = new Uint8Array(64).fill(0xff);
    new DataView(junk.buffer).setBigUint64(0, 16n, true);
    await expect(open(junk)).rejects.toThrow(/not valid UTF-8/);
  });

  it('unknown and unsupported dtypes', async () => {
    await expect(open(rawFile({ a: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, data8))).rejects.toThrow(/tensor "a": unknown dtype "Q4"/);
    const st = await open(rawFile({ a: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, data8), 'f64.safetensors');
    await expect(st.read('a')).rejects.toThrow(/f64\.safetensors: tensor "a" has unsupported dtype F64 \(supported: F32, F16, BF16, U8, I32, I64\)/);
  });
});

describe('byte sources and sharded models', () => {
  it('reads from a Node file handle and a Blob', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    const bytes = writeSafetensors(sample());
    writeFileSync(join(dir, 'm.safetensors'), bytes);
    const st = await openSafetensorsPath(join(dir, 'm.safetensors'));
    expect(await st.readF32('w.f32')).toEqual(sample()[0].data);
    await (st.source as Awaited<ReturnType<typeof nodeFileSource>>).close();
    const fromBlob = await SafetensorsFile.open(blobSource(new Blob([bytes.slice()]), 'blob.safetensors'));
    expect([...(await fromBlob.read('w.i64')).data as BigInt64Array]).toEqual([-5n, 2n ** 40n]);
  });

  it('reads a sharded model through model.safetensors.index.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shard-'));
    const [a, b, ...rest] = sample();
    writeFileSync(join(dir, 'model-00001-of-00002.safetensors'), writeSafetensors([a, b]));
    writeFileSync(join(dir, 'model-00002-of-00002.safetensors'), writeSafetensors(rest));
    const weight_map: Record<string, string> = {};
    for (const t of [a, b]) weight_map[t.name] = 'model-00001-of-00002.safetensors';
    for (const t of rest) weight_map[t.name] = 'model-00002-of-00002.safetensors';
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 1 }, weight_map }));
    const sh = await openShardedPath(join(dir, 'model.safetensors.index.json'));
    expect(sh.names().length).toBe(7);
    expect(sh.shardFiles()).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(await sh.readF32('w.f32')).toEqual(a.data);
    expect([...(await sh.read('w.i32')).data as Int32Array]).toEqual([-1, 0, 2 ** 31 - 1]);
    expect([...(await sh.readRows('w.bf16', 2, 1)).data as Uint16Array]).toEqual([...(b.data as Uint16Array).subarray(4, 6)]);

    const lying = ShardedSafetensors.fromIndex({ weight_map: { 'w.f32': 'model-00002-of-00002.safetensors' } }, (f) => nodeFileSource(join(dir, f)));
    await expect(lying.read('w.f32')).rejects.toThrow(/says "w\.f32" is in model-00002-of-00002\.safetensors, but .* has no such tensor/);
    expect(() => ShardedSafetensors.fromIndex({}, async () => bytesSource(new Uint8Array()))).toThrow(/missing "weight_map"/);
    expect(() => ShardedSafetensors.fromIndex({ weight_map: { a: '../x.safetensors' } }, async () => bytesSource(new Uint8Array()))).toThrow(/same folder/);
    expect(() => ShardedSafetensors.fromIndex('{', async () => bytesSource(new Uint8Array()))).toThrow(/not valid JSON/);
  });
});

describe('16-bit float conversions', () => {
  it('bf16: known values, round-to-nearest-even, and every bit pattern round-trips', () => {
    expect([...f32ToBf16(Float32Array.from([1, -2, 0, -0, Infinity]))]).toEqual([0x3f80, 0xc000, 0, 0x8000, 0x7f80]);
    expect(f32ToBf16(Float32Array.from([1 + 2 ** -8]))[0]).toBe(0x3f80); // tie → even
    expect(f32ToBf16(Float32Array.from([1 + 3 * 2 ** -8]))[0]).toBe(0x3f82); // tie → even (up)
    expect(f32ToBf16(Float32Array.from([1 + 2 ** -8 + 2 ** -20]))[0]).toBe(0x3f81);
    expect(Number.isNaN(bf16ToF32(f32ToBf16(Float32Array.from([NaN])))[0])).toBe(true);
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToBf16(bf16ToF32(all));
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7f80) === 0x7f80 && (i & 0x7f) !== 0;
      if (!isNaN) expect(back[i]).toBe(i);
    }
  });

  it('f16: known values, subnormals, overflow, and every bit pattern round-trips', () => {
    expect([...f32ToF16(Float32Array.from([1, -2, 65504, 70000, 2 ** -24, 2 ** -26, 0.1]))]).toEqual([0x3c00, 0xc000, 0x7bff, 0x7c00, 0x0001, 0, 0x2e66]);
    expect([...f16ToF32(Uint16Array.from([0x3c00, 0x0001, 0x7c00, 0xfc00]))]).toEqual([1, 2 ** -24, Infinity, -Infinity]);
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (!isNaN) expect(back[i]).toBe(i);
    }
  });
});
