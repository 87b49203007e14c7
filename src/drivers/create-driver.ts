// Chooses the driver named by a target's configuration. Each driver is loaded when first chosen: a backup of
// PostgreSQL never loads the Neo4j or SQLite client libraries.
import type { TargetConfig } from '../config/schema.js';
import type { Driver } from './driver.js';

export async function createDriver(target: TargetConfig): Promise<Driver> {
  switch (target.driver) {
    case 'sqlite':
      return new (await import('./sqlite/sqlite-driver.js')).SqliteDriver(target);
    case 'postgres':
      return new (await import('./postgres/postgres-driver.js')).PostgresDriver(target);
    case 'neo4j':
      return new (await import('./neo4j/neo4j-driver.js')).Neo4jDriver(target);
  }
}
