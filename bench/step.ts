// A full QLoRA training step (forward + chunked loss + backward + AdamW with clipping) on random
// NF4 weights, timed the way the training loop runs it (trainMicroStep then optimizerStep, one
// micro-batch per optimizer step). A micro-batch packs `batch` sequences of `seq` tokens:
// T = seq·batch, segIds keep attention and loss inside each sequence. Also a per-component
// breakdown (the same kernels timed alone on layer 0's buffers, multiplied by how often a step
// runs them) and the JS time spent recording dispatches.

import type { Gpu } from '../src/gpu/core/context';
import { GpuError } from '../src/gpu/core/errors';
import { destroyTensor, type Tensor } from '../src/gpu/core/tensor';
import { attentionBackward, attentionForward } from '../src/gpu/ops/attention';
import { copy } from '../src/gpu/ops/elementwise';
import { loraBackward, loraForward } from '../src/gpu/ops/lora';
import { nf4Matmul, nf4MatmulBackward } from '../src/gpu/ops/nf4';
import { rmsnormBackward, rmsnormForward } from '../src/gpu/ops/rmsnorm';
import { ropeBackward, ropeForward } from '../src/gpu/ops/rope';
import { swigluBackward, swigluForward } from '../src/gpu/ops/swiglu';
import { activationTable, lseView, rows, tableBytes } from '../src/model/activations';
import { modelBackward } from '../src/model/backward';
import { uploadBatch, type PackedBatch } from '../src/model/batch';
import { modelForward } from '../src/model/forward';
import { loraModules, moduleShape } from '../src/model/lora';
import { lossChunks } from '../src/model/loss';
import type { Target } from '../src/model/modules';
import { DEFAULT_ADAMW, optimizerStep, trainMicroStep } from '../src/model/step';
import type { ModelWeights } from '../src/model/weights';
import { resolveTrainConfig } from '../src/train/config';
import { allocTraining, ceChunkRows, type TrainState } from '../src/train/session';
import { gpuTimeMs } from './gputime';
import { dispatchCounter, memoryTracker } from './track';

/** `recompute`: force activation recomputation (else only when the activations do not fit). */
export interface StepOptions { seq: number; batch: number; warmup: number; steps: number; r: number; recompute?: boolean }

export interface Component { name: string; count: number; ms: number; totalMs: number; gflop: number; tflops: number }

export interface StepResult {
  seq: number; batch: number; tokens: number; recompute: boolean;
  msPerStep: number; tokensPerSecond: number; // one step in flight, as train/loop.ts runs (NOTES v29)
  awaitedMsPerStep: number; stepMs: number[]; // every step read back before the next is recorded (the loop before v29)
  loss: number; // mean NLL of the last timed step (≈ ln V for random weights)
  peakBytes: number; activationPlanBytes: number;
  modelTflop: number; // FLOP of one step by the model (matmuls + attention), TFLOP
  achievedTflops: number; // modelTflop / step time
  recordMs: number; // JS time to record one micro-step + optimizer step (the GPU waits for it: one submit per step)
  gpuStepMs: number; // GPU time of that recorded step (timestamps around all its submits: includes GPU waits for the host)
  gpuTiming: 'timestamp' | 'wall';
  dispatches: number; // dispatches in one micro-step + optimizer step
  createdPerStep: { uniforms: number; bindGroups: number }; // GPU objects created while recording it (cache misses)
  recordSplit: { dispatchMs: number; submitMs: number }; // of recordMs: inside gpu.dispatch (incl. op wrappers' calls), inside gpu.flush (queue.submit)
  components: Component[];
}

export function packedBatch(seq: number, batch: number, vocab: number, seed: number): PackedBatch {
  const T = seq * batch;
  const ids = new Int32Array(T);
  let s = seed >>> 0 || 1;
  for (let t = 0; t < T; t++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; ids[t] = s % vocab; }
  return {
    ids, labels: ids.slice(),
    positions: Int32Array.from({ length: T }, (_, t) => t % seq),
    segIds: Int32Array.from({ length: T }, (_, t) => Math.floor(t / seq)),
  };
}

/**
 * FLOP of one training step over T tokens in sequences of `seq` (frozen base: no weight grads);
 * `pairs`: the causal (query, key) pairs when the sequences differ in length (else from seq).
 */
