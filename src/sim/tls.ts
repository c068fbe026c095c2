/**
 * The simulator's HTTPS certificate: self-signed like a fresh XenServer's, generated once
 * and kept in the state folder so its fingerprint stays the same across restarts (clients
 * that pin it keep working).
 */
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface SimCertificate {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, "AB:CD:…" (what `openssl x509 -fingerprint -sha256` prints). */
  fingerprint: string;
}

export async function loadOrCreateCertificate(stateDir: string, hostname: string): Promise<SimCertificate> {
  const certFile = join(stateDir, 'cert.pem');
  const keyFile = join(stateDir, 'key.pem');
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const notBefore = new Date();
    const notAfter = new Date(notBefore);
    notAfter.setFullYear(notAfter.getFullYear() + 10);
    const pems = await generate([{ name: 'commonName', value: hostname }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate: notBefore,
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'subjectAltName', altNames: [{ type: 2, value: hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
      ],
    });
    cert = pems.cert;
    key = pems.private;
    await writeFile(keyFile, key, { mode: 0o600 });
    await writeFile(certFile, cert, { mode: 0o644 });
  }
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
}
