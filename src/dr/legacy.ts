/**
 * The classic path of XenServer 4.1 days, before the backup VDI existed: VM metadata
 * exported to plain numbered files and imported back from them (xen-api
 * ocaml/xapi-cli-server/cli_operations.ml).
 *  - export: `xe vm-export --multiple metadata=true filename=F` numbering: F, F2, F3, …;
 *    each VM takes the next number when its export starts, so a failed VM leaves a gap;
 *    selectors never match templates, snapshots or the control domain.
 *  - import: F, F2, F3, … until the next one is missing (the importscript.sh loop), each
 *    through /import_metadata (new uuids, as `xe vm-import metadata=true`; --preserve keeps
 *    them). Files are untrusted: size-limited and read as a .vmmeta before anything is sent.
 * Files are written under a temporary name and renamed, so a failed export never leaves a
 * half file that a later import would pick up.
 */
import { lstat, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { VM, XenApiError, exportMetadata, importMetadata, throwIfAborted, type Ref, type Session, type VmRecord } from '../xenapi/index.js';
import { explainError, type ErrorExplanation } from '../failure/index.js';
import { resolveSr } from './backup-vdi.js';
import { readSendableVmmeta, VMMETA_MAX_BYTES, VmmetaError } from './vmmeta.js';
import { ExpectedFailure } from '../failure/index.js';

/** File n of a numbered set (n ≥ 1): F, F2, F3, … as xe names them. */
export function numberedFile(base: string, n: number): string {
  if (!Number.isInteger(n) || n < 1) throw new RangeError('file numbers start at 1');
  return n === 1 ? base : `${base}${n}`;
}

/** Most files an import loop follows (a guard against a runaway loop, not a real limit). */
export const MAX_CLASSIC_FILES = 10_000;
/** Metadata exports can carry secrets in other_config: owner-only, like a backup. */
const FILE_MODE = 0o600;
/** /import_metadata's dry_run arrived in 2012 (XenServer 6.1, API 1.10); older hosts ignore it and import for real. */
export const DRY_RUN_MIN_API = { major: 1, minor: 10 } as const;

const CLASSIC_NEXT_STEP = {
  NO_MATCH: 'Check the VM uuid (xe vm-list); templates and snapshots are not exported this way.',
  FILE_EXISTS: 'Choose another file name, or pass --force to replace the set.',
  NO_FILE: 'Check the file name: give the first file of the set (without a number).',
  NO_DRY_RUN: 'Run without --dry-run only when you mean to import.',
  BAD_SELECTION: 'Give either --vm UUID or --all.',
} as const;

export class ClassicError extends ExpectedFailure {
  constructor(
    override readonly code: keyof typeof CLASSIC_NEXT_STEP,
    message: string,
  ) {
    super(code, message, CLASSIC_NEXT_STEP[code]);
    this.name = 'ClassicError';
  }
}

export interface ClassicVm {
  ref: Ref;
  uuid: string;
  name: string;
}

/** A VM as xe's VM selectors see one: not a template, snapshot or control domain. */
function isPlainVm(r: Pick<VmRecord, 'is_a_template' | 'is_a_snapshot' | 'is_control_domain'>): boolean {
  return !r.is_a_template && !r.is_a_snapshot && !r.is_control_domain;
}

/** The VMs `--vm` or `--all` selects, in database order. */
export async function selectClassicVms(session: Session, sel: { vmUuid?: string; all?: boolean }): Promise<ClassicVm[]> {
  if (!!sel.vmUuid === !!sel.all) throw new ClassicError('BAD_SELECTION', 'Give either --vm UUID or --all.');
  if (sel.vmUuid) {
    let ref: Ref;
    try {
      ref = await VM.getByUuid(session, sel.vmUuid);
    } catch (err) {
      if (err instanceof XenApiError && err.code === 'UUID_INVALID') throw new ClassicError('NO_MATCH', `No matching VMs found (no VM ${sel.vmUuid} in this pool).`);
      throw err;
    }
    const rec = await VM.getRecord(session, ref);
    if (!isPlainVm(rec)) {
      const what = rec.is_control_domain ? 'the control domain' : rec.is_a_snapshot ? 'a snapshot' : 'a template';
      throw new ClassicError('NO_MATCH', `No matching VMs found (${sel.vmUuid} is ${what}; xe vm-export selectors match VMs only).`);
    }
    return [{ ref, uuid: rec.uuid, name: rec.name_label }];
  }
  const recs = await VM.getAllRecords(session, ['uuid', 'name_label', 'is_a_template', 'is_a_snapshot', 'is_control_domain']);
  const vms = [...recs]
    .filter(([, r]) => isPlainVm(r))
    .map(([ref, r]) => ({ ref, uuid: r.uuid, name: r.name_label }));
  if (vms.length === 0) throw new ClassicError('NO_MATCH', 'No matching VMs found.');
  return vms;
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null)) !== null;
}