export function stepFlop(w: Pick<ModelWeights, 'dims'>, T: number, seq: number, r: number, targets: readonly Target[], pairs = (T / seq) * (seq * (seq + 1)) / 2): { gemm: number; lora: number; attn: number; head: number } {
  const d = w.dims;
  const perTokLinear = 2 * (d.C * d.H * d.D * 2 + d.C * d.Hkv * d.D * 2 + 3 * d.C * d.I); // one pass, all 7
  const qkv = 2 * (d.C * d.H * d.D + 2 * d.C * d.Hkv * d.D);
  const gemm = T * (d.L * perTokLinear * 2 - qkv); // forward + dx (layer 0 needs no q/k/v dx)
  // LoRA: forward 2 GEMMs, backward 4 (dB, dxa, dA, dx): 3 · 2·T·r·(in + out) per module
  const lora = d.L * targets.reduce((s, t) => { const m = moduleShape(d, t); return s + 3 * 2 * T * r * (m.inF + m.outF); }, 0);
  // causal attention inside sequences: QKᵀ and PV forward (2 GEMMs), backward 5 (recomputed P)
  const attn = d.L * d.H * pairs * d.D * 2 * (2 + 5);
  const head = T * d.V * d.C * 2 * 2; // lm_head forward + dx
  return { gemm, lora, attn, head };
}

