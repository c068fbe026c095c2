/**
 * What XAPI's error codes and the transport's failures mean to an operator, and what to do
 * next. The protocol layer only carries code and params; this is the text. Only XAPI's own
 * params are interpolated (they never contain the password we sent: errors redact it).
 */
import type { TransportError, XenApiError } from '../xenapi/index.js';
import type { ErrorExplanation } from './expected.js';

type Explainer = (p: (i: number) => string, params: string[]) => { meaning: string; nextStep: string };

const IMPORT_DAMAGED = 'The backup may be damaged or incomplete: try an older backup from the list.';

const XENAPI_TEXT: Record<string, Explainer> = {
  SESSION_AUTHENTICATION_FAILED: (p) => ({
    meaning: `The pool refused the login${p(0) ? ` for user "${p(0)}"` : ''}: wrong user name or password${p(1) ? ` (${p(1)})` : ''}.`,
    nextStep: 'Check the user name and password and log in again (XAPI answers wrong passwords slowly on purpose).',
  }),
  SESSION_AUTHORIZATION_FAILED: (p) => ({
    meaning: `User "${p(0)}" was authenticated but has no role in this pool${p(1) ? ` (${p(1)})` : ''}.`,
    nextStep: 'Log in as root, or ask the pool administrator to give this user the Pool Admin role.',
  }),
  HOST_IS_SLAVE: (p) => ({
    meaning: `This host is a pool member, not the pool coordinator; the coordinator is ${p(0) || 'another host'}.`,
    nextStep: `Connect to ${p(0) || 'the pool coordinator'} instead.`,
  }),
  SESSION_INVALID: () => ({
    meaning: 'The login session is no longer valid (logged out, XAPI restarted, or idle for 24 hours).',
    nextStep: 'Log in again.',
  }),
  HANDLE_INVALID: (p) => ({
    meaning: `The ${p(0) || 'object'} the console referred to no longer exists (${p(1)}).`,
    nextStep: 'Read the list again and retry; someone may have removed it meanwhile.',
  }),
  UUID_INVALID: (p) => ({
    meaning: `There is no ${p(0) || 'object'} with UUID ${p(1)} in this pool.`,
    nextStep: 'Check the UUID, or read the list again and choose again.',
  }),
  OPERATION_NOT_ALLOWED: (p) => ({
    meaning: `XAPI does not allow this operation now${p(0) ? `: ${p(0)}` : ''}.`,
    nextStep: 'Check the state of the object (power state, attached disks) and retry.',
  }),
  OTHER_OPERATION_IN_PROGRESS: (p) => ({
    meaning: `Another operation${p(2) ? ` (${p(2)})` : ''} is running on ${p(0) || 'the object'} ${p(1)}.`,
    nextStep: 'Wait for that operation to finish, then retry.',
  }),
  VM_BAD_POWER_STATE: (p) => ({
    meaning: `VM ${p(0)} is ${p(2) || 'in the wrong power state'}, but this needs it ${p(1) || 'in another state'}.`,
    nextStep: `Change the VM's power state (e.g. shut it down) and retry.`,
  }),
  VDI_IN_USE: (p) => ({
    meaning: `Disk ${p(0)} is in use${p(1) ? ` (operation ${p(1)})` : ''}.`,
    nextStep: 'Detach the disk from whatever uses it, or wait for the other operation, then retry.',
  }),
  VDI_READONLY: (p) => ({
    meaning: `Disk ${p(0)} is read-only and cannot be attached for writing.`,
    nextStep: 'Use a writable disk, or attach this one read-only.',
  }),
  SR_FULL: (p) => ({
    meaning: `The storage repository is full: ${p(0)} bytes requested, at most ${p(1)} available.`,
    nextStep: 'Free space on the SR or choose another SR.',
  }),
  SR_NO_PBDS: (p) => ({
    meaning: `Storage repository ${p(0)} is not attached to the pool coordinator.`,
    nextStep: 'Repair the SR (plug its PBD on the coordinator) or choose another SR.',
  }),
  DEVICE_ALREADY_ATTACHED: (p) => ({
    meaning: `Device ${p(0)} is already attached.`,
    nextStep: 'Nothing to do for this device; detach it first if a fresh attach was intended.',
  }),
  DEVICE_ALREADY_DETACHED: (p) => ({
    meaning: `Device ${p(0)} is already detached.`,
    nextStep: 'Nothing to do for this device.',
  }),
  DEVICE_DETACH_REJECTED: (p) => ({
    meaning: `The control domain refused to detach ${p(0)} ${p(1)}: the device is busy${p(2) ? ` (${p(2)})` : ''}.`,
    nextStep: 'Make sure nothing still uses the disk (unmount it), then retry.',
  }),
  DEVICE_ALREADY_EXISTS: (p) => ({
    meaning: `Virtual device position ${p(0)} is already taken.`,
    nextStep: 'Retry; the console picks a free device position.',
  }),
  TASK_CANCELLED: () => ({
    meaning: 'The operation was cancelled before it finished.',
    nextStep: 'Start it again when ready.',
  }),
  RBAC_PERMISSION_DENIED: (p) => ({
    meaning: `Your role does not allow ${p(0) || 'this operation'}${p(1) ? ` (${p(1)})` : ''}.`,
    nextStep: 'Log in as root or as a user with the Pool Admin role.',
  }),
  IMPORT_INCOMPATIBLE_VERSION: () => ({
    meaning: 'The backup was written by a newer XAPI than this pool runs.',
    nextStep: 'Restore onto a pool at the same or a newer version, or update this pool first.',
  }),
  VDI_LOCATION_MISSING: (p) => ({
    meaning: `A disk the VM needs (location ${p(1)}) is not in storage repository ${p(0)}.`,
    nextStep:
      'Restore onto the SR that holds the VM disks (rescan it first), check with a dry run, or force the restore to skip missing disks.',
  }),
  VDI_CONTENT_ID_MISSING: () => ({
    meaning: 'A disk recorded in the backup (by content id) was not found in this pool.',
    nextStep: 'Rescan the SR holding the VM disks and retry, or force the restore to skip missing disks.',
  }),
  VM_TO_IMPORT_IS_NOT_NEWER_VERSION: (p) => ({
    meaning: `VM ${p(0)} already exists here in version ${p(1)}, not older than the backup's ${p(2)}.`,
    nextStep: 'Nothing to restore for this VM; delete the existing VM first if the backup must win.',
  }),
  DUPLICATE_VM: (p) => ({
    meaning: `VM ${p(0)} in this pool has the same identity (MAC seed) as the VM being restored.`,
    nextStep: 'The VM is probably already here under another uuid: remove the duplicate or skip this VM.',
  }),
  DUPLICATE_MAC_SEED: (p) => ({
    meaning: `Another VM in this pool already uses MAC seed ${p(0)} (the VM may already have been restored).`,
    nextStep: 'Remove the duplicate VM, or restore without preserving identities.',
  }),
  IMPORT_ERROR_FAILED_TO_FIND_OBJECT: (p) => ({
    meaning: `The backup refers to object ${p(0)} which it does not contain.`,
    nextStep: IMPORT_DAMAGED,
  }),
  IMPORT_ERROR_ATTACHED_DISKS_NOT_FOUND: () => ({
    meaning: 'The VM was running when backed up and one of its attached disks is not in this pool.',
    nextStep: 'Attach the SR holding that disk and restore again (forcing does not skip disks that were attached).',
  }),
  IMPORT_ERROR_UNEXPECTED_FILE: (p) => ({
    meaning: `The backup archive holds "${p(1)}" where "${p(0)}" was expected.`,
    nextStep: IMPORT_DAMAGED,
  }),
  IMPORT_ERROR_PREMATURE_EOF: () => ({
    meaning: 'The backup archive ended early (it is truncated).',
    nextStep: IMPORT_DAMAGED,
  }),
  IMPORT_ERROR_SOME_CHECKSUMS_FAILED: () => ({
    meaning: 'Checksums in the archive did not match: the data is corrupted.',
    nextStep: IMPORT_DAMAGED,
  }),
  IMPORT_ERROR_CANNOT_HANDLE_CHUNKED: () => ({
    meaning: 'XAPI cannot read an upload sent with chunked transfer encoding.',
    nextStep: 'This is a program error; please report it.',
  }),
  IMPORT_ERROR: (p) => ({
    meaning: `XAPI could not import the backup${p(0) ? `: ${p(0)}` : ''}.`,
    nextStep: IMPORT_DAMAGED,
  }),
  VDI_MISSING: (p) => ({
    meaning: `Disk ${p(1) || p(0)} was not found.`,
    nextStep: 'Read the list again and retry; rescan the SR if the disk should exist.',
  }),
  VDI_IO_ERROR: (p) => ({
    meaning: `Reading or writing the disk failed${p(0) ? `: ${p(0)}` : ''}.`,
    nextStep: 'Check the storage repository health and retry.',
  }),
  MESSAGE_METHOD_UNKNOWN: (p) => ({
    meaning: `This pool's XAPI does not know the call ${p(0)}.`,
    nextStep: 'The pool is older (or newer) than this console expects; check the supported versions.',
  }),
  MESSAGE_PARAMETER_COUNT_MISMATCH: (p) => ({
    meaning: `The call ${p(0)} was sent with ${p(2)} parameters, XAPI expects ${p(1)}.`,
    nextStep: 'The pool version differs from what this console expects; please report it.',
  }),
  // Placement (xen-api ocaml/xapi/xapi_vm_helpers.ml): NO_HOSTS_AVAILABLE loses the reason,
  // which each host's VM.assert_can_boot_here gives back (shown beside it where known).
  NO_HOSTS_AVAILABLE: () => ({
    meaning: 'No host of the pool can start this VM now (XAPI does not say why; each host\'s own reason is listed where it was asked).',
    nextStep: 'Remove the reason a host gives (free memory, plug the SR, connect the network, enable the host), then start the VM again.',
  }),
  HOST_NOT_ENOUGH_FREE_MEMORY: (p) => ({
    meaning: `The host has not enough free memory for this VM${p(0) && p(1) ? ` (needed ${p(0)}, free ${p(1)}, as XAPI counts them)` : ''}.`,
    nextStep: 'Shut down or move other VMs, or lower this VM\'s memory, then start it again.',
  }),
  VM_REQUIRES_SR: (p) => ({
    meaning: `VM ${p(0)} needs storage repository ${p(1)}, which this host cannot see (not plugged here).`,
    nextStep: 'Plug the SR on the host (repair it), or move the VM\'s disks, then start the VM again.',
  }),
  VM_REQUIRES_NETWORK: (p) => ({
    meaning: `VM ${p(0)} needs network ${p(1)}, which this host has no interface on.`,
    nextStep: 'Connect the network on the host, or move the VM\'s interface to another network, then start it again.',
  }),
  HOST_DISABLED: (p) => ({
    meaning: `Host ${p(0)} is disabled (maintenance mode) and starts no VMs.`,
    nextStep: 'Enable the host (xe host-enable), or start the VM elsewhere.',
  }),
  HOST_NOT_LIVE: (p) => ({
    meaning: `Host ${p(0)} is not live (down or unreachable).`,
    nextStep: 'Bring the host back, or start the VM on another host.',
  }),
  HOST_NOT_ENOUGH_PCPUS: (p) => ({
    meaning: `The VM has ${p(0)} vCPUs, more than the host's ${p(1)} physical CPUs.`,
    nextStep: 'Lower the VM\'s vCPUs (VCPUs_max), or start it on a larger host.',
  }),
  INTERNAL_ERROR: (p) => ({
    meaning: `XAPI hit an internal error${p(0) ? `: ${p(0)}` : ''}.`,
    nextStep: 'Retry; if it repeats, look at /var/log/xensource.log on the pool coordinator.',
  }),
};

