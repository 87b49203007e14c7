// A self-signed certificate for 127.0.0.1, made with openssl, for tests of TLS endpoints (MinIO, /metrics).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Writes a certificate and its key into `dir` and returns their paths; the certificate is its own CA. */
export function selfSignedCert(
  dir: string,
  certName = 'cert.pem',
  keyName = 'key.pem',
): { certFile: string; keyFile: string } {
  const certFile = join(dir, certName);
  const keyFile = join(dir, keyName);
  const subject = ['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'];
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', ...subject];
  execFileSync('openssl', [...args, '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  return { certFile, keyFile };
}