/** Component times on layer 0's buffers at T tokens (after a real step filled them). */
async function components(gpu: Gpu, w: ModelWeights, st: TrainState, T: number, seq: number, runs: [number, number][], reps: number): Promise<Component[]> {
  const d = w.dims, L = d.L, a = st.acts.layers[0], ws = st.acts.ws, lw = w.layers[0], lo = st.lora.layers[0];
  const v = (t: Tensor) => rows(t, T);
  const out: Component[] = [];
  const add = async (name: string, count: number, gflop: number, fn: () => void, n = reps) => {
    const { ms } = await gpuTimeMs(gpu, fn, n);
    out.push({ name, count, ms, totalMs: ms * count, gflop, tflops: gflop / ms }); // GFLOP/ms = TFLOP/s
  };
  // One representative per shape; `k` = how many of the seven modules share it.
  const lin: [Target, string, number, Tensor, Tensor, Tensor, Tensor][] = [ // target, name, k, x, y, dx, dy
    ['q_proj', 'q_proj', 1, v(a.xn1), v(a.q), v(ws.dC), v(ws.dQ)],
    ['k_proj', 'k_proj+v_proj', 2, v(a.xn1), v(a.k), v(ws.dC), v(ws.dK)],
    ['o_proj', 'o_proj', 1, v(a.attn), v(ws.dC), v(ws.dAttn), v(ws.dRes)],
    ['gate_proj', 'gate_proj+up_proj', 2, v(a.xn2), v(a.g), v(ws.dC), v(ws.dG)],
    ['down_proj', 'down_proj', 1, v(a.h), v(ws.dC), v(ws.dH), v(ws.dRes)],
  ];
  const lopts = (t: Target) => ({ scale: st.lora.scale, dropout: st.lora.dropout, seed: 1 + t.length });
  for (const [t, name, k, x, y, dx, dy] of lin) {
    const nw = lw.proj[t];
    if (nw.kind !== 'nf4') throw new Error('bench expects NF4 linears');
    const gflop = (2 * T * nw.w.rows * nw.w.cols) / 1e9;
    const qkv = t === 'q_proj' || t === 'k_proj';
    await add(`nf4 fwd ${name}`, L * k, gflop, () => nf4Matmul(gpu, y, x, nw.w));
    await add(`nf4 bwd dx ${name}`, (qkv ? L - 1 : L) * k, gflop, () => nf4MatmulBackward(gpu, dx, dy, nw.w));
    const m = lo[t];
    if (m) {
      const lf = (2 * T * st.lora.r * (m.inF + m.outF)) / 1e9;
      const xa = v(a.xa[t]!);
      await add(`lora fwd ${name}`, L * k, lf, () => loraForward(gpu, y, xa, x, m.A, m.B, lopts(t)));
      await add(`lora bwd ${name}`, L * k, 2 * lf, () =>
        loraBackward(gpu, m.dA, m.dB, dx, dy, x, m.A, m.B, xa, v(ws.loraScratch), lopts(t)));
    }
  }
  const shape = { nHeads: d.H, nKvHeads: d.Hkv, headDim: d.D };
  const pairs = (T / seq) * (seq * (seq + 1)) / 2;
  const af = (d.H * pairs * d.D * 4) / 1e9;
  await add('attention fwd', L, af, () => attentionForward(gpu, v(a.attn), lseView(a.lse, T), v(a.q), v(a.k), v(a.v), v(ws.segIds), shape));
  await add('attention bwd', L, 2.5 * af, () => attentionBackward(gpu, v(ws.dQ), v(ws.dK), v(ws.dV), v(ws.dAttn), v(a.q), v(a.k), v(a.v), v(a.attn),
    lseView(a.lse, T), v(ws.segIds), shape));
  const eps = w.cfg.rmsNormEps, pos = v(ws.positions);
  await add('rmsnorm+rope+swiglu+copy fwd', L, 0, () => {
    rmsnormForward(gpu, v(a.xn1), rows(a.rstd1, T), v(a.x), lw.inputNorm, eps);
    ropeForward(gpu, v(ws.dQ), pos, w.invFreq, d.H, d.D);
    ropeForward(gpu, v(ws.dK), pos, w.invFreq, d.Hkv, d.D);
    copy(gpu, v(ws.dC), v(a.x));
    rmsnormForward(gpu, v(a.xn2), rows(a.rstd2, T), v(a.x2), lw.postNorm, eps);
    swigluForward(gpu, v(a.h), v(a.g), v(a.u));
    copy(gpu, v(ws.dC), v(a.x2));
  });
  await add('rmsnorm+rope+swiglu bwd', L, 0, () => {
    swigluBackward(gpu, v(ws.dG), v(ws.dU), v(ws.dH), v(a.g), v(a.u));
    rmsnormBackward(gpu, v(ws.dRes), v(ws.dC), v(a.x2), lw.postNorm, rows(a.rstd2, T), { accumulate: true });
    ropeBackward(gpu, v(ws.dQ), pos, w.invFreq, d.H, d.D);
    ropeBackward(gpu, v(ws.dK), pos, w.invFreq, d.Hkv, d.D);
    rmsnormBackward(gpu, v(ws.dRes), v(ws.dC), v(a.x), lw.inputNorm, rows(a.rstd1, T), { accumulate: true });
  });
  await add('lm_head + cross-entropy (fwd+bwd, chunked)', 1, (4 * T * d.V * d.C) / 1e9, () => lossChunks(gpu, w, st.acts, T, runs, 1 / T), 2);
  let step = 1000;
  await add('AdamW + grad norm + zero grads', 1, 0, () => { optimizerStep(gpu, st.lora, st.opt, DEFAULT_ADAMW, step++); }, 3);
  return out;
}

function destroyTraining(gpu: Gpu, st: TrainState): void {
  const seen = new Set<GPUBuffer>();
  const kill = (t: Tensor) => { if (!seen.has(t.buffer)) { seen.add(t.buffer); destroyTensor(gpu, t); } };
  for (const [, , m] of loraModules(st.lora)) [m.A, m.B, m.dA, m.dB, m.mA, m.vA, m.mB, m.vB].forEach(kill);
  for (const l of st.acts.layers) for (const t of Object.values(l)) {
    if ('buffer' in (t as object)) kill(t as Tensor);
    else Object.values(t as Record<string, Tensor>).forEach(kill);
  }
  Object.values(st.acts.ws).forEach(kill);
  kill(st.opt.normSq);
}

async function allocFitting(gpu: Gpu, w: ModelWeights, o: StepOptions): Promise<TrainState> {
  for (const recompute of o.recompute ? [true] : [false, true]) {
    const cfg = resolveTrainConfig({ seqLen: o.seq, batchSize: o.batch, r: o.r, alpha: 2 * o.r, recompute });
    try {
      return await gpu.guarded(`allocTraining(recompute=${recompute})`, () => allocTraining(gpu, w, cfg));
    } catch (e) {
      if (!(e instanceof GpuError) || e.kind !== 'out-of-memory' || recompute) throw e;
      console.error(`T=${o.seq * o.batch}: activations do not fit without recomputation; retrying with recompute`);
    }
  }
  throw new Error('unreachable');
}

