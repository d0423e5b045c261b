// `npm run cli -- gpu-info`: the adapter, its features and limits as JSON.
import type { CliArgs } from '../args';
import { nodeGpuApi } from '../../gpu/core/node';
import { Gpu } from '../../gpu/core/context';

export async function run(_args: CliArgs): Promise<void> {
  const gpu = await Gpu.create(await nodeGpuApi());
  console.log(JSON.stringify(gpu.info, null, 2));
}
