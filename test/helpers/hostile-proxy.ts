/**
 * A hostile or broken host for tests: an HTTP proxy in front of a simulated pool that
 * passes everything through but lets a test change XML-RPC answers (by method name) — what
 * a compromised or buggy XAPI could send. Handler transfers (GET/PUT on other paths) stream
 * through unchanged.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Returns the XML-RPC <value> to answer with instead of XAPI's (sent as a success), or
 * undefined to pass XAPI's answer through.
 */
export type Rewrite = (method: string, requestXml: string, answerXml: string) => string | undefined;

export interface HostileProxy {
  url: string;
  /** XML-RPC method names seen, in order. */
  readonly methods: string[];
  close(): Promise<void>;
}

/** A XenAPI success answer whose Value is the given XML-RPC <value> content. */
export function successAnswer(valueXml: string): string {
  return (
    '<?xml version="1.0"?><methodResponse><params><param><value><struct>' +
    '<member><name>Status</name><value>Success</value></member>' +
    `<member><name>Value</name>${valueXml}</member>` +
    '</struct></value></param></params></methodResponse>'
  );
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export const stringValue = (s: string) => `<value>${escapeXml(s)}</value>`;

/** An XML-RPC struct of strings. */
export function mapValue(map: Record<string, string>): string {
  return `<value><struct>${Object.entries(map)
    .map(([k, v]) => `<member><name>${escapeXml(k)}</name>${stringValue(v)}</member>`)
    .join('')}</struct></value>`;
}

function collect(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

export async function startHostileProxy(upstreamUrl: string, rewrite: Rewrite): Promise<HostileProxy> {
  const upstream = new URL(upstreamUrl);
  const methods: string[] = [];
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse, body?: Buffer) =>
    new Promise<{ status: number; headers: IncomingMessage['headers']; body?: Buffer }>((resolve, reject) => {
      const up = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (ur) => {
          if (body === undefined) {
            // A transfer: stream it straight back.
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(res);
            ur.on('end', () => resolve({ status: ur.statusCode ?? 502, headers: ur.headers }));
            ur.on('error', reject);
            return;
          }
          collect(ur).then((b) => resolve({ status: ur.statusCode ?? 502, headers: ur.headers, body: b }), reject);
        },
      );
      up.on('error', reject);
      if (body === undefined) req.pipe(up);
      else up.end(body);
    });

  const server = createServer((req, res) => {
    void (async () => {
      const isRpc = req.method === 'POST' && (req.url === '/' || req.url === '');
      if (!isRpc) {
        await forward(req, res);
        return;
      }
      const body = await collect(req);
      const xml = body.toString('utf8');
      const method = /<methodName>([^<]*)<\/methodName>/.exec(xml)?.[1] ?? '';
      methods.push(method);
      const answer = await forward(req, res, body);
      const text = answer.body!.toString('utf8');
      const replaced = rewrite(method, xml, text);
      const out = Buffer.from(replaced === undefined ? text : successAnswer(replaced), 'utf8');
      res.writeHead(answer.status, { 'content-type': 'text/xml', 'content-length': String(out.length) });
      res.end(out);
    })().catch(() => res.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    methods,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