export async function benchStep(gpu: Gpu, w: ModelWeights, o: StepOptions, breakdownReps = 3): Promise<StepResult> {
  const mem = memoryTracker(gpu);
  mem.reset();
  const T = o.seq * o.batch;
  const st = await allocFitting(gpu, w, o);
  const batch = packedBatch(o.seq, o.batch, w.dims.V, 7 + o.batch);
  let step = 0, loss = NaN;
  const one = async () => {
    const r = await trainMicroStep(gpu, w, st.lora, st.acts, batch, { seed: step });
    loss = r.nllSum / r.count;
    await optimizerStep(gpu, st.lora, st.opt, DEFAULT_ADAMW, ++step)();
  };
  for (let i = 0; i < o.warmup; i++) await one();
  await gpu.sync();
  const stepMs: number[] = [];
  for (let i = 0; i < o.steps; i++) {
    const t0 = performance.now();
    await one();
    stepMs.push(performance.now() - t0);
  }
  const awaitedMsPerStep = stepMs.reduce((s, x) => s + x, 0) / stepMs.length;
  // The same steps with one step in flight, as the training loop runs them: step n+1 is recorded
  // before step n's loss and grad norm are read back, so the GPU does not wait for the host.
  const record = () => Promise.all([
    trainMicroStep(gpu, w, st.lora, st.acts, batch, { seed: step }),
    optimizerStep(gpu, st.lora, st.opt, DEFAULT_ADAMW, ++step)(),
  ]);
  const tp = performance.now();
  let inFlight = record();
  for (let i = 0; i < o.steps; i++) { const next = record(); await inFlight; inFlight = next; }
  await inFlight;
  const msPerStep = (performance.now() - tp) / (o.steps + 1);
  // One instrumented step: JS recording time, dispatch count, then its GPU time (timestamps).
  const { T: Tb, count, runs } = uploadBatch(gpu, st.acts, batch, w.dims.V);
  await gpu.sync();
  const counter = dispatchCounter(gpu);
  const created0 = { ...gpu.created };
  let recordMs = 0;
  const gpuStep = await gpuTimeMs(gpu, () => {
    const t0 = performance.now();
    const run = { lora: st.lora, train: true, seed: step };
    modelForward(gpu, w, st.acts, Tb, run);
    lossChunks(gpu, w, st.acts, Tb, runs, 1 / count);
    modelBackward(gpu, w, st.acts, Tb, run);
    optimizerStep(gpu, st.lora, st.opt, DEFAULT_ADAMW, ++step);
    recordMs = performance.now() - t0;
  }, 1, false, true);
  const dispatches = counter.stop();
  const recordSplit = { dispatchMs: counter.jsMs(), submitMs: counter.submitMs() };
  const createdPerStep = { uniforms: gpu.created.uniforms - created0.uniforms, bindGroups: gpu.created.bindGroups - created0.bindGroups };
  const comps = breakdownReps > 0 ? await components(gpu, w, st, T, o.seq, runs, breakdownReps) : [];
  const f = stepFlop(w, T, o.seq, o.r, st.lora.targets);
  const modelTflop = (f.gemm + f.lora + f.attn + f.head) / 1e12;
  const planBytes = tableBytes(activationTable(w.dims, T, ceChunkRows(gpu, w.dims.V, T), o.r, st.lora.targets, st.acts.recompute));
  const result: StepResult = {
    seq: o.seq, batch: o.batch, tokens: T, recompute: st.acts.recompute,
    msPerStep, tokensPerSecond: T / (msPerStep / 1000), awaitedMsPerStep, stepMs, loss,
    peakBytes: mem.peak(), activationPlanBytes: planBytes,
    modelTflop, achievedTflops: modelTflop / (msPerStep / 1000), recordMs, gpuStepMs: gpuStep.ms, gpuTiming: gpuStep.timing, dispatches, recordSplit, createdPerStep, components: comps,
  };
  mem.stop();
  destroyTraining(gpu, st);
  await gpu.sync();
  return result;
}
