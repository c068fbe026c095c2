/** A tar holding one file, as /export_metadata makes a .vmmeta (tests craft their own with it). */
import { pack } from 'tar-stream';

export function tarOf(name: string, body: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const t = pack();
    const parts: Buffer[] = [];
    t.on('data', (c: unknown) => {
      parts.push(c as Buffer);
    });
    t.on('end', () => resolve(Buffer.concat(parts)));
    t.on('error', reject);
    t.entry({ name }, body);
    t.finalize();
  });
}
