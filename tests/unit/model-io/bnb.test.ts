import { describe, expect, it } from 'vitest';
import {
  bnbQuantizationConfig, bnbQuantStateJson, dequantizeNf4Host, listBnbWeights, nf4AbsmaxF32, parseBnbQuantizationConfig, readBnbWeight,
  writeBnbCheckpoint,
} from '../../../src/model/bnb';
import { bytesSource, f32ToBf16, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../../src/model/safetensors';
import { NF4_CODE, type Nf4Host } from '../../../src/gpu/ops/nf4.types';
import { Rng } from '../../../src/util/rng';

/** A random but well-formed Nf4Host (rows·cols may be odd and leave a partial block). */
function randomHost(rows: number, cols: number, seed: number, doubleQuant: boolean): Nf4Host {
  const rng = new Rng(seed);
  const n = rows * cols, blocks = Math.ceil(n / 64);
  const packed = Uint8Array.from({ length: Math.ceil(n / 2) }, () => rng.int(256));
  if (n % 2) packed[packed.length - 1] &= 0xf0; // the unused low nibble of an odd tail is zero
  if (!doubleQuant) return { rows, cols, packed, absmax: Float32Array.from({ length: blocks }, () => rng.uniform(0.01, 0.1)) };
  return {
    rows, cols, packed,
    absmax: {
      codes: Uint8Array.from({ length: blocks }, () => rng.int(256)),
      nestedAbsmax: Float32Array.from({ length: Math.ceil(blocks / 256) }, () => rng.uniform(0.01, 0.05)),
      quantMap: rng.floats(256),
      offset: Math.fround(rng.uniform(0.02, 0.04)),
    },
  };
}

const open = (b: Uint8Array) => SafetensorsFile.open(bytesSource(b), 'model.safetensors');

describe('bitsandbytes 4-bit checkpoints', () => {
  it.each([[false], [true]])('round-trips our writer through our importer (double quant %s)', async (dq) => {
    const linears = [
      { name: 'model.layers.0.self_attn.q_proj.weight', host: randomHost(64, 64, 1, dq) },
      { name: 'model.layers.0.mlp.down_proj.weight', host: randomHost(65, 173, 2, dq), dtype: 'float16' },
      { name: 'model.layers.1.mlp.up_proj.weight', host: randomHost(300, 128, 3, dq) }, // 600 blocks → 3 nested blocks
    ];
    const norm: TensorToWrite = { name: 'model.norm.weight', dtype: 'BF16', shape: [64], data: f32ToBf16(new Float32Array(64).fill(1)) };
    const st = await open(writeBnbCheckpoint(linears, [norm]));
    expect(st.metadata).toEqual({ format: 'pt' });
    expect(listBnbWeights(st.names())).toEqual(linears.map((l) => l.name).sort());
    for (const l of linears) {
      const info = st.info(l.name);
      expect(info.dtype).toBe('U8');
      expect(info.shape).toEqual([Math.ceil((l.host.rows * l.host.cols) / 2), 1]); // bnb stores [n/2, 1]
      expect(st.info(`${l.name}.absmax`).dtype).toBe(dq ? 'U8' : 'F32');
      expect(st.has(`${l.name}.nested_absmax`)).toBe(dq);
      const got = await readBnbWeight(st, l.name);
      expect(got.dtype).toBe(l.dtype ?? 'bfloat16');
      expect(got.host).toEqual(l.host);
      expect(dequantizeNf4Host(got.host)).toEqual(dequantizeNf4Host(l.host));
    }
  });

  it('writes the quant_state JSON bitsandbytes packs (keys, order, Python spacing)', async () => {
    const host = randomHost(4, 64, 5, true);
    (host.absmax as { offset: number }).offset = 0.03125;
    expect(bnbQuantStateJson(host)).toBe('{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4, 64], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.03125}');
    expect(bnbQuantStateJson(randomHost(4, 64, 5, false), 'float16')).toBe('{"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [4, 64]}');
    const st = await open(writeBnbCheckpoint([{ name: 'w.weight', host }]));
    const qs = (await st.read('w.weight.quant_state.bitsandbytes__nf4')).data as Uint8Array;
    expect(JSON.parse(new TextDecoder().decode(qs))).toEqual({
      quant_type: 'nf4', blocksize: 64, dtype: 'bfloat16', shape: [4, 64], nested_blocksize: 256, nested_dtype: 'float32', nested_offset: 0.03125,
    });
    expect(await st.readF32('w.weight.quant_map')).toEqual(NF4_CODE);
  });

  it('dequantizes as bitsandbytes does: code[q] · absmax, absmax = map[c] · nested + offset', () => {
    const host: Nf4Host = {
      rows: 1, cols: 130, packed: new Uint8Array(65).fill(0xf0), // even elements code 15 (1.0), odd code 0 (-1.0)
      absmax: { codes: Uint8Array.from([0, 1, 2]), nestedAbsmax: Float32Array.from([2]), quantMap: Float32Array.from({ length: 256 }, (_, i) => i / 10), offset: 0.5 },
    };
    expect([...nf4AbsmaxF32(host.absmax)]).toEqual([0.5, Math.fround(0.1) * 2 + 0.5, Math.fround(0.2) * 2 + 0.5].map(Math.fround));
    const w = dequantizeNf4Host(host);
    expect(w[0]).toBeCloseTo(0.5);
    expect(w[1]).toBeCloseTo(-0.5);
    expect(w[64]).toBeCloseTo(0.7);
    expect(w[129]).toBeCloseTo(-0.9);
  });

  it('refuses broken or unsupported checkpoints with the tensor named', async () => {
    const host = randomHost(8, 64, 9, true);
    const tensors = () => {
      const bytes = writeBnbCheckpoint([{ name: 'l.weight', host }]);
      return SafetensorsFile.open(bytesSource(bytes)).then(async (st) => Promise.all(st.names().map(async (n) => {
        const r = await st.read(n);
        return { name: n, dtype: r.dtype, shape: r.shape, data: r.data } as TensorToWrite;
      })));
    };
    const variant = async (edit: (t: TensorToWrite[]) => TensorToWrite[]) => open(writeSafetensors(edit(await tensors())));
    const qs = (json: string) => (t: TensorToWrite[]) => t.map((x) => x.name.endsWith('bitsandbytes__nf4') ? { ...x, shape: [json.length], data: new TextEncoder().encode(json) } : x);

    await expect(readBnbWeight(await variant((t) => t.filter((x) => !x.name.endsWith('.nested_quant_map'))), 'l.weight')).rejects.toThrow(/model\.safetensors: l\.weight: missing tensor "l\.weight\.nested_quant_map"/);
    await expect(readBnbWeight(await variant((t) => t.map((x) => x.name === 'l.weight' ? { ...x, shape: [100, 1], data: new Uint8Array(100) } : x)), 'l.weight')).rejects.toThrow(/packed weight has 100 bytes .* expected 256 for shape \[8, 64\]/);
    await expect(readBnbWeight(await variant(qs('{"quant_type": "fp4", "blocksize": 64, "dtype": "bfloat16", "shape": [8, 64]}')), 'l.weight')).rejects.toThrow(/quant_type "fp4" is not supported/);
    await expect(readBnbWeight(await variant(qs('{"quant_type": "nf4", "blocksize": 128, "dtype": "bfloat16", "shape": [8, 64]}')), 'l.weight')).rejects.toThrow(/blocksize 128 is not supported \(only 64\)/);
    await expect(readBnbWeight(await variant(qs('{"quant_type": "nf4", "blocksize": 64, "shape": [8, 64], "nested_blocksize": 256}')), 'l.weight')).rejects.toThrow(/nested_offset must be a number/);
    await expect(readBnbWeight(await variant(qs('{"quant_type": "nf4", "blocksize": 64, "shape": [8, 64, 1]}')), 'l.weight')).rejects.toThrow(/shape must be \[out, in\]/);
    await expect(readBnbWeight(await variant(qs('{oops')), 'l.weight')).rejects.toThrow(/bitsandbytes__nf4: not valid JSON/);
    await expect(readBnbWeight(await variant((t) => t.map((x) => x.name.endsWith('.quant_map') && !x.name.includes('nested') ? { ...x, data: new Float32Array(16) } : x)), 'l.weight')).rejects.toThrow(/quant_map: is not the standard NF4 code book/);
    await expect(readBnbWeight(await variant((t) => t.map((x) => x.name === 'l.weight.absmax' ? { ...x, shape: [3], data: new Uint8Array(3) } : x)), 'l.weight')).rejects.toThrow(/l\.weight\.absmax: 3 codes, expected 8 blocks/);
    expect(() => listBnbWeights(['a.weight.quant_state.bitsandbytes__fp4'])).toThrow(/FP4 checkpoints are not supported/);
  });

  it('writes and reads config.json quantization_config', () => {
    expect(parseBnbQuantizationConfig({ quantization_config: bnbQuantizationConfig(true) })).toEqual({ doubleQuant: true, computeDtype: 'bfloat16' });
    expect(parseBnbQuantizationConfig({})).toBeNull();
    expect(() => parseBnbQuantizationConfig({ quantization_config: { quant_method: 'gptq' } })).toThrow(/quant_method "gptq" is not supported/);
    expect(() => parseBnbQuantizationConfig({ quantization_config: { ...bnbQuantizationConfig(false), load_in_4bit: false, load_in_8bit: true } })).toThrow(/8-bit/);
    expect(() => parseBnbQuantizationConfig({ quantization_config: { ...bnbQuantizationConfig(false), bnb_4bit_quant_type: 'fp4' } })).toThrow(/"fp4" is not supported/);
  });
});
