// Which encryption settings apply to a target (its own, else the storage's), and the checks on their files.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { identitiesIn, parseIdentity, parseRecipient } from '../pipeline/age.js';
import type { EncryptionConfig, LifeboatConfig, TargetConfig } from './schema.js';

/** The encryption settings of `target`: its own `encryption`, else the storage's, else none. */
export function encryptionFor(config: LifeboatConfig, target: TargetConfig): EncryptionConfig | undefined {
  return target.encryption ?? config.storage.encryption;
}

/** Reads recipientsFile and identityFile of every encryption section, checking each key; problems go to `issues`. */
export function readEncryptionFiles(config: LifeboatConfig, baseDir: string, issues: string[]): void {
  const sections: [EncryptionConfig | undefined, string][] = [
    [config.storage.encryption, 'storage.encryption'],
    ...config.targets.map((t, i): [EncryptionConfig | undefined, string] => [t.encryption, `targets[${i}].encryption`]),
  ];
  for (const [section, at] of sections) {
    if (section === undefined) continue;
    const read = (file: string, field: string): string | undefined => {
      try {
        return readFileSync(resolve(baseDir, file), 'utf8');
      } catch (error) {
        issues.push(`${at}.${field}: read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
        return undefined;
      }
    };
    if (section.recipientsFile !== undefined) {
      const text = read(section.recipientsFile, 'recipientsFile');
      if (text !== undefined) section.recipients = identitiesIn(text);
    }
    section.recipients?.forEach((recipient, index) => {
      try {
        parseRecipient(recipient);
      } catch (error) {
        issues.push(`${at}.recipients[${index}]: ${(error as Error).message}`);
      }
    });
    if (section.identityFile !== undefined) {
      const text = read(section.identityFile, 'identityFile');
      if (text !== undefined) section.identities = identitiesIn(text);
    }
    section.identities?.forEach((identity, index) => {
      try {
        parseIdentity(identity);
      } catch (error) {
        // The key itself is never shown: only where it is and what is wrong.
        issues.push(`${at}.identityFile: line ${index + 1}: ${(error as Error).message.replace(/\(.*\)/, '').trim()}`);
      }
    });
    if (section.recipients === undefined && section.identities === undefined) {
      issues.push(`${at}: set recipients (or recipientsFile) to encrypt, and identityFile to read encrypted backups`);
    }
  }
  config.targets.forEach((target, index) => {
    const encryption = encryptionFor(config, target);
    if (
      target.drill?.schedule !== undefined &&
      encryption?.recipients !== undefined &&
      encryption.identities === undefined
    ) {
      issues.push(
        `targets[${index}].drill.schedule: drills of an encrypted target need its key: set encryption.identityFile ` +
          '(or run drills from another config that has it)',
      );
    }
  });
}
