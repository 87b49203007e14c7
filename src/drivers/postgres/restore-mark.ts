// The mark of a restore under way, in the destination database's comment. A restore that is not one
// transaction (pg_restore --jobs, the streamed restore's sessions and its indexes at the end) cannot undo
// itself when its process is killed (SIGKILL, a stopped container, a lost machine): the database may then
// hold part of a backup, or a live database part of its old data and part of the new. The mark stays in
// that case, and the next restore's refusal and `--dry-run` name it; a restore that ends, well or with the
// destination left as it found it, puts the comment it found back.
import type pg from 'pg';
import { describeError, LifeboatError } from '../../errors.js';
import { type PgConnection, quoteIdent, withClient } from './connection.js';

/** How every mark begins; the rest says when the restore began. */
const PREFIX = 'lifeboat: a restore began here at ';
const SUFFIX = ' and has not finished; until one finishes, this database may hold part of a backup';

/** PostgreSQL's insufficient_privilege: only the database's owner (or a superuser) may comment on it. */
const INSUFFICIENT_PRIVILEGE = '42501';

/** The comment of the connection's database, as an SQL expression. */
export const DATABASE_COMMENT = `shobj_description((SELECT oid FROM pg_database WHERE datname = current_database()), 'pg_database')`;

/**
 * A database that carries the mark of a restore that did not finish may hold part of a backup: backed up, it
 * would count as the newest good backup (for retention, freshness and the next restore). Refused instead, so the
 * backups before it stay the newest, and the failure says why.
 */
export function refuseUnfinishedRestore(databases: readonly { name: string; comment: string | null }[]): void {
  const marked = databases.flatMap(({ name, comment }) => {
    const since = unfinishedSince(comment);
    return since === undefined ? [] : [{ name, since }];
  });
  const first = marked[0];
  if (first === undefined) return;
  const named = marked.map(({ name, since }) => `${name} (a restore began there at ${since})`).join(', ');
  throw new LifeboatError(
    'SOURCE',
    `postgres: not backed up: ${named} ${marked.length === 1 ? 'carries' : 'carry'} the mark of a restore that has not finished, and may hold part of a backup; nothing stored, the backups before this one stay the newest`,
    {
      hint: `finish that restore (run it again; --force replaces what it left), or, if the data is known to be sound, take the mark off: COMMENT ON DATABASE ${quoteIdent(first.name)} IS NULL`,
    },
  );
}

/** When the restore that left `comment` began, if it is a mark; undefined for any other comment. */
export function unfinishedSince(comment: string | null | undefined): string | undefined {
  if (comment?.startsWith(PREFIX) !== true || !comment.endsWith(SUFFIX)) return undefined;
  return comment.slice(PREFIX.length, comment.length - SUFFIX.length);
}

/** The mark of a restore that began at `at`. */
function restoreMark(at: Date): string {
  return `${PREFIX}${at.toISOString()}${SUFFIX}`;
}

/** Takes the mark off: the comment found before it, none if that was a mark too (a killed restore's). */
export type Unmark = () => Promise<void>;

/**
 * Marks the destination database. Resolves to how to take the mark off, or to undefined when the role may
 * not comment on the database (not its owner): the restore then goes on unmarked. Each step is a connection
 * of its own: none is held while the restore runs.
 */
export async function markRestore(connection: PgConnection, at: Date): Promise<Unmark | undefined> {
  const previous = await withClient(connection, async (client) => {
    const found = await client.query(`SELECT current_database() AS name, ${DATABASE_COMMENT} AS comment`);
    const { name, comment } = found.rows[0] as { name: string; comment: string | null };
    try {
      await setComment(client, name, restoreMark(at));
    } catch (error) {
      if ((error as { code?: string }).code === INSUFFICIENT_PRIVILEGE) return undefined;
      throw error;
    }
    return { name, comment: unfinishedSince(comment) === undefined ? comment : null };
  });
  if (previous === undefined) return undefined;
  return () =>
    withClient(connection, (client) => setComment(client, previous.name, previous.comment)).catch((error: unknown) => {
      throw new LifeboatError(
        'RESTORE_FAILED',
        `postgres: the restore into ${previous.name} finished, but the comment that marks it as under way could not be taken off: ${describeError(error)}`,
        {
          cause: error,
          hint: `once the server answers, set the comment of ${previous.name} back with COMMENT ON DATABASE`,
        },
      );
    });
}

async function setComment(client: pg.Client, database: string, text: string | null): Promise<void> {
  await client.query(
    `COMMENT ON DATABASE ${client.escapeIdentifier(database)} IS ${text === null ? 'NULL' : client.escapeLiteral(text)}`,
  );
}