/**
 * SR_BACKEND_FAILURE_<n>: the storage manager's own failure, numbered as in its error table
 * (XE_SR_ERRORCODES.xml; 46 is "The VDI is not available"); of its params, some are often empty.
 */
const SR_BACKEND_FAILURE = /^SR_BACKEND_FAILURE(_\d+)?$/;

export function explainXenApiError(err: XenApiError): ErrorExplanation {
  const p = (i: number) => err.params[i] ?? '';
  const text = XENAPI_TEXT[err.code];
  if (text) return { code: err.code, ...text(p, err.params) };
  if (SR_BACKEND_FAILURE.test(err.code)) {
    const said = err.params.filter((x) => x.trim() !== '');
    const method = err.method?.replace(/^Async\./, '');
    return {
      code: err.code,
      meaning: `The storage repository's backend refused ${method || 'the operation'}${said.length ? `: ${said.join('; ')}` : ''}.`,
      nextStep: 'Check the SR on the pool coordinator (is it plugged, is the disk used by another host; /var/log/SMlog), then retry.',
    };
  }
  return {
    code: err.code,
    meaning: `XAPI reported ${err.code}${err.params.length ? ` [${err.params.join(', ')}]` : ''}${err.method ? ` for ${err.method}` : ''}.`,
    nextStep: 'Retry; if it repeats, look the code up in the XenAPI documentation or /var/log/xensource.log.',
  };
}

