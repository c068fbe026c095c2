/**
 * The simulator's local UNIX socket, a host's /var/lib/xcp/xapi: where it goes, and taking its
 * path over from a simulator that was killed. XAPI removes whatever is at its socket path
 * before binding (xen-api ocaml/xapi/xapi.ml listen_unix_socket); a simulator shares no
 * systemd unit to keep it single, so it removes only a socket nobody answers on, and refuses
 * a live one or a file that is not a socket.
 */
import { lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';

/** Under the state folder, named as XAPI's own (/var/lib/xcp/xapi). */
export const LOCAL_SOCKET_FILE = 'xapi';

/**
 * Linux keeps a socket path in 108 bytes with its terminating NUL; Node cuts a longer one
 * silently and listens somewhere else.
 */
export const MAX_SOCKET_PATH_BYTES = 107;

function answers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

/** Makes `path` free to listen on, or throws saying why it cannot be. */
export async function claimSocketPath(path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`the local socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes: give a shorter one (sim --socket PATH)`);
  }
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket: the simulator will not replace it`);
  if (await answers(path)) throw new Error(`another process is serving ${path} (a simulator on the same state folder?)`);
  // Left by a simulator that was killed: nobody listens on it.
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
