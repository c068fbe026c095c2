/**
 * The restore on a pool whose backup VDI does not have the deterministic uuid (XenServer
 * 7.1 profile: random uuids): the stock legacy question with the XSA-459 warning, and,
 * once a guest has planted a disk that looks like a backup, the VDI chooser that never
 * picks one itself.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/dr/backup.js';
import { makeExt3 } from '../../src/dr/volume/e2fsprogs.js';
import { openExt3 } from '../../src/dr/volume/ext3.js';
import { writeFileBytes } from '../../src/dr/volume/files.js';
import { DEMO_ROOT_PASSWORD } from '../../src/sim/index.js';
import { simulatedControlDomain } from '../../src/dr/volume/control-domain.js';
import { createConsoleServices, type LiveConsoleServices } from '../../src/app/index.js';
import { LEGACY_QUESTION, RESTORE_FAILED_PREFIX, UNTRUSTED_VDI_NOTE, VDI_CHOOSER_WARNING } from '../../components/restore/texts.js';
import { startTestPool, vdiImagePath, type TestPool } from '../helpers/pool.js';
import { KEYS, flat, highlighted, paneTitle, press, renderConsole, waitForFrame, waitForText, type Rendered } from './helpers.js';
import { atBurMenu, highlightRow, noneAttached as noneAttachedTo, openRestorePicker, readAllPages } from './restore-helpers.js';
import type { Ref } from '../../src/xenapi/index.js';
import { openImageForWrite } from '../helpers/image-writer.js';

let p: TestPool;
let sr: { uuid: string; name: string; ref: Ref };
let backupVdi: string;
let date: string;
let r: Rendered | undefined;
let live: LiveConsoleServices | undefined;

beforeAll(async () => {
  p = await startTestPool({ vms: 3, profile: 'xs71' });
  const poolRef = (await p.session.call<Ref[]>('pool.get_all'))[0]!;
  const ref = await p.session.call<Ref>('pool.get_default_SR', poolRef);
  sr = { ref, uuid: await p.session.call<string>('SR.get_uuid', ref), name: await p.session.call<string>('SR.get_name_label', ref) };
  const report = await runBackup(p.session, { srUuid: sr.uuid, vdiSize: 64 * 1024 * 1024 });
  expect(report.vdi.deterministicUuid).toBe(false);
  backupVdi = report.vdi.uuid;
  date = report.date;
}, 30_000);

afterAll(async () => {
  await p?.close();
});

afterEach(async () => {
  r?.unmount();
  r = undefined;
  await live?.close();
  live = undefined;
});

function noneAttached(): Promise<void> {
  return noneAttachedTo(p.sim);
}

/** Longer than a dialogue row, wide characters in it: shown whole, wrapped. */
const PLANTED_LABEL = 'Metadata backup (restore from this one) 経理部のデータディスク do not remove';
const GUEST_NAME = 'accounting 経理';

/** Console → Restore → the SR → the legacy question. */
async function toLegacyQuestion(first: boolean): Promise<string> {
  if (first) {
    live = createConsoleServices({ target: { url: p.sim.url, tls: {}, describe: 'XenServer 7.1 pool', controlDomain: simulatedControlDomain(p.sim) }, user: 'root', hostLabel: 'xs71' });
    r = renderConsole({ services: live });
  }
  await openRestorePicker(r!, first ? DEMO_ROOT_PASSWORD : null);
  await highlightRow(r!, sr.name);
  press(r!, KEYS.enter);
  return waitForText(r!, 'A backup VDI could not be positively identified.');
}

