/**
 * A hostile host in front of a real simulated pool: a plain node:http (or https) server on
 * loopback that forwards every request to the simulator, except those a test takes over —
 * an XML-RPC call by method name, or an HTTP handler by path — which it answers like a
 * broken or malicious XAPI would (an echoed password, an endless body, a redirect).
 * It counts TCP connections, so a test can tell that a client sent nothing at all.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export type RpcTakeover = (res: http.ServerResponse, call: { method: string; body: string }) => void;
export type HandlerTakeover = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;

export interface HostileFront {
  url: string;
  port: number;
  /** XML-RPC or JSON-RPC (POST /jsonrpc) method name → the hostile answer (others are forwarded). */
  rpc: Map<string, RpcTakeover>;
  /** HTTP handler path → the hostile answer (others are forwarded). */
  handlers: Map<string, HandlerTakeover>;
  /** Methods of the XML-RPC and JSON-RPC calls seen, in order. */
  methods: string[];
  /** The path each of those calls was posted to (`/jsonrpc` for JSON-RPC). */
  paths: string[];
  connections: number;
  close(): Promise<void>;
}

const XML_HEAD = '<?xml version="1.0"?><methodResponse><params><param>';
const XML_TAIL = '</param></params></methodResponse>';

/** XAPI's Failure envelope (strings escaped as XAPI's writer does). */
export function failureAnswer(description: string[]): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const values = description.map((d) => `<value>${esc(d)}</value>`).join('');
  return `${XML_HEAD}<value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>${values}</data></array></value></member></struct></value>${XML_TAIL}`;
}

/** The start of a Success envelope whose Value is still open: the caller streams the rest. */
export const SUCCESS_OPEN = `${XML_HEAD}<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>`;

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An XML-RPC string <value>. */
export const stringValue = (s: string) => `<value>${escapeXml(s)}</value>`;

/** An XML-RPC struct of strings. */
export function mapValue(map: Record<string, string>): string {
  return `<value><struct>${Object.entries(map)
    .map(([k, v]) => `<member><name>${escapeXml(k)}</name>${stringValue(v)}</member>`)
    .join('')}</struct></value>`;
}

/** Takes a call over with a success whose Value is `valueXml` (a lying answer). */
export function answerWith(valueXml: string): RpcTakeover {
  return (res) => {
    const body = `${XML_HEAD}<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>${valueXml}</member></struct></value>${XML_TAIL}`;
    res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

/**
 * Writes `piece()` to `res` for ever (with back-pressure), until the client hangs up.
 * The answer that never ends: what a size limit must cut.
 */
export function endless(res: http.ServerResponse, head: string, piece: () => string | Buffer): void {
  res.writeHead(200, { 'content-type': 'text/xml' });
  res.write(head);
  const pump = () => {
    while (!res.destroyed && res.write(piece())) {
      /* keep writing until the socket pushes back */
    }
  };
  res.on('drain', pump);
  pump();
}

/** The method of a JSON-RPC request ('' when the body is not one). */
function jsonMethod(body: Buffer): string {
  try {
    const m = (JSON.parse(body.toString('utf8')) as { method?: unknown }).method;
    return typeof m === 'string' ? m : '';
  } catch {
    return '';
  }
}

export async function startHostileFront(upstream: string, opts: { tls?: { key: string; cert: string } } = {}): Promise<HostileFront> {
  const up = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  const front: Omit<HostileFront, 'url' | 'port' | 'close'> = { rpc: new Map(), handlers: new Map(), methods: [], paths: [], connections: 0 };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer) => {
    const out = http.request(
      { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
    if (body) out.end(body);
    else req.pipe(out);
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://front');
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const method = /<methodName>([^<]*)<\/methodName>/.exec(body.toString('utf8'))?.[1] ?? (url.pathname === '/jsonrpc' ? jsonMethod(body) : '');
        front.methods.push(method);
        front.paths.push(url.pathname);
        const takeover = front.rpc.get(method);
        if (takeover) takeover(res, { method, body: body.toString('utf8') });
        else forward(req, res, body);
      });
      return;
    }
    const takeover = front.handlers.get(url.pathname);
    if (takeover) takeover(req, res, url);
    else forward(req, res);
  };

  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    front.connections++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(front, {
    port,
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    async close() {
      for (const s of sockets) s.destroy();
      server.closeAllConnections?.();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/** A plain http server that only counts who reaches it (and answers 200 ''). */
export async function startCountingServer(): Promise<{ url: string; port: number; connections: () => number; requests: () => number; close(): Promise<void> }> {
  let connections = 0;
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    res.end();
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: () => connections,
    requests: () => requests,
    async close() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
