// A `targets:` entry of the Neo4j driver.
import { z } from 'zod';
import { command, drillSchema, duration, runSettings, targetEncryption, targetName } from '../../config/parts.js';

export const neo4jTarget = z
  .strictObject({
    name: targetName,
    driver: z.literal('neo4j'),
    database: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9.-]{0,62}$/, 'must be a Neo4j database name')
      .default('neo4j')
      .describe('The database to dump ("neo4j", a named one, or "system").'),
    uri: z
      .string()
      .regex(/^(bolt|neo4j)(\+s|\+ssc)?:\/\//, 'must be a bolt:// or neo4j:// URI')
      .default('bolt://localhost:7687')
      .describe('Bolt address: statistics before the dump, and "is it up again" after it.'),
    user: z.string().default('neo4j'),
    password: z.string().optional().describe('Secret; prefer passwordFile.'),
    passwordFile: z.string().optional().describe('File holding the password (Docker secrets).'),
    offline: z
      .enum(['stop-start', 'assume', 'online'])
      .default('stop-start')
      .describe(
        'stop-start: stop the DBMS for the dump and start it again (Community); assume: it is already stopped; ' +
          'online: Enterprise, stop only the database through Cypher while the DBMS runs.',
      ),
    access: z.enum(['exec', 'docker']).default('exec').describe('How neo4j-admin is reached.'),
    exec: z
      .strictObject({
        admin: command.default(['neo4j-admin']).describe('The neo4j-admin command, as an argument array.'),
        stop: command.default(['neo4j', 'stop']).describe('Stops the DBMS (waits until it is stopped).'),
        start: command.default(['neo4j', 'start']).describe('Starts the DBMS (Lifeboat then waits for Bolt).'),
        console: command
          .default(['neo4j', 'console'])
          .describe(
            'Runs a DBMS in the foreground: drills start scratch servers with it ({home}, {conf} are filled in).',
          ),
        home: z.string().optional().describe('NEO4J_HOME for the commands.'),
        conf: z.string().optional().describe('NEO4J_CONF (folder of neo4j.conf) for the commands.'),
      })
      .prefault({}),
    docker: z
      .strictObject({
        socket: z.string().default('/var/run/docker.sock'),
        container: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a container name or id')
          .describe('Name or id of the Neo4j container.'),
        dataPath: z
          .string()
          .regex(/^\/[^\0]*$/, 'must be an absolute path')
          .default('/data')
          .describe(
            "Where the image keeps its data (the official image's /data); drills mount a scratch volume there.",
          ),
        network: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a network name or id')
          .optional()
          .describe(
            "Network for drills' scratch containers, which Lifeboat must reach; default: the Neo4j container's first.",
          ),
      })
      .optional(),
    startTimeout: duration.default('180s').describe('How long to wait for Bolt after starting the DBMS again.'),
    drill: drillSchema.optional(),
    ...targetEncryption,
    ...runSettings,
  })
  .superRefine((target, ctx) => {
    if (target.access === 'docker' && target.docker === undefined) {
      ctx.addIssue({ code: 'custom', path: ['docker'], message: 'required when access is "docker"' });
    }
    if (target.access === 'docker' && target.drill?.to !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['drill', 'to'],
        message: 'not used with access "docker": drills load into a new Docker volume and a throwaway container',
      });
    }
    if (target.password !== undefined && target.passwordFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'set password or passwordFile, not both' });
    }
  })
  .describe('A Neo4j database, dumped with neo4j-admin database dump (Community: with the DBMS stopped).');

/** A drill must never start its scratch server in the live NEO4J_HOME. */
export function neo4jDrillToProblem(target: z.infer<typeof neo4jTarget>): string | undefined {
  const to = target.drill?.to;
  if (to === undefined) return undefined;
  return target.exec.home !== undefined && to.replace(/\/+$/, '') === target.exec.home.replace(/\/+$/, '')
    ? 'is the live NEO4J_HOME; give a folder for scratch servers'
    : undefined;
}
