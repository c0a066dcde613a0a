// Commands beyond `validate` register themselves here, so main.ts stays small.
import { registerCommand } from './main';

registerCommand('dev', async () => (await import('./dev')).devCommand);
registerCommand('sign', async () => (await import('./sign')).signCommand);
registerCommand('lineage', async () => (await import('./admin-commands')).lineageCommand);
registerCommand('conflicts', async () => (await import('./admin-commands')).conflictsCommand);
registerCommand('quarantine', async () => (await import('./admin-commands')).quarantineCommand);
registerCommand('backfill', async () => (await import('./backfill')).backfillCommand);
registerCommand('redrive', async () => (await import('./admin-commands')).redriveCommand);
registerCommand('status', async () => (await import('./admin-commands')).statusCommand);
registerCommand('pull', async () => (await import('./pull')).pullCommand);
registerCommand('try', async () => (await import('./try')).tryCommand);
registerCommand('replay', async () => (await import('./replay')).replayCommand);