describe('a backup VDI made before deterministic uuids', () => {
  it('asks the stock legacy question with the XSA-459 warning; "no" ends with NO_BACKUP_VDI, as the CLI says it', async () => {
    const f = await toLegacyQuestion(true);
    expect(flat(f)).toContain(flat(LEGACY_QUESTION));
    expect(flat(f)).toContain('XSA-459 / CVE-2024-31144');
    expect(f).toContain('<F8> Yes  <Esc> No');
    press(r!, KEYS.escape);
    // As the CLI's restore without --legacy says it: code, meaning, next step.
    const g = await waitForText(r!, `${RESTORE_FAILED_PREFIX} NO_BACKUP_VDI: No backup VDI`);
    expect(paneTitle(g)).toBe('Restore Virtual Machine Metadata');
    press(r!, KEYS.enter);
    await waitForFrame(r!, atBurMenu);
    await noneAttached();
  });

  it('"yes" scans the SR, finds the one backup VDI, warns that it is not verified, and restores a dry run from it', async () => {
    await toLegacyQuestion(true);
    press(r!, KEYS.f8);
    let f = await waitForFrame(r!, (fr) => paneTitle(fr) === 'Available Metadata Backups', 10_000);
    expect(flat(f)).toContain(flat(UNTRUSTED_VDI_NOTE));
    expect(highlighted(f)).toMatch(new RegExp(`^${date}  \\d+ VM exports`));
    press(r!, KEYS.enter);
    f = await waitForFrame(r!, (fr) => paneTitle(fr) === `Restore Backup from ${date}`);
    expect(flat(f)).toContain(flat(UNTRUSTED_VDI_NOTE));
    await highlightRow(r!, 'All VM Metadata (Dry Run)');
    press(r!, KEYS.enter);
    await waitForFrame(r!, (fr) => /^(Metadata Restore|Restore partly|Dry run: )/.test(paneTitle(fr) ?? ''), 10_000);
    const all = await readAllPages(r!);
    expect(all).toMatch(/Would restore \d+ VM\(s\), and \d+ error\(s\); nothing was changed/);
    expect(all).toContain(`Backup VDI: ${backupVdi} (found by the scan for older backups, not verified)`);
    // Every VM of the backup is in this very pool: the dry run says so for each.
    expect(all).toMatch(/a VM with this uuid was already in this pool/);
    press(r!, KEYS.enter);
    await waitForFrame(r!, atBurMenu);
    await noneAttached();
  });

  it('with a look-alike disk planted by a guest: the operator chooses among the VDIs, warned, seeing whose disk each is; Left and Esc', async () => {
    const planted = await p.session.call<Ref>('VDI.create', {
      name_label: PLANTED_LABEL,
      name_description: '',
      SR: sr.ref,
      virtual_size: String(64 * 1024 * 1024),
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
      xenstore_data: {},
      sm_config: {},
      tags: [],
    });
    const plantedUuid = await p.session.call<string>('VDI.get_uuid', planted);
    // The guest that planted it keeps it as one of its disks.
    const guests = await p.session.call<Record<Ref, Record<string, unknown>>>('VM.get_all_records_where', 'field "is_control_domain" = "false" and field "is_a_template" = "false"');
    const guestRef = Object.keys(guests)[0]!;
    await p.session.call('VM.set_name_label', guestRef, GUEST_NAME);
    await p.session.call<Ref>('VBD.create', {
      VM: guestRef,
      VDI: planted,
      userdevice: 'autodetect',
      bootable: false,
      mode: 'RW',
      type: 'Disk',
      unpluggable: true,
      empty: false,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
      device: '',
      currently_attached: false,
    });
    const img = vdiImagePath(p.sim, plantedUuid);
    await makeExt3(img);
    const vol = await openImageForWrite(img);
    await writeFileBytes(vol.fs, '/.ctxs-metadata-backup', '1\n');
    await vol.fs.mkdir('/metadata');
    await vol.close();

    await toLegacyQuestion(true);
    press(r!, KEYS.f8);
    let f = await waitForFrame(r!, (fr) => paneTitle(fr) === 'Available Metadata VDIs', 10_000);
    expect(flat(f)).toContain(VDI_CHOOSER_WARNING);
    expect(f).toContain(backupVdi);
    expect(f).toContain(plantedUuid);
    expect(f).toContain(`${plantedUuid}    64 MiB  attached: 1 VM`);
    expect(f).toContain(`${backupVdi}    64 MiB  not attached`);
    expect(f).not.toContain("this SR's own backup VDI"); // neither is the SR's deterministic one
    // The highlighted disk's whole name, wrapped (never cut), and whose disk it is.
    f = await highlightRow(r!, plantedUuid);
    expect(flat(f)).toContain(`Name: "${PLANTED_LABEL}"`);
    expect(flat(f)).toContain(`Attached to VM "${GUEST_NAME}".`);
    f = await highlightRow(r!, backupVdi);
    expect(flat(f)).toContain('Not attached to any VM.');

    // The look-alike holds no backups: said so, and back to the choice.
    await highlightRow(r!, plantedUuid);
    press(r!, KEYS.enter);
    f = await waitForFrame(r!, (fr) => flat(fr).includes(`Metadata Restore failed: No VM metadata backups found on VDI ${plantedUuid}.`));
    // Nothing to restore from it: not held while that is said.
    await noneAttached();
    press(r!, KEYS.enter);
    await waitForFrame(r!, (fr) => paneTitle(fr) === 'Available Metadata VDIs');

    await highlightRow(r!, backupVdi);
    press(r!, KEYS.enter);
    f = await waitForFrame(r!, (fr) => paneTitle(fr) === 'Available Metadata Backups', 10_000);
    expect(f).toContain(date);
    press(r!, KEYS.left);
    await waitForFrame(r!, (fr) => paneTitle(fr) === 'Available Metadata VDIs');
    press(r!, KEYS.escape);
    await waitForFrame(r!, atBurMenu);
    await noneAttached();
  });
});
