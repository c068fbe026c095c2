/** The parts of Xen Orchestra's `xen-api` npm client (JavaScript, no types) the interop test uses. */
declare module 'xen-api' {
  import type { EventEmitter } from 'node:events';

  export interface XapiObject {
    readonly $type: string;
    readonly $ref: string;
    readonly $id: string;
    readonly [field: string]: unknown;
  }

  export interface XapiError extends Error {
    code: string;
    params: string[];
  }

  export interface XapiResponse {
    statusCode: number;
    body: { arrayBuffer(): Promise<ArrayBuffer> };
    task?: Promise<unknown>;
  }

  export class Xapi extends EventEmitter {
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    readonly status: 'connected' | 'connecting' | 'disconnected';
    readonly pool: XapiObject;
    readonly objects: { readonly all: Record<string, XapiObject> };
    readonly objectsFetched: Promise<void>;
    call(method: string, ...args: unknown[]): Promise<unknown>;
    callAsync(method: string, ...args: unknown[]): Promise<unknown>;
    getObjectByRef(ref: string, defaultValue?: unknown): XapiObject | undefined;
    getResource(pathname: string, opts?: { query?: Record<string, string>; task?: boolean | string }): Promise<XapiResponse>;
    putResource(body: Buffer, pathname: string, opts?: { query?: Record<string, string>; task?: boolean | string }): Promise<unknown>;
    barrier(ref?: string): Promise<XapiObject | undefined>;
  }

  export function createClient(opts: {
    url: string;
    auth: { user: string; password: string };
    allowUnauthorized?: boolean;
    transport?: 'auto' | 'json-rpc' | 'xml-rpc';
    watchEvents?: boolean | string[];
    debounce?: number;
    eventPollDelay?: number;
  }): Xapi;
}
