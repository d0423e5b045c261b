// `npm run cli -- selftest [--m M --n N --k K --iters I]`: NF4 matmul on this GPU against the
// CPU reference, printed as JSON (ok, maxError, ms, shape, path); exits 1 when not ok.
import type { CliArgs } from '../args';
import { nodeGpuApi } from '../../gpu/core/node';
import { Gpu } from '../../gpu/core/context';
import { runSelftest } from '../../gpu/selftest';

export async function run(args: CliArgs): Promise<void> {
  const gpu = await Gpu.create(await nodeGpuApi());
  const shape: [number, number, number] = [args.num('m', 64), args.num('n', 256), args.num('k', 512)];
  const result = await runSelftest(gpu, { shape, iters: args.num('iters', 20) });
  console.log(JSON.stringify(result, null, 2));
  if (!result.ok) process.exit(1);
}
