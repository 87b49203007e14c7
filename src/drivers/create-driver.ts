// Chooses the driver named by a target's configuration.
import type { TargetConfig } from '../config/schema.js';
import type { Driver } from './driver.js';
import { Neo4jDriver } from './neo4j/neo4j-driver.js';
import { PostgresDriver } from './postgres/postgres-driver.js';
import { SqliteDriver } from './sqlite/sqlite-driver.js';

export function createDriver(target: TargetConfig): Driver {
  switch (target.driver) {
    case 'sqlite':
      return new SqliteDriver(target);
    case 'postgres':
      return new PostgresDriver(target);
    case 'neo4j':
      return new Neo4jDriver(target);
  }
}
