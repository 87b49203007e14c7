// A full garbage collection on demand, for tests of memory given back before the collector would free it.
import { collectGarbage as collect } from '../../src/memory.js';

/** Runs a full garbage collection to its end, now. */
export function collectGarbage(): void {
  collect('sync');
}
