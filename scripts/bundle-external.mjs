// The packages the `lifeboat` bundle loads from node_modules instead of carrying them: native add-ons
// (better-sqlite3; dockerode's ssh2) and the Neo4j driver. scripts/bundle.mjs leaves them out of the bundle;
// scripts/image-modules.mjs keeps them, and only them with what they need, in the container image.
export const EXTERNAL = ['better-sqlite3', 'dockerode', 'neo4j-driver'];
