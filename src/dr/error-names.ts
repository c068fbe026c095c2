/**
 * XAPI names the objects in an error by reference (VM_BAD_POWER_STATE, VM_TO_IMPORT_IS_NOT_NEWER_VERSION,
 * DUPLICATE_VM … all carry a VM's OpaqueRef), which tells an operator nothing. Before such an
 * error becomes operator text, each VM reference in it is replaced by the VM's name and uuid,
 * read from the pool. The error's params as XAPI sent them stay where exact values are
 * wanted (--json); a reference that is not a VM (or gone meanwhile) becomes "an object of this
 * pool", so a bare OpaqueRef never reaches the operator.
 */
import { VM, XenApiError, type Session } from '../xenapi/index.js';

const OPAQUE_REF = /^OpaqueRef:[0-9A-Za-z-]+$/;

/** At most this many references are looked up per error (XAPI's carry one or two). */
const MAX_LOOKUPS = 4;

/** `err` with its object references named; any other value unchanged. */
export async function withNamedRefs(session: Session, err: unknown, signal?: AbortSignal): Promise<unknown> {
  if (!(err instanceof XenApiError) || !err.params.some((p) => OPAQUE_REF.test(p))) return err;
  let looked = 0;
  const params = await Promise.all(
    err.params.map(async (p) => {
      if (!OPAQUE_REF.test(p)) return p;
      if (looked++ >= MAX_LOOKUPS) return 'an object of this pool';
      try {
        const vm = await VM.getRecord(session, p, signal ? { signal } : undefined);
        // Host text like any XAPI param: the sinks that print errors make it safe.
        return `"${vm.name_label}" (${vm.uuid})`;
      } catch {
        return 'an object of this pool';
      }
    }),
  );
  return new XenApiError([err.code, ...params], err.method, { cause: err });
}
