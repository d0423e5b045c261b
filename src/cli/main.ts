// Headless command line sharing the engine: `npm run cli -- <command> [flags]`.
// Each command is a module in ./commands/<name>.ts exporting `run(args: CliArgs)`.
// Errors print one clear line on stderr and exit non-zero (never a stack trace).

import { parseArgs, type CliArgs, CliError } from './args';

const COMMANDS = ['gpu-info', 'selftest', 'prepare', 'plan', 'demo-model', 'train', 'generate', 'eval', 'metrics', 'export'];

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === 'help') {
    console.log(`usage: npm run cli -- <command> [flags]\ncommands: ${COMMANDS.join(', ')}`);
    return;
  }
  if (!COMMANDS.includes(name)) throw new CliError(`unknown command "${name}" (commands: ${COMMANDS.join(', ')})`);
  let mod: { run: (a: CliArgs) => Promise<void> };
  try {
    mod = await import(`./commands/${name}.ts`);
  } catch (e) {
    if (String(e).includes('No such') || String(e).includes('Could not resolve') || String(e).includes('Cannot find'))
      throw new CliError(`command "${name}" is not available in this build`);
    throw e;
  }
  await mod.run(parseArgs(rest));
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`error: ${msg.split('\n')[0]}\n`);
    if (process.env.QLORA_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(e instanceof CliError ? 2 : 1);
  },
);
