import { describe, expect, it } from 'vitest';
import { linearShapes } from '../../../src/model/config';
import { DEMO_CONFIG } from '../../../src/model/demo';
import {
  GGML_TYPE, GGUF_LORA_NAMES, GgufType, ggufF32, loraToGguf, parseGguf, permuteRopeRows, writeGguf, type GgufKv,
} from '../../../src/export/gguf';
import { randomLora } from './lora-fixture';

describe('GGUF writer and parser', () => {
  it('lays out a minimal file byte for byte as the GGUF v3 spec says', () => {
    const bytes = writeGguf([{ key: 'general.architecture', type: GgufType.STRING, value: 'llama' }], [{ name: 't', ne: [2], type: GGML_TYPE.F32, data: Float32Array.from([1, 2]) }]);
    const want: number[] = [];
    const u32 = (v: number) => want.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
    const u64 = (v: number) => { u32(v); u32(0); };
    const str = (s: string) => { u64(s.length); for (const c of s) want.push(c.charCodeAt(0)); };
    want.push(0x47, 0x47, 0x55, 0x46); // "GGUF"
    u32(3); u64(1); u64(1);
    str('general.architecture'); u32(8); str('llama');
    str('t'); u32(1); u64(2); u32(0); u64(0);
    while (want.length % 32) want.push(0);
    want.push(0, 0, 0x80, 0x3f, 0, 0, 0, 0x40); // 1.0f, 2.0f
    while (want.length % 32) want.push(0);
    expect([...bytes]).toEqual(want);
  });

  it('reads back every KV type, arrays and tensors (with a custom alignment)', () => {
    const kvs: GgufKv[] = [
      { key: 'u8', type: GgufType.UINT8, value: 200 }, { key: 'i8', type: GgufType.INT8, value: -100 },
      { key: 'u16', type: GgufType.UINT16, value: 60000 }, { key: 'i16', type: GgufType.INT16, value: -30000 },
      { key: 'u32', type: GgufType.UINT32, value: 4e9 }, { key: 'i32', type: GgufType.INT32, value: -2e9 },
      { key: 'f32', type: GgufType.FLOAT32, value: 0.5 }, { key: 'f64', type: GgufType.FLOAT64, value: Math.PI },
      { key: 'u64', type: GgufType.UINT64, value: 2n ** 60n }, { key: 'i64', type: GgufType.INT64, value: -(2n ** 60n) },
      { key: 'b', type: GgufType.BOOL, value: true }, { key: 's', type: GgufType.STRING, value: 'বাংলা ✓' },
      { key: 'arr', type: GgufType.ARRAY, itemType: GgufType.UINT32, value: [1, 2, 3] },
      { key: 'sarr', type: GgufType.ARRAY, itemType: GgufType.STRING, value: ['a', '', 'c'] },
    ];
    const a = Float32Array.from({ length: 15 }, (_, i) => i - 7);
    const h = Uint16Array.from([0x3c00, 0xc000, 0x0001]);
    const bytes = writeGguf(kvs, [
      { name: 'a', ne: [5, 3], type: GGML_TYPE.F32, data: a },
      { name: 'h', ne: [3], type: GGML_TYPE.F16, data: h },
      { name: 'e', ne: [0], type: GGML_TYPE.F32, data: new Float32Array(0) },
    ], 64);
    const g = parseGguf(bytes);
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(64);
    for (const kv of kvs) expect(g.kv.get(kv.key)).toEqual(kv);
    expect(g.kv.get('general.alignment')?.value).toBe(64);
    expect(g.dataOffset % 64).toBe(0);
    expect(g.tensors.map((t) => [t.name, t.ne, t.type])).toEqual([['a', [5, 3], 0], ['h', [3], 1], ['e', [0], 0]]);
    expect(g.tensors.every((t) => t.offset % 64 === 0)).toBe(true);
    expect(ggufF32(g.tensors[0])).toEqual(a);
    expect([...new Uint16Array(g.tensors[1].data.slice().buffer)]).toEqual([...h]);
  });

  it('refuses corrupt files and bad input', () => {
    const good = writeGguf([{ key: 'k', type: GgufType.STRING, value: 'v' }], [{ name: 't', ne: [4], type: GGML_TYPE.F32, data: new Float32Array(4) }]);
    const bad = good.slice(); bad[0] = 0x48;
    expect(() => parseGguf(bad, 'x.gguf')).toThrow(/x\.gguf: not a GGUF file \(bad magic\)/);
    const v9 = good.slice(); v9[4] = 9;
    expect(() => parseGguf(v9)).toThrow(/GGUF version 9 is not supported/);
    expect(() => parseGguf(good.subarray(0, good.length - 40), 'cut.gguf')).toThrow(/cut\.gguf: tensor "t" runs past the end of the file \(truncated\?\)/);
    expect(() => parseGguf(good.subarray(0, 40), 'cut.gguf')).toThrow(/cut\.gguf: truncated while reading/);
    expect(() => writeGguf([], [{ name: 't', ne: [4], type: GGML_TYPE.F32, data: new Float32Array(3) }])).toThrow(/ne \[4\] needs 16 bytes, data has 12/);
    expect(() => writeGguf([{ key: 'a', type: GgufType.UINT8, value: 1 }, { key: 'a', type: GgufType.UINT8, value: 1 }], [])).toThrow(/duplicate key "a"/);
    expect(() => writeGguf([], [{ name: 'q', ne: [1], type: 2, data: new Uint8Array(1) }])).toThrow(/unsupported ggml type 2/);
  });
});

