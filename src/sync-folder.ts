// Durability of renames: a file renamed into place survives a crash only once its folder is synced too.
import { open } from 'node:fs/promises';

/** fsync of a folder, after a rename into it. */
export async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
