#!/usr/bin/env -S node --initial-old-space-size=64 --max-semi-space-size=1
// The `lifeboat` command: parses arguments, runs one command, maps errors to exit codes.
// The flags on the first line: a backup streams gigabytes through buffers that live a little while (a read of
// the dump's pipe, a write, a part on its way). V8 counts them against an old generation that starts at about
// 27 MB and runs a full collection each time they fill it, about once every 20 MB of dump: starting at 64 MB
// cut the collections from 37 to 12 for a 1 GB dump, and the CPU time of a backup by about 8%. Each pipe read
// is a 64 KiB buffer of the C allocator that only a collection gives back; with a young generation of 1 MiB
// (16 by default) a scavenge comes about 16 times as often and gives them back while they are young: a zstd
// backup of 270 MB of dump to MinIO peaked at 187 against 203 MiB, with 0.95x the CPU time (paired runs).
import { Command, CommanderError, Option } from 'commander';
import { resolveConfigPath } from '../config/load.js';
import { describeError, ExitCode, LifeboatError } from '../errors.js';
import { redactUrlPasswords } from '../redact.js';
import { TOOL } from '../version.js';
import { createContext, type GlobalOptions, quietOnClosedPipe } from './context.js';

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('lifeboat')
    .description('Backups of PostgreSQL and SQLite that are streamed, checksummed, verified and restorable.')
    .version(TOOL.version)
    .option('-c, --config <path>', 'configuration file (default: $LIFEBOAT_CONFIG, else ./lifeboat.yaml)')
    .option('--store <name>', 'work on this store under `stores:` (a copy) instead of `storage:`')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  const global = (): GlobalOptions => program.opts<GlobalOptions>();
  const json = new Option('--json', 'machine-readable output on stdout');

  program
    .command('backup')
    .description('back up the named targets (all when none named) and print the new backup ids')
    .argument('[targets...]')
    .addOption(json)
    .action(async (targets: string[], options) =>
      setExit(await (await import('./backup.js')).backupCommand(await createContext(global()), targets, options)),
    );

  program
    .command('list')
    .description('list committed backups, newest first')
    .argument('[target]')
    .addOption(json)
    .action(async (target: string | undefined, options) =>
      setExit(await (await import('./list.js')).listCommand(await createContext(global()), target, options)),
    );

  program
    .command('verify')
    .description('re-read stored backups and check size and SHA-256 against the manifest')
    .argument('<id-or-target>', 'a backup id, or a target (its newest backup)')
    .option('--all', 'every backup of the target')
    .addOption(json)
    .action(async (subject: string, options) =>
      setExit(await (await import('./verify.js')).verifyCommand(await createContext(global()), subject, options)),
    );

  program
    .command('restore')
    .description('restore a target from its newest backup, a given one, or the one for a point in time')
    .argument('<target>')
    .option(
      '--point-in-time <iso8601>',
      'the newest backup whose data is from this time or before; with a zone, e.g. 2026-11-22T03:00:00Z',
    )
    .option('--backup <id>', 'this backup')
    .option('--to <dest>', 'another destination: a file path (sqlite) or a postgres:// URL')
    .option('--force', 'replace a destination that already holds data')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--from-store <name>', 'restore from this copy (a store under `stores:`); the same as --store')
    .option('--to-datadir <dir>', 'physical PostgreSQL targets: recover into this (empty) data directory')
    .option('--start', 'with --to-datadir: start a throwaway server on a free port and wait for the recovery')
    .option('--timeline <n>', 'with --to-datadir: follow this timeline (default: the newest that holds the time)')
    .option(
      '--lock-timeout <duration>',
      'PostgreSQL: give up when another session holds a lock the restore needs for this long',
      '30s',
    )
    .addOption(json)
    .action(async (target: string, options) =>
      setExit(
        await (await import('./restore.js')).restoreCommand(
          await createContext({ ...global(), store: options.fromStore ?? global().store }),
          target,
          options,
          { configPath: resolveConfigPath(global().config), store: options.fromStore ?? global().store },
        ),
      ),
    );

  program
    .command('prune')
    .description('delete backups the retention policy no longer keeps, and leftovers of interrupted runs')
    .argument('[target]')
    .option('--dry-run', 'print the decision and delete nothing')
    .option('--now <iso8601>', 'evaluate the policy at this instant instead of now (with a zone, e.g. ...Z)')
    .addOption(json)
    .action(async (target: string | undefined, options) =>
      setExit(await (await import('./prune.js')).pruneCommand(await createContext(global()), target, options)),
    );

  program
    .command('wal-fetch')
    .description("physical PostgreSQL targets: write one archived WAL file to DEST (restore_command '… %f %p')")
    .argument('<target>')
    .argument('<file>', 'the WAL file PostgreSQL asks for (%f)')
    .argument('<dest>', 'where to write it (%p)')
    .action(async (target: string, file: string, dest: string) =>
      setExit(await (await import('./wal.js')).walFetchCommand(await createContext(global()), target, file, dest)),
    );

  program
    .command('wal-push')
    .description("physical PostgreSQL targets: archive one finished WAL file (archive_command '… %p')")
    .argument('<target>')
    .argument('<path>', 'the WAL file (%p)')
    .action(async (target: string, path: string) =>
      setExit(await (await import('./wal.js')).walPushCommand(await createContext(global()), target, path)),
    );

  program
    .command('unlock')
    .description('free a target whose lease holder died (refused while the holder still renews it)')
    .argument('<target>')
    .option('--yes', 'do not ask for confirmation')
    .action(async (target: string, options) =>
      setExit(await (await import('./unlock.js')).unlockCommand(await createContext(global()), target, options)),
    );

  program
    .command('drill')
    .description('test-restore the newest (or a given) backup into a scratch place, check it, measure RPO/RTO')
    .argument('[targets...]')
    .option('--backup <id>', 'drill this backup instead of the newest')
    .option('--report <dir>', 'then write report.md, report.html and report.json into this folder')
    .addOption(json)
    .action(async (targets: string[], options) =>
      setExit(await (await import('./drill.js')).drillCommand(await createContext(global()), targets, options)),
    );

  program
    .command('report')
    .description('RPO/RTO report from the stored backups and drill records')
    .argument('[targets...]')
    .option('--since <duration>', 'the window, e.g. 30d or 12h', '30d')
    .option('--format <format>', 'md, html or json', 'md')
    .option('--out <file>', 'write to this file instead of standard output')
    .option(
      '--bundle <file>',
      'write an evidence pack (.tar.gz or .zip): reports, drill records, manifests, SHA256SUMS',
    )
    .action(async (targets: string[], options) =>
      setExit(await (await import('./report.js')).reportCommand(await createContext(global()), targets, options)),
    );

  program
    .command('daemon')
    .description('run every scheduled target on its cron schedule, with retention, metrics and health endpoints')
    .action(async () => setExit(await (await import('./daemon.js')).daemonCommand(await createContext(global()))));

  const config = program.command('config').description('configuration tools');
  config
    .command('check')
    .description('validate the configuration and print it with secrets redacted')
    .addOption(json)
    .action(async (options) =>
      setExit(await (await import('./config-check.js')).configCheckCommand({ ...global(), ...options })),
    );
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (error instanceof LifeboatError) {
      process.stderr.write(`Error: ${redactUrlPasswords(error.message)}\n`);
      if (error.hint !== undefined) process.stderr.write(`Try: ${redactUrlPasswords(error.hint)}\n`);
      return error.exitCode;
    }
    // Not one of Lifeboat's own errors: the message, never a stack trace (unless asked for).
    const detail = process.env.LIFEBOAT_DEBUG ? ((error as Error).stack ?? String(error)) : describeError(error);
    process.stderr.write(`Error: ${redactUrlPasswords(detail)}\n`);
    process.stderr.write('Try: set LIFEBOAT_DEBUG=1 for the stack trace, and report it if it looks like a bug\n');
    return ExitCode.failed;
  }
}

quietOnClosedPipe();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`Error: ${redactUrlPasswords(describeError(error))}\n`);
    process.exitCode = ExitCode.failed;
  },
);
