/** A self-signed certificate for 127.0.0.1, as a fresh XenServer host has one, and its SHA-256 fingerprint. */
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

export async function loopbackCertificate(commonName = 'xenserver-host'): Promise<{ key: string; cert: string; fingerprint: string }> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  return { key: pems.private, cert: pems.cert, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}