export interface ClassicExportOptions {
  vmUuid?: string;
  all?: boolean;
  out: string;
  /** Overwrite existing files and remove stale numbered files after the last one. */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (e: { index: number; total: number; file: string; vm: { uuid: string; name: string } }) => void;
}

export interface ClassicExportItem {
  index: number;
  file: string;
  vm: { uuid: string; name: string };
  ok: boolean;
  bytes?: number;
  error?: ErrorExplanation;
}

export interface ClassicExportReport {
  files: ClassicExportItem[];
  exported: number;
  failed: number;
  /** Stale numbered files after the last one, removed with force (an import would follow them). */
  removedStale: string[];
  warnings: string[];
}

export async function exportClassic(session: Session, opts: ClassicExportOptions): Promise<ClassicExportReport> {
  const vms = await selectClassicVms(session, opts);
  // An import follows the numbers until one is missing, so a leftover F(n+1) from an
  // earlier, larger export would be imported too: it counts as "in the way" as well.
  const inTheWay: string[] = [];
  for (let n = 1; n <= vms.length + 1; n++) if (await exists(numberedFile(opts.out, n))) inTheWay.push(numberedFile(opts.out, n));
  if (inTheWay.length && !opts.force) {
    throw new ClassicError('FILE_EXISTS', `Not overwriting ${inTheWay.join(', ')}: pass --force to replace the set (stale files after the last one are removed then).`);
  }
  const removedStale: string[] = [];
  if (opts.force) {
    for (let n = vms.length + 1; n <= MAX_CLASSIC_FILES && (await exists(numberedFile(opts.out, n))); n++) {
      await rm(numberedFile(opts.out, n), { force: true });
      removedStale.push(numberedFile(opts.out, n));
    }
  }
  const files: ClassicExportItem[] = [];
  for (const [i, vm] of vms.entries()) {
    throwIfAborted(opts.signal);
    const index = i + 1;
    const file = numberedFile(opts.out, index);
    opts.onProgress?.({ index, total: vms.length, file, vm: { uuid: vm.uuid, name: vm.name } });
    const tmp = `${file}.${process.pid}.partial`;
    try {
      const tar = await exportMetadata(session, { vmRef: vm.ref, exportSnapshots: false }, opts.signal ? { signal: opts.signal } : {});
      // A new file (a leftover of the same name would keep its own mode), owner-only as xe's.
      await rm(tmp, { force: true });
      await writeFile(tmp, tar, { mode: FILE_MODE, flag: 'wx' });
      await rename(tmp, file);
      files.push({ index, file, vm: { uuid: vm.uuid, name: vm.name }, ok: true, bytes: tar.length });
    } catch (err) {
      await rm(tmp, { force: true });
      if (opts.signal?.aborted) throw err;
      // As xe: the number is used; the file is not written (and an old one is not left there).
      if (opts.force) await rm(file, { force: true });
      files.push({ index, file, vm: { uuid: vm.uuid, name: vm.name }, ok: false, error: explainError(err) });
    }
  }
  const warnings: string[] = [];
  const firstGap = files.find((f) => !f.ok);
  if (firstGap && files.some((f) => f.ok && f.index > firstGap.index)) {
    warnings.push(`${firstGap.file} is missing (its export failed): an import of ${opts.out} stops there, and the files after it must be imported separately.`);
  }
  const exported = files.filter((f) => f.ok).length;
  await session.settle(); // the transfers' task clean-ups end with the run
  return { files, exported, failed: files.length - exported, removedStale, warnings };
}

