// Host time of picking one token from Llama-3.1 logits (V = 128256), CPU only: sampleToken
// (head-only sorting) vs sampleTokenRef (every id sorted), for the chat panel's defaults and other
// settings. Run: node scripts/run-ts.mjs bench/sampling.ts

import { sampleToken, type SamplingOptions } from '../src/chat/sampling';
import { sampleTokenRef } from '../src/chat/sampling.ref';
import { Rng } from '../src/util/rng';

const V = 128256, REPS = 30;
const rng = new Rng(1);
const base = new Float32Array(V);
for (let i = 0; i < V; i++) base[i] = 2 * rng.normal();
for (let j = 0; j < 12; j++) base[rng.int(V)] += 8;
const context = Array.from({ length: 200 }, (_, i) => (i * 641) % V);

const CASES: [string, SamplingOptions][] = [
  ['chat default (T 0.7, top-k 40, top-p 0.9, penalty 1.1)', { temperature: 0.7, topK: 40, topP: 0.9, repetitionPenalty: 1.1 }],
  ['top-p only (T 0.7, top-p 0.9)', { temperature: 0.7, topK: 0, topP: 0.9, repetitionPenalty: 1.1 }],
  ['temperature only (T 1)', { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 }],
  ['greedy', { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1.1 }],
];
const time = (f: typeof sampleToken, o: SamplingOptions) => {
  const r = new Rng(2);
  f(base.slice(), context, o, r); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < REPS; i++) f(base.slice(), context, o, r);
  return (performance.now() - t0) / REPS;
};
console.log('| settings | reference ms / token | sampleToken ms / token | × |');
console.log('| --- | --- | --- | --- |');
for (const [name, o] of CASES) {
  const ref = time(sampleTokenRef, o), fast = time(sampleToken, o);
  console.log(`| ${name} | ${ref.toFixed(2)} | ${fast.toFixed(3)} | ${(ref / fast).toFixed(0)} |`);
}
