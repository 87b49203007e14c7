// Memory given back when the program knows it is free, not when the garbage collector next finds it so.

/**
 * Frees the memory of a buffer that owns its whole ArrayBuffer (Buffer.allocUnsafeSlow) at once: the
 * ArrayBuffer is detached (ArrayBuffer.prototype.transfer), and every view of it reads as empty from then on.
 * Only for a buffer nothing reads any more, native code included (a write still on its way, a compressor).
 */
export function releaseNow(buffer: Buffer): void {
  (buffer.buffer as ArrayBuffer).transfer(0);
}