/** "host:port" of a printable target, or the target itself. */
function hostOf(target: string): string {
  try {
    return new URL(target).host || target;
  } catch {
    return target;
  }
}

export function explainTransportError(err: TransportError): ErrorExplanation {
  const where = err.target ?? 'the host';
  const code = `TRANSPORT_${err.kind.toUpperCase().replace(/-/g, '_')}`;
  switch (err.kind) {
    case 'connection-refused':
      return {
        code,
        meaning: `Nothing accepts connections at ${where}.`,
        nextStep: 'Check the address and port, and that XAPI runs on the host (xe-toolstack-restart restarts it).',
      };
    case 'connection-reset':
      return {
        code,
        meaning: `The connection to ${where} was dropped before the answer was complete.`,
        nextStep: 'Retry; if it repeats, check the network and whether XAPI restarted.',
      };
    case 'unreachable':
      return { code, meaning: `${where} cannot be reached.`, nextStep: 'Check the address and the network path to the host.' };
    case 'dns':
      return { code, meaning: `The host name in ${where} cannot be resolved.`, nextStep: 'Check the spelling, or use the IP address.' };
    case 'timeout':
      return {
        code,
        meaning: `${err.message}${err.detail ? ` (${err.detail})` : ''}.`,
        nextStep: 'The host stopped answering or sent too slowly: check the network path and the load on the pool coordinator, then retry.',
      };
    case 'tls-untrusted':
      return {
        code,
        meaning: `The certificate presented by ${where} is not trusted${err.detail ? ` (${err.detail})` : ''}; XenServer hosts use a self-signed certificate by default.`,
        nextStep: "Compare the host's SHA-256 fingerprint out of band and pin it, or connect without verification knowingly.",
      };
    case 'tls-hostname':
      return {
        code,
        meaning: `The certificate presented by ${where} names another host.`,
        nextStep: 'Connect using the name in the certificate, or pin its fingerprint after checking it.',
      };
    case 'tls-fingerprint-mismatch':
      return {
        code,
        meaning: `The certificate presented by ${where} does not match the pinned fingerprint${err.detail ? ` (it presents ${err.detail})` : ''}. The connection was refused before anything was sent.`,
        nextStep:
          "Check the fingerprint on the host (openssl x509 -noout -fingerprint -sha256 -in /etc/xensource/xapi-ssl.pem); pin the new one only if it is genuinely the host's.",
      };
    case 'tls':
      return { code, meaning: `The TLS handshake with ${where} failed${err.detail ? ` (${err.detail})` : ''}.`, nextStep: 'Check that the URL uses the right scheme and port.' };
    case 'unauthorized':
      return { code, meaning: `${where} refused the transfer: the session is no longer valid (HTTP 401).`, nextStep: 'Log in again and retry.' };
    case 'forbidden':
      return { code, meaning: `${where} refused the transfer (HTTP 403): the role does not allow it.`, nextStep: 'Log in as root or as a user with the Pool Admin role.' };
    case 'http-status':
      return {
        code,
        meaning: `${where} answered HTTP ${err.status ?? '?'}${err.detail ? ` (${err.detail})` : ''}.`,
        nextStep: 'Retry; if it repeats, look at /var/log/xensource.log on the pool coordinator.',
      };
    case 'protocol':
      return {
        code,
        meaning: `${where} did not answer like a XenServer / XCP-ng host${err.detail ? ` (${err.detail})` : ''}.`,
        nextStep: 'Check the URL points at the pool coordinator (not a proxy or another service).',
      };
    case 'too-large':
      return {
        code,
        meaning: `${err.message}${err.detail ? ` (${err.detail})` : ''}: refused, it is larger than this program accepts from a host.`,
        nextStep: 'Check that the URL points at a XenServer / XCP-ng pool coordinator and retry; if it does, report it with the pool size.',
      };
    case 'redirect-refused': {
      const host = hostOf(where);
      return {
        code,
        meaning: `${err.message}.`,
        nextStep: `If ${host} is a host of this pool, run the command against it (--host https://${host} with its certificate verified or pinned); otherwise check what answers at the address given with --host.`,
      };
    }
    case 'socket':
      return { code, meaning: err.message, nextStep: 'Retry; check the network.' };
  }
}
