// Plain-text tables of a bench/run.ts report (markdown-friendly).

import type { BenchReport } from './run';

const GiB = 2 ** 30;
const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const wid = head.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(wid[i]) : c.padStart(wid[i]))).join(' | ')} |`;
  return [line(head), `|${wid.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

export function printReport(r: BenchReport): void {
  const peak = r.peaks?.fmaTflops ?? NaN;
  const out: string[] = [];
  out.push(`\n## ${r.device.description || r.device.vendor} (${r.device.architecture}); f16 ${r.device.features.f16}, subgroups ${r.device.features.subgroups}`);
  if (r.peaks) out.push(`measured f32 FMA peak ${f(r.peaks.fmaTflops, 2)} TFLOP/s, copy bandwidth ${f(r.peaks.copyGBs, 0)} GB/s (${r.peaks.source})`);
  const mb = r.modelBytes;
  out.push(`weights: NF4 linears ${f(mb.nf4Linear / GiB, 2)} GiB, embedding ${f(mb.embed / GiB, 2)} GiB, lm_head ${f(mb.lmHead / GiB, 2)} GiB (bf16); built in ${f(r.loadSeconds)} s`);
  out.push(`\n### Training step (forward + loss + backward + AdamW), r=16 all seven modules, ${r.tensorCores ? 'tensor-core' : 'f32'} kernels`);
  out.push(table(
    ['micro-batch', 'tokens', 'recompute', 'ms/step', 'tokens/s', 'model TFLOP/step', 'TFLOP/s', '% f32 peak', 'peak GiB', 'JS record ms (dispatch / submit)', 'GPU ms', 'dispatches', 'new uniforms/bind groups', 'loss'],
    r.steps.map((s) => [`${s.batch} × ${s.seq}`, s.tokens, String(s.recompute), f(s.msPerStep, 0), f(s.tokensPerSecond, 0), f(s.modelTflop, 2),
      f(s.achievedTflops, 2), f((100 * s.achievedTflops) / peak), f(s.peakBytes / GiB, 2), `${f(s.recordMs, 0)} (${s.recordSplit ? `${f(s.recordSplit.dispatchMs, 0)} / ${f(s.recordSplit.submitMs, 0)}` : '?'})`, f(s.gpuStepMs, 0), s.dispatches, s.createdPerStep ? `${s.createdPerStep.uniforms}/${s.createdPerStep.bindGroups}` : '', f(s.loss, 3)]),
  ));
  for (const s of r.steps) {
    if (!s.components.length) continue;
    const sum = s.components.reduce((a, c) => a + c.totalMs, 0);
    out.push(`\n#### Breakdown at ${s.tokens} tokens (GPU time of each piece alone × count; sum ${f(sum, 0)} ms vs GPU time of a whole step ${f(s.gpuStepMs, 0)} ms, wall ${f(s.msPerStep, 0)} ms)`);
    const sorted = [...s.components].sort((a, b) => b.totalMs - a.totalMs);
    out.push(table(['component', 'count', 'ms each', 'ms/step', '% of GPU step', 'TFLOP/s', '% f32 peak'],
      sorted.map((c) => [c.name, c.count, f(c.ms, 3), f(c.totalMs, 0), f((100 * c.totalMs) / s.gpuStepMs), c.gflop ? f(c.tflops, 2) : '',
        c.gflop ? f((100 * c.tflops) / peak) : ''])));
  }
  if (r.decode) {
    const d = r.decode;
    out.push(`\n### Decode (KV cache, greedy, ${d.newTokens} tokens after ${d.prompt})`);
    out.push(table(['adapter', 'prefill ms', 'tokens/s', 'ms/token', 'dispatches/token', 'JS ms/token in dispatch', 'new uniforms/bind groups per token'],
      d.runs.map((x) => [(x.lora ? 'on' : 'off') + (x.sampling === 'chat' ? ' (chat sampling)' : ''), f(x.prefillMs, 0), f(x.decodeTokensPerSecond, 1), f(x.msPerToken, 2), f(x.dispatchesPerToken, 0), f(x.jsDispatchMsPerToken, 2), x.createdPerToken ? `${f(x.createdPerToken.uniforms, 0)}/${f(x.createdPerToken.bindGroups, 0)}` : ''])));
    if (d.gpu) {
      const g = d.gpu;
      out.push(`GPU time of one token (timestamps): forward+lm_head ${f(g.forwardLoraMs, 2)} ms with the adapter, ${f(g.forwardBaseMs, 2)} ms without; ` +
        `alone: NF4 GEMVs ${f(g.gemvMs, 2)} ms, LoRA ${f(g.loraMs, 2)} ms, KV write+attention ${f(g.attnMs, 2)} ms, lm_head ${f(g.lmHeadMs, 2)} ms`);
      if (g.profile?.length) {
        out.push('\nThe decode step (adapter on) by kernel: each pipeline\'s dispatches replayed alone (GPU timestamps)');
        out.push(table(['kernel', 'dispatches', 'ms/token', 'µs each'],
          g.profile.map((p) => [p.kernel, p.dispatches, f(p.ms, 3), f((1000 * p.ms) / p.dispatches, 1)])));
      }
    }
    out.push(`bytes read per token: ${f(d.bytesPerToken.total / 1e9, 2)} GB (weights ${f(d.bytesPerToken.weights / 1e9, 2)}, LoRA ${f(d.bytesPerToken.lora / 1e9, 3)}, KV ${f(d.bytesPerToken.kvCache / 1e9, 3)}); ` +
      `bandwidth bound ${f(d.boundTokensPerSecond, 0)} tokens/s; measured ${f(100 * d.fractionOfBound)}% of it`);
  }
  if (r.errors.length) out.push(`\nERRORS:\n${r.errors.join('\n')}`);
  console.log(out.join('\n'));
}