describe('LoRA adapter GGUF for llama.cpp', () => {
  const cfg = DEMO_CONFIG;
  const w = randomLora(cfg, 4, ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], 9);
  const g = parseGguf(loraToGguf(w, cfg, { name: 'demo adapter' }));

  it('writes the adapter KVs convert_lora_to_gguf.py writes', () => {
    const kv = Object.fromEntries([...g.kv].map(([k, v]) => [k, [v.type, v.value]]));
    expect(kv).toEqual({
      'general.architecture': [GgufType.STRING, 'llama'],
      'general.type': [GgufType.STRING, 'adapter'],
      'adapter.type': [GgufType.STRING, 'lora'],
      'general.name': [GgufType.STRING, 'demo adapter'],
      'adapter.lora.alpha': [GgufType.FLOAT32, 8],
      'general.quantization_version': [GgufType.UINT32, 2],
    });
    expect(g.alignment).toBe(32);
  });

  it('writes every lora_a [in, r] / lora_b [r, out] in F32 and they read back', () => {
    const shapes = linearShapes(cfg);
    expect(g.tensors.length).toBe(cfg.numHiddenLayers * 7 * 2);
    for (let i = 0; i < cfg.numHiddenLayers; i++) {
      for (const [m, gname] of Object.entries(GGUF_LORA_NAMES) as [keyof typeof GGUF_LORA_NAMES, string][]) {
        const [out, inF] = shapes[m];
        const a = g.tensors.find((t) => t.name === `blk.${i}.${gname}.weight.lora_a`)!;
        const b = g.tensors.find((t) => t.name === `blk.${i}.${gname}.weight.lora_b`)!;
        expect(a.type).toBe(GGML_TYPE.F32);
        expect(a.ne).toEqual([inF, 4]);
        expect(b.ne).toEqual([4, out]);
        expect(ggufF32(a)).toEqual(w.layers[i][m].A);
        if (m !== 'q_proj' && m !== 'k_proj') expect(ggufF32(b)).toEqual(w.layers[i][m].B);
      }
    }
  });

  it('un-permutes q/k rows as convert_hf_to_gguf.py does: B_gguf·A = permute(B·A)', () => {
    // numpy: W.reshape(n_head, 2, D/2, in).swapaxes(1, 2).reshape(W.shape)
    const permuteRef = (W: Float32Array, rows: number, cols: number, nHead: number) => {
      const half = rows / nHead / 2, out = new Float32Array(W.length);
      for (let h = 0; h < nHead; h++) for (let s = 0; s < 2; s++) for (let j = 0; j < half; j++)
        for (let c = 0; c < cols; c++) out[((h * half + j) * 2 + s) * cols + c] = W[((h * 2 + s) * half + j) * cols + c];
      return out;
    };
    const matmul = (B: Float32Array, A: Float32Array, out: number, r: number, inF: number) => {
      const y = new Float32Array(out * inF);
      for (let o = 0; o < out; o++) for (let k = 0; k < r; k++) for (let c = 0; c < inF; c++) y[o * inF + c] += B[o * r + k] * A[k * inF + c];
      return y;
    };
    for (const [m, gname, heads] of [['q_proj', 'attn_q', cfg.numAttentionHeads], ['k_proj', 'attn_k', cfg.numKeyValueHeads]] as const) {
      const t = w.layers[1][m];
      const b = ggufF32(g.tensors.find((x) => x.name === `blk.1.${gname}.weight.lora_b`)!);
      const a = ggufF32(g.tensors.find((x) => x.name === `blk.1.${gname}.weight.lora_a`)!);
      const want = permuteRef(matmul(t.B, t.A, t.outF, 4, t.inF), t.outF, t.inF, heads);
      expect(matmul(b, a, t.outF, 4, t.inF)).toEqual(want);
      expect(b).toEqual(permuteRopeRows(t.B, t.outF, 4, heads));
      expect(b).not.toEqual(t.B);
    }
  });

  it('refuses a layer count that disagrees with the config', () => {
    expect(() => loraToGguf({ ...w, layers: w.layers.slice(1) }, cfg)).toThrow(/adapter has 1 layers, config has 2/);
  });
});