export interface ClassicImportOptions {
  file: string;
  /** SR sent as xe does (XAPI ignores it for metadata); default the pool's default SR. */
  srUuid?: string;
  /** Keep the exported uuids and MACs (xe --preserve); default new ones, as xe vm-import. */
  preserve?: boolean;
  force?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
  onProgress?: (e: { index: number; file: string; vms: Array<{ uuid: string; name: string }> }) => void;
}

export interface ClassicImportItem {
  index: number;
  file: string;
  ok: boolean;
  /** VMs the file holds (from its ova.xml). */
  vms: Array<{ uuid: string; name: string }>;
  /** VMs XAPI lists as imported (empty for a dry run). */
  created: Array<{ uuid: string; name: string }>;
  error?: ErrorExplanation & { params: string[] };
}

export interface ClassicImportReport {
  sr: { uuid: string; name: string };
  preserve: boolean;
  force: boolean;
  dryRun: boolean;
  results: ClassicImportItem[];
  imported: number;
  errors: number;
  summary: string;
}

async function assertDryRunSupported(session: Session): Promise<void> {
  const v = await session.apiVersion();
  if (v.major < DRY_RUN_MIN_API.major || (v.major === DRY_RUN_MIN_API.major && v.minor < DRY_RUN_MIN_API.minor)) {
    throw new ClassicError(
      'NO_DRY_RUN',
      `This pool (API ${v.major}.${v.minor}) has no metadata dry run: it would ignore the flag and import for real. Nothing was imported.`,
    );
  }
}

async function describeVm(session: Session, ref: Ref): Promise<{ uuid: string; name: string }> {
  const rec = await VM.getRecord(session, ref);
  return { uuid: rec.uuid, name: rec.name_label };
}

export async function importClassic(session: Session, opts: ClassicImportOptions): Promise<ClassicImportReport> {
  if (!(await stat(opts.file).catch(() => null))?.isFile()) throw new ClassicError('NO_FILE', `${opts.file}: no such file.`);
  if (opts.dryRun) await assertDryRunSupported(session);
  const sr = await resolveSr(session, opts.srUuid);
  const results: ClassicImportItem[] = [];
  for (let n = 1; n <= MAX_CLASSIC_FILES; n++) {
    const file = numberedFile(opts.file, n);
    const st = await stat(file).catch(() => null);
    if (!st) break;
    throwIfAborted(opts.signal);
    const item: ClassicImportItem = { index: n, file, ok: false, vms: [], created: [] };
    results.push(item);
    try {
      if (!st.isFile()) throw new VmmetaError(`${file} is not a regular file`);
      if (st.size > VMMETA_MAX_BYTES) throw new VmmetaError(`${file} is ${st.size} bytes, more than a metadata export (${VMMETA_MAX_BYTES} bytes accepted)`);
      const body = await readFile(file);
      // Refused here, with the field and what XAPI expects there, rather than sent for XAPI to find.
      const meta = await readSendableVmmeta(body);
      item.vms = meta.vms.filter((v) => !v.isSnapshot).map((v) => ({ uuid: v.uuid, name: v.name }));
      opts.onProgress?.({ index: n, file, vms: item.vms });
      const refs = await importMetadata(
        session,
        body,
        { restore: opts.preserve ?? false, force: opts.force ?? false, dryRun: opts.dryRun ?? false, srRef: sr.ref },
        opts.signal ? { signal: opts.signal } : {},
      );
      for (const ref of refs) item.created.push(await describeVm(session, ref));
      item.ok = true;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      item.error = { ...explainError(err), params: err instanceof XenApiError ? err.params : [] };
    }
  }
  const imported = results.filter((r) => r.ok).length;
  const errors = results.length - imported;
  await session.settle(); // the transfers' task clean-ups end with the run
  return {
    sr: { uuid: sr.uuid, name: sr.nameLabel },
    preserve: opts.preserve ?? false,
    force: opts.force ?? false,
    dryRun: opts.dryRun ?? false,
    results,
    imported,
    errors,
    summary: `${opts.dryRun ? 'Checked' : 'Imported'} ${imported} file(s), and ${errors} error(s)`,
  };
}
