// The age v1 file format (age-encryption.org/v1) with X25519 recipients, as streams over Node's own crypto
// (OpenSSL's ChaCha20-Poly1305, X25519, HKDF, HMAC): any backup opens with the `age` command alone.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { bech32 } from '@scure/base';
import { IntegrityError, LifeboatError } from '../errors.js';

const VERSION_LINE = 'age-encryption.org/v1';
const X25519_LABEL = 'age-encryption.org/v1/X25519';
const CHUNK = 64 * 1024;
const TAG = 16;
/** The longest header Lifeboat reads: many recipients fit, a stream of garbage does not. */
const MAX_HEADER = 64 * 1024;
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** What a manifest records about an encrypted artifact: the format and who can open it, never a key. */
export interface EncryptionInfo {
  readonly format: 'age-v1';
  /** Fingerprints (`sha256:` + 16 hex digits) of the recipients' public keys. */
  readonly recipients: string[];
}

const b64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');
const unb64 = (text: string) => {
  if (!/^[A-Za-z0-9+/]*$/.test(text)) throw new Error('invalid base64');
  return Buffer.from(text, 'base64');
};

/** The 32-byte key of an `age1…` recipient; an error naming the problem otherwise. */
export function parseRecipient(recipient: string): Buffer {
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32.decode(recipient as `${string}1${string}`, 100);
  } catch (error) {
    throw new Error(`not an age X25519 recipient (${(error as Error).message})`);
  }
  const key = Buffer.from(bech32.fromWords(decoded.words));
  if (decoded.prefix !== 'age' || key.length !== 32) throw new Error('not an age X25519 recipient (age1…)');
  return key;
}

/** An `AGE-SECRET-KEY-1…` identity as a private key object, with its public key. */
export function parseIdentity(identity: string): { privateKey: KeyObject; publicKey: Buffer } {
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32.decode(identity.toLowerCase() as `${string}1${string}`, 100);
  } catch (error) {
    throw new Error(`not an age identity (${(error as Error).message})`);
  }
  const scalar = Buffer.from(bech32.fromWords(decoded.words));
  if (decoded.prefix !== 'age-secret-key-' || scalar.length !== 32) {
    throw new Error('not an age X25519 identity (AGE-SECRET-KEY-1…)');
  }
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, scalar]), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: rawPublic(createPublicKey(privateKey)) };
}

/** The identities in an age identity file's text (one per line; blank lines and # comments skipped). */
export function identitiesIn(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** The public recipient of an identity (what `age-keygen -y` prints). */
export function recipientOf(identity: string): string {
  return bech32.encode('age', bech32.toWords(parseIdentity(identity).publicKey), 100);
}

/** A short, stable name of a public key for manifests and messages. */
export function fingerprint(recipient: string): string {
  return `sha256:${createHash('sha256').update(parseRecipient(recipient)).digest('hex').slice(0, 16)}`;
}

function rawPublic(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url');
}

function publicKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function hkdf(ikm: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

function seal(key: Buffer, nonce: Buffer, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function open(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < TAG) return undefined;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG)), decipher.final()]);
  } catch {
    return undefined;
  }
}

function chunkNonce(counter: bigint, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(counter, 3);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Header lines of one stanza body: base64 wrapped at 64 columns, the last line always shorter. */
function wrapBody(body: Buffer): string {
  const text = b64(body);
  const lines: string[] = [];
  for (let at = 0; at <= text.length; at += 64) lines.push(text.slice(at, at + 64));
  return lines.join('\n');
}

/** The header of a new file for `recipients`, and the payload key behind it. */
function newHeader(recipients: readonly string[]): { header: Buffer; fileKey: Buffer } {
  const fileKey = randomBytes(16);
  let text = `${VERSION_LINE}\n`;
  for (const recipient of recipients) {
    const theirs = parseRecipient(recipient);
    const ephemeral = generateKeyPairSync('x25519');
    const share = rawPublic(ephemeral.publicKey);
    const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: publicKeyObject(theirs) });
    const wrapKey = hkdf(shared, Buffer.concat([share, theirs]), X25519_LABEL);
    text += `-> X25519 ${b64(share)}\n${wrapBody(seal(wrapKey, Buffer.alloc(12), fileKey))}\n`;
  }
  text += '---';
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(text)
    .digest();
  return { header: Buffer.from(`${text} ${b64(mac)}\n`), fileKey };
}

/**
 * Encrypts a stream for `recipients` (age1… public keys): the header, a 16-byte nonce, then 64 KiB chunks.
 * One chunk is held back until the next arrives, since the last one is marked as such.
 */
export class AgeEncrypter extends Transform {
  #payloadKey: Buffer | undefined;
  /** The chunk being filled: sealed once it is full and more bytes follow (only then is it not the last). */
  readonly #chunk = Buffer.allocUnsafe(CHUNK);
  #filled = 0;
  #counter = 0n;
  readonly #recipients: readonly string[];

  constructor(recipients: readonly string[]) {
    super();
    if (recipients.length === 0) throw new Error('age: no recipients');
    this.#recipients = recipients;
  }

  #start(): void {
    if (this.#payloadKey !== undefined) return;
    const { header, fileKey } = newHeader(this.#recipients);
    const nonce = randomBytes(16);
    this.#payloadKey = hkdf(fileKey, nonce, 'payload');
    this.push(Buffer.concat([header, nonce]));
  }

  #seal(last: boolean): void {
    const cipher = createCipheriv('chacha20-poly1305', this.#payloadKey as Buffer, chunkNonce(this.#counter, last), {
      authTagLength: TAG,
    });
    const body = cipher.update(this.#chunk.subarray(0, this.#filled));
    cipher.final();
    this.push(Buffer.concat([body, cipher.getAuthTag()], body.length + TAG));
    this.#counter += 1n;
    this.#filled = 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#start();
    let at = 0;
    while (at < chunk.length) {
      if (this.#filled === CHUNK) this.#seal(false);
      const taken = chunk.copy(this.#chunk, this.#filled, at, Math.min(chunk.length, at + CHUNK - this.#filled));
      this.#filled += taken;
      at += taken;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.#start();
    this.#seal(true);
    callback();
  }
}

/** Which identity opens a header, and the file key; undefined when none of `identities` is a recipient. */
function unwrapHeader(header: string, identities: readonly { privateKey: KeyObject; publicKey: Buffer }[]) {
  const lines = header.split('\n');
  if (lines[0] !== VERSION_LINE) throw new IntegrityError(`age: not an age v1 file (first line "${lines[0]}")`);
  const macLine = lines.at(-1) ?? '';
  if (!macLine.startsWith('--- ')) throw new IntegrityError('age: header has no MAC line');
  const stanzas: { type: string; args: string[]; body: Buffer }[] = [];
  let index = 1;
  while (index < lines.length - 1) {
    const head = lines[index] ?? '';
    if (!head.startsWith('-> ')) throw new IntegrityError('age: malformed header');
    const [type = '', ...args] = head.slice(3).split(' ');
    let body = '';
    for (index += 1; index < lines.length - 1; index += 1) {
      const line = lines[index] ?? '';
      body += line;
      if (line.length < 64) break;
    }
    index += 1;
    stanzas.push({ type, args, body: unb64(body) });
  }
  for (const stanza of stanzas) {
    if (stanza.type !== 'X25519' || stanza.args.length !== 1) continue;
    const share = unb64(stanza.args[0] ?? '');
    if (share.length !== 32 || stanza.body.length !== 32) throw new IntegrityError('age: malformed X25519 stanza');
    for (const identity of identities) {
      const shared = diffieHellman({ privateKey: identity.privateKey, publicKey: publicKeyObject(share) });
      const wrapKey = hkdf(shared, Buffer.concat([share, identity.publicKey]), X25519_LABEL);
      const fileKey = open(wrapKey, Buffer.alloc(12), stanza.body);
      if (fileKey === undefined) continue;
      const text = header.slice(0, header.length - macLine.length + 3);
      const expected = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
        .update(text)
        .digest();
      const given = unb64(macLine.slice(4));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new IntegrityError('age: the header MAC does not match (the header was changed)');
      }
      return fileKey;
    }
  }
  return undefined;
}

/**
 * Decrypts an age v1 stream with any of `identities`. Fails, never passing on an unproven byte, when no
 * identity opens it, when a chunk was changed, or when the stream ends early (a truncated file).
 */
export class AgeDecrypter extends Transform {
  readonly #identities: { privateKey: KeyObject; publicKey: Buffer }[];
  #buffer: Buffer = Buffer.alloc(0);
  #payloadKey: Buffer | undefined;
  #counter = 0n;
  #sawLast = false;

  constructor(identities: readonly string[]) {
    super();
    this.#identities = identities.map((identity) => parseIdentity(identity));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    try {
      if (this.#payloadKey === undefined && !this.#readHeader()) {
        callback();
        return;
      }
      // A sealed chunk is CHUNK + TAG bytes; one is kept back until more arrive, for the last-chunk flag.
      while (this.#buffer.length > CHUNK + TAG) {
        this.#openChunk(this.#buffer.subarray(0, CHUNK + TAG), false);
        this.#buffer = this.#buffer.subarray(CHUNK + TAG);
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.#payloadKey === undefined) throw new IntegrityError('age: the file ends inside its header (truncated)');
      this.#openChunk(this.#buffer, true);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  /** Reads the header and nonce once they are complete; false while more bytes are needed. */
  #readHeader(): boolean {
    const end = this.#buffer.indexOf('\n--- ');
    const lineEnd = end < 0 ? -1 : this.#buffer.indexOf('\n', end + 1);
    if (lineEnd < 0 || this.#buffer.length < lineEnd + 1 + 16) {
      if (this.#buffer.length > MAX_HEADER) throw new IntegrityError('age: no header end within 64 KiB');
      return false;
    }
    const header = this.#buffer.subarray(0, lineEnd).toString('latin1');
    const fileKey = unwrapHeader(header, this.#identities);
    if (fileKey === undefined) {
      throw new LifeboatError('DECRYPT_KEY', 'age: none of the identities given opens this file', {
        hint: 'add the key this backup was encrypted for to encryption.identityFile (old keys stay there after a rotation)',
      });
    }
    const nonce = this.#buffer.subarray(lineEnd + 1, lineEnd + 17);
    this.#payloadKey = hkdf(fileKey, nonce, 'payload');
    this.#buffer = this.#buffer.subarray(lineEnd + 17);
    return true;
  }

  #openChunk(sealed: Buffer, last: boolean): void {
    if (this.#sawLast) throw new IntegrityError('age: data after the last chunk');
    const key = this.#payloadKey as Buffer;
    const plain = open(key, chunkNonce(this.#counter, last), sealed);
    if (plain === undefined) {
      // Not the last chunk by its flag, and the stream ended: the file was cut short.
      if (last && open(key, chunkNonce(this.#counter, false), sealed) !== undefined) {
        throw new IntegrityError('age: the file ends before its last chunk (truncated)');
      }
      throw new IntegrityError(`age: chunk ${this.#counter} does not authenticate (the ciphertext was changed)`);
    }
    if (last && plain.length === 0 && this.#counter > 0n) throw new IntegrityError('age: empty last chunk');
    this.#sawLast = last;
    this.#counter += 1n;
    this.push(plain);
  }
}
