/**
 * The simulator's datamodel: the XenAPI classes it knows, their public fields with
 * XenAPI names, types and defaults, and the one-to-many relations XAPI maintains.
 *
 * Field names and types follow the public XenAPI datamodel (xen-api ocaml/idl/datamodel*.ml).
 * Only public fields are listed; a class is modelled as completely as a metadata
 * export/import of it needs (VM, VBD, VIF, VDI, SR, network) and as far as the console and
 * the stock scripts read the others.
 *
 * Values as held in the database (see {@link ValueOf}):
 *  - string, uuid, enum, datetime and ref fields are JS strings (refs "OpaqueRef:<uuid>",
 *    null ref {@link NULL_REF}; datetimes in XAPI's wire form "20240716T10:11:12Z");
 *  - int (XenAPI int is always 64-bit) and float are JS numbers; ints must be safe integers
 *    (|n| < 2^53, enough for any disk or memory size);
 *  - bool is a JS boolean; sets are arrays (of numbers for an int set, else of strings); maps
 *    are plain objects whose values are strings, numbers or such arrays (keys always
 *    strings, as on the wire).
 * The schema, not the JS type, says whether a number is an int or a float: use
 * {@link fieldType} or the codec helpers `recordToValue` / `valueToRecord` to cross the wire.
 */
import type { Release } from './releases.js';

/** The classes the simulator models, spelled as in the datamodel (case matters on the wire). */
export const CLASS_NAMES = [
  'session',
  'pool',
  'host',
  'host_metrics',
  'SR',
  'PBD',
  'VDI',
  'VBD',
  'VM',
  'VM_metrics',
  'VM_guest_metrics',
  'VM_appliance',
  'VIF',
  'network',
  'PIF',
  'task',
  'message',
] as const;

export type ClassName = (typeof CLASS_NAMES)[number];

/** Classes that came after 'rio' (the datamodel's class lifecycle): served from that release on. */
const CLASS_SINCE: Readonly<Partial<Record<ClassName, Release>>> = { VM_appliance: 'boston', message: 'orlando' };

/** The release a class came in. */
export function classSince(cls: ClassName): Release {
  return CLASS_SINCE[cls] ?? 'rio';
}

export const NULL_REF = 'OpaqueRef:NULL';
export const EPOCH = '19700101T00:00:00Z';

// ---------------------------------------------------------------------------------------
// Field types

/** Types an element of a set, a map key or a map value may have. */
export type ScalarType =
  | { readonly kind: 'string' }
  | { readonly kind: 'int' }
  | { readonly kind: 'float' }
  | { readonly kind: 'bool' }
  | { readonly kind: 'datetime' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'ref'; readonly cls: RefClass };

/** A set of scalars (also the value type of a map such as VM_metrics.VCPUs_flags). */
export type SetType = { readonly kind: 'set'; readonly of: ScalarType };

export type FieldType =
  | ScalarType
  | SetType
  | { readonly kind: 'map'; readonly key: ScalarType; readonly value: ScalarType | SetType };

/**
 * Classes a field may refer to without the simulator modelling them: their refs are
 * always OpaqueRef:NULL and their sets empty, as on a host that has no such objects.
 */
export const UNMODELLED_CLASSES = [
  'user', 'subject', 'secret', 'blob', 'DR_task', 'VMPP', 'VMSS', 'VBD_metrics', 'VIF_metrics',
  'PIF_metrics', 'Bond', 'VLAN', 'tunnel', 'network_sriov', 'PCI', 'PGPU', 'PUSB', 'VGPU', 'VUSB',
  'VTPM', 'console', 'crashdump', 'host_crashdump', 'host_patch', 'host_cpu', 'pool_update',
  'Feature', 'Certificate', 'Repository', 'VM_group',
] as const;

export type RefClass = ClassName | (typeof UNMODELLED_CLASSES)[number];

/** One field of a class. */
export interface FieldSpec {
  readonly type: FieldType;
  /** Value a new object gets when the creator does not give one. */
  readonly default: unknown;
  /** Settable through the API (`set_<field>`; maps also `add_to_`/`remove_from_`, sets `add_`/`remove_`). */
  readonly rw: boolean;
  /** Column name in the database and in `get_all_records_where` (namespaced fields use `__`). */
  readonly column?: string;
  /**
   * The release the field came in: the first release of its lifecycle in the datamodel
   * (releases.ts orders them). A profile serves the field from that release on.
   */
  readonly since: Release;
}

interface Opts<D> {
  rw?: boolean;
  def?: D;
  /** Database column name when it differs from the field name (XAPI namespaces). */
  col?: string;
  /** Release the field came in when later than 'rio' (the datamodel's field lifecycle). */
  since?: Release;
}

// Builders keep the literal kind in the type so records can be typed from the schema.
interface StrF extends FieldSpec { readonly type: { kind: 'string' } }
interface IntF extends FieldSpec { readonly type: { kind: 'int' } }
interface FloatF extends FieldSpec { readonly type: { kind: 'float' } }
interface BoolF extends FieldSpec { readonly type: { kind: 'bool' } }
interface DateF extends FieldSpec { readonly type: { kind: 'datetime' } }
interface EnumF<V extends readonly string[]> extends FieldSpec {
  readonly type: { kind: 'enum'; values: V };
}
interface RefF<C extends RefClass> extends FieldSpec { readonly type: { kind: 'ref'; cls: C } }
interface SetF extends FieldSpec { readonly type: { kind: 'set'; of: ScalarType } }
interface IntSetF extends FieldSpec { readonly type: { kind: 'set'; of: { kind: 'int' } } }
interface MapF<V extends ScalarType | SetType> extends FieldSpec {
  readonly type: { kind: 'map'; key: ScalarType; value: V };
}

const S: { kind: 'string' } = { kind: 'string' };
const I: { kind: 'int' } = { kind: 'int' };
const F: { kind: 'float' } = { kind: 'float' };

function mk<T extends FieldType>(type: T, def: unknown, o: Opts<unknown> | undefined) {
  const spec: { type: T; default: unknown; rw: boolean; column?: string; since: Release } = {
    type,
    default: o?.def !== undefined ? o.def : def,
    rw: o?.rw ?? false,
    since: o?.since ?? 'rio',
  };
  if (o?.col !== undefined) spec.column = o.col;
  return spec;
}
const str = (o?: Opts<string>): StrF => mk(S, '', o);
const int = (o?: Opts<number>): IntF => mk(I, 0, o);
const float = (o?: Opts<number>): FloatF => mk(F, 0, o);
const bool = (o?: Opts<boolean>): BoolF => mk({ kind: 'bool' as const }, false, o);
const date = (o?: Opts<string>): DateF => mk({ kind: 'datetime' as const }, EPOCH, o);
function enm<const V extends readonly string[]>(values: V, o?: Opts<V[number]>): EnumF<V> {
  return mk({ kind: 'enum' as const, values }, values[0], o);
}
function ref<C extends RefClass>(cls: C, o?: Opts<string>): RefF<C> {
  return mk({ kind: 'ref' as const, cls }, NULL_REF, o);
}
/** set(ref cls) */
const refs = (cls: RefClass, o?: Opts<string[]>): SetF => mk({ kind: 'set' as const, of: { kind: 'ref', cls } }, [], o);
/** set(string) */
const strs = (o?: Opts<string[]>): SetF => mk({ kind: 'set' as const, of: S }, [], o);
/** set(int) */
const ints = (o?: Opts<number[]>): IntSetF => mk({ kind: 'set' as const, of: I }, [], o);
/** set(enum) */
const enums = (values: readonly string[], o?: Opts<string[]>): SetF =>
  mk({ kind: 'set' as const, of: { kind: 'enum', values } }, [], o);
/** map(string → string) */
const smap = (o?: Opts<Record<string, string>>): MapF<{ kind: 'string' }> => mk({ kind: 'map' as const, key: S, value: S }, {}, o);
/** map(key → value) of other types */
function xmap<V extends ScalarType | SetType>(key: ScalarType, value: V, o?: Opts<Record<string, unknown>>): MapF<V> {
  return mk({ kind: 'map' as const, key, value }, {}, o);
}
/** map(string → blob ref): the blobs field of several classes (no blob is ever made here). */
const blobs = (o?: Opts<Record<string, string>>): MapF<{ kind: 'ref'; cls: 'blob' }> =>
  mk({ kind: 'map' as const, key: S, value: { kind: 'ref' as const, cls: 'blob' as const } }, {}, o);

// ---------------------------------------------------------------------------------------
// Enumerations (datamodel spelling; XAPI matches input case-insensitively)

export const VM_POWER_STATES = ['Halted', 'Paused', 'Running', 'Suspended'] as const;
export const VDI_TYPES = [
  'system', 'user', 'ephemeral', 'suspend', 'crashdump', 'ha_statefile', 'metadata',
  'redo_log', 'rrd', 'pvs_cache', 'cbt_metadata',
] as const;
export const VBD_MODES = ['RO', 'RW'] as const;
export const VBD_TYPES = ['CD', 'Disk', 'Floppy'] as const;
export const TASK_STATUSES = ['pending', 'success', 'failure', 'cancelling', 'cancelled'] as const;
export const ON_NORMAL_EXIT = ['destroy', 'restart'] as const;
export const ON_CRASH = ['destroy', 'coredump_and_destroy', 'restart', 'coredump_and_restart', 'preserve', 'rename_restart'] as const;
export const ON_SOFTREBOOT = ['soft_reboot', 'destroy', 'restart', 'preserve'] as const;
export const DOMAIN_TYPES = ['hvm', 'pv', 'pv_in_pvh', 'pvh', 'unspecified'] as const;
export const VIF_LOCKING_MODES = ['network_default', 'locked', 'unlocked', 'disabled'] as const;
export const IPV4_CONF_MODES = ['None', 'Static'] as const;
export const IPV6_CONF_MODES = ['None', 'Static'] as const;
export const PIF_IP_MODES = ['None', 'DHCP', 'Static'] as const;
export const PIF_IPV6_MODES = ['None', 'DHCP', 'Static', 'Autoconf'] as const;
export const PRIMARY_ADDRESS_TYPES = ['IPv4', 'IPv6'] as const;
export const NETWORK_DEFAULT_LOCKING = ['unlocked', 'disabled'] as const;
export const ON_BOOT = ['reset', 'persist'] as const;
export const HOST_DISPLAY = ['enabled', 'disable_on_reboot', 'disabled', 'enable_on_reboot'] as const;
export const SESSION_ORIGIN = ['user'] as const;
export const UPDATE_GUIDANCES = [
  'reboot_host', 'reboot_host_on_livepatch_failure', 'reboot_host_on_kernel_livepatch_failure',
  'reboot_host_on_xen_livepatch_failure', 'restart_toolstack', 'restart_device_model', 'restart_vm',
] as const;
export const HOST_NUMA_AFFINITY_POLICIES = ['any', 'best_effort', 'default_policy'] as const;
export const LATEST_SYNCED_UPDATES_APPLIED = ['yes', 'no', 'unknown'] as const;
export const TELEMETRY_FREQUENCIES = ['daily', 'weekly', 'monthly'] as const;
export const UPDATE_SYNC_FREQUENCIES = ['daily', 'weekly'] as const;
export const TRISTATE = ['yes', 'no', 'unspecified'] as const;
export const PIF_IGMP_STATUSES = ['enabled', 'disabled', 'unknown'] as const;
export const NETWORK_PURPOSES = ['nbd', 'insecure_nbd'] as const;

export const VM_OPERATIONS = [
  'snapshot', 'clone', 'copy', 'create_template', 'revert', 'checkpoint', 'snapshot_with_quiesce',
  'provision', 'start', 'start_on', 'pause', 'unpause', 'clean_shutdown', 'clean_reboot',
  'hard_shutdown', 'power_state_reset', 'hard_reboot', 'suspend', 'csvm', 'resume', 'resume_on',
  'pool_migrate', 'migrate_send', 'get_boot_record', 'send_sysrq', 'send_trigger',
  'query_services', 'shutdown', 'call_plugin', 'changing_memory_live', 'awaiting_memory_live',
  'changing_dynamic_range', 'changing_static_range', 'changing_memory_limits',
  'changing_shadow_memory', 'changing_shadow_memory_live', 'changing_VCPUs',
  'changing_VCPUs_live', 'changing_NVRAM', 'assert_operation_valid', 'data_source_op',
  'update_allowed_operations', 'make_into_template', 'import', 'export', 'metadata_export',
  'reverting', 'destroy', 'create_vtpm',
] as const;
const VDI_OPERATIONS = [
  'clone', 'copy', 'resize', 'resize_online', 'snapshot', 'mirror', 'destroy', 'forget',
  'update', 'force_unlock', 'generate_config', 'enable_cbt', 'disable_cbt', 'data_destroy',
  'list_changed_blocks', 'set_on_boot', 'blocked',
] as const;
const SR_OPERATIONS = [
  'scan', 'destroy', 'forget', 'plug', 'unplug', 'update', 'vdi_create', 'vdi_introduce',
  'vdi_destroy', 'vdi_resize', 'vdi_clone', 'vdi_snapshot', 'vdi_mirror', 'vdi_enable_cbt',
  'vdi_disable_cbt', 'vdi_data_destroy', 'vdi_list_changed_blocks', 'vdi_set_on_boot',
  'vdi_blocked', 'vdi_copy', 'vdi_force_unlock', 'vdi_forget', 'vdi_generate_config',
  'pbd_create', 'pbd_destroy',
] as const;
const VBD_OPERATIONS = ['attach', 'eject', 'insert', 'plug', 'unplug', 'unplug_force', 'pause', 'unpause'] as const;
const VIF_OPERATIONS = ['attach', 'plug', 'unplug'] as const;
const NETWORK_OPERATIONS = ['attaching'] as const;
const HOST_OPERATIONS = [
  'provision', 'evacuate', 'shutdown', 'reboot', 'power_on', 'vm_start', 'vm_resume', 'vm_migrate',
  'apply_updates', 'enable',
] as const;
const POOL_OPERATIONS = [
  'ha_enable', 'ha_disable', 'cluster_create', 'designate_new_master', 'configure_repositories',
  'sync_updates', 'sync_bundle', 'get_updates', 'apply_updates', 'tls_verification_enable',
  'cert_refresh', 'exchange_certificates_on_join', 'exchange_ca_certificates_on_join',
  'copy_primary_host_certs', 'eject', 'reboot',
] as const;
const TASK_OPERATIONS = ['cancel', 'destroy'] as const;

/** name_label / name_description live in XAPI's "name" namespace: columns name__label etc. */
const nameLabel = () => str({ rw: true, col: 'name__label' });
const nameDescription = () => str({ rw: true, col: 'name__description' });

// ---------------------------------------------------------------------------------------
// The classes

const session = {
  uuid: str(),
  this_host: ref('host'),
  this_user: ref('user'),
  last_active: date(),
  pool: bool(),
  other_config: smap({ rw: true, since: 'miami' }),
  is_local_superuser: bool({ since: 'george' }),
  subject: ref('subject', { since: 'george' }),
  validation_time: date({ since: 'george' }),
  auth_user_sid: str({ since: 'george' }),
  auth_user_name: str({ since: 'midnight-ride' }),
  rbac_permissions: strs({ since: 'midnight-ride' }),
  tasks: refs('task', { since: 'midnight-ride' }),
  parent: ref('session', { since: 'midnight-ride' }),
  originator: str({ since: 'clearwater' }),
  client_certificate: bool({ since: '21.2.0' }),
};

const pool = {
  uuid: str(),
  name_label: nameLabel(),
  name_description: nameDescription(),
  master: ref('host'),
  default_SR: ref('SR', { rw: true }),
  suspend_image_SR: ref('SR', { rw: true }),
  crash_dump_SR: ref('SR', { rw: true }),
  other_config: smap({ rw: true }),
  ha_enabled: bool({ since: 'orlando' }),
  ha_configuration: smap({ since: 'orlando' }),
  ha_statefiles: strs({ since: 'orlando' }),
  ha_host_failures_to_tolerate: int({ since: 'orlando' }),
  ha_plan_exists_for: int({ since: 'orlando' }),
  ha_allow_overcommit: bool({ rw: true, since: 'orlando' }),
  ha_overcommitted: bool({ since: 'orlando' }),
  blobs: blobs({ since: 'orlando' }),
  tags: strs({ rw: true, since: 'orlando' }),
  gui_config: smap({ rw: true, since: 'orlando' }),
  health_check_config: smap({ rw: true, since: 'dundee' }),
  wlb_url: str({ since: 'george' }),
  wlb_username: str({ since: 'george' }),
  wlb_enabled: bool({ rw: true, since: 'george' }),
  wlb_verify_cert: bool({ rw: true, since: 'george' }),
  redo_log_enabled: bool({ since: 'midnight-ride' }),
  redo_log_vdi: ref('VDI', { since: 'midnight-ride' }),
  vswitch_controller: str({ since: 'midnight-ride' }),
  restrictions: smap({ since: 'midnight-ride' }),
  metadata_VDIs: refs('VDI', { since: 'boston' }),
  ha_cluster_stack: str({ def: 'xhad', since: 'dundee' }),
  allowed_operations: enums(POOL_OPERATIONS),
  current_operations: xmap(S, { kind: 'enum', values: POOL_OPERATIONS }),
  guest_agent_config: smap({ since: 'dundee' }),
  cpu_info: smap({ since: 'dundee' }),
  policy_no_vendor_device: bool({ rw: true, since: 'dundee' }),
  live_patching_disabled: bool({ rw: true, since: 'ely' }),
  igmp_snooping_enabled: bool({ since: 'inverness' }),
  uefi_certificates: str({ since: 'quebec' }),
  custom_uefi_certificates: str({ since: '24.0.0' }),
  is_psr_pending: bool({ since: 'stockholm_psr' }),
  tls_verification_enabled: bool({ since: '1.290.0' }),
  repositories: refs('Repository', { since: '1.301.0' }),
  client_certificate_auth_enabled: bool({ since: '1.318.0' }),
  client_certificate_auth_name: str({ since: '1.318.0' }),
  repository_proxy_url: str({ since: '21.3.0' }),
  repository_proxy_username: str({ since: '21.3.0' }),
  repository_proxy_password: ref('secret', { since: '21.3.0' }),
  migration_compression: bool({ rw: true, since: '22.33.0' }),
  coordinator_bias: bool({ rw: true, def: true, since: '22.37.0' }),
  local_auth_max_threads: int({ def: 8, since: '23.27.0' }),
  ext_auth_max_threads: int({ def: 1, since: '23.27.0' }),
  // Fields after the datamodel file (24.10.0) are dated by ocaml/idl/datamodel_lifecycle.ml
  // and typed as ocaml/idl/datamodel_*.ml declare them.
  ext_auth_cache_enabled: bool({ def: true, since: '24.31.0' }),
  ext_auth_cache_size: int({ def: 50, since: '24.31.0' }),
  ext_auth_cache_expiry: int({ def: 300, since: '24.31.0' }),
  telemetry_uuid: ref('secret', { since: '23.9.0' }),
  telemetry_frequency: enm(TELEMETRY_FREQUENCIES, { def: 'weekly', since: '23.9.0' }),
  telemetry_next_collection: date({ since: '23.9.0' }),
  last_update_sync: date({ since: '23.18.0' }),
  update_sync_frequency: enm(UPDATE_SYNC_FREQUENCIES, { def: 'weekly', since: '23.18.0' }),
  update_sync_day: int({ since: '23.18.0' }),
  update_sync_enabled: bool({ since: '23.18.0' }),
  recommendations: smap({ since: '24.19.1' }),
  license_server: smap({ rw: true, since: '25.6.0' }),
  ha_reboot_vm_on_internal_shutdown: bool({ rw: true, def: true, since: '25.16.0' }),
};

const host = {
  uuid: str(),
  name_label: nameLabel(),
  name_description: nameDescription(),
  memory_overhead: int(),
  allowed_operations: enums(HOST_OPERATIONS),
  current_operations: xmap(S, { kind: 'enum', values: HOST_OPERATIONS }),
  API_version_major: int({ col: 'API_version__major' }),
  API_version_minor: int({ col: 'API_version__minor' }),
  API_version_vendor: str({ col: 'API_version__vendor', def: 'XenSource' }),
  API_version_vendor_implementation: smap({ col: 'API_version__vendor_implementation' }),
  enabled: bool({ def: true }),
  software_version: smap(),
  other_config: smap({ rw: true }),
  capabilities: strs(),
  cpu_configuration: smap(),
  sched_policy: str({ def: 'credit' }),
  supported_bootloaders: strs({ def: ['pygrub', 'eliloader'] }),
  resident_VMs: refs('VM'),
  logging: smap({ rw: true }),
  PIFs: refs('PIF'),
  suspend_image_sr: ref('SR', { rw: true }),
  crash_dump_sr: ref('SR', { rw: true }),
  crashdumps: refs('host_crashdump'),
  patches: refs('host_patch'),
  updates: refs('pool_update', { since: 'ely' }),
  PBDs: refs('PBD'),
  host_CPUs: refs('host_cpu'),
  cpu_info: smap({ since: 'midnight-ride' }),
  hostname: str(),
  address: str(),
  metrics: ref('host_metrics'),
  license_params: smap(),
  ha_statefiles: strs({ since: 'orlando' }),
  ha_network_peers: strs({ since: 'orlando' }),
  blobs: blobs({ since: 'orlando' }),
  tags: strs({ rw: true, since: 'orlando' }),
  external_auth_type: str({ since: 'george' }),
  external_auth_service_name: str({ since: 'george' }),
  external_auth_configuration: smap({ since: 'george' }),
  edition: str({ since: 'midnight-ride' }),
  license_server: smap({ rw: true, def: { address: 'localhost', port: '27000' }, since: 'midnight-ride' }),
  bios_strings: smap({ since: 'midnight-ride' }),
  power_on_mode: str({ since: 'midnight-ride' }),
  power_on_config: smap({ since: 'midnight-ride' }),
  local_cache_sr: ref('SR', { since: 'cowley' }),
  chipset_info: smap({ since: 'boston' }),
  PCIs: refs('PCI', { since: 'boston' }),
  PGPUs: refs('PGPU', { since: 'boston' }),
  PUSBs: refs('PUSB', { since: 'inverness' }),
  ssl_legacy: bool({ since: 'dundee' }),
  guest_VCPUs_params: smap({ rw: true, since: 'tampa' }),
  display: enm(HOST_DISPLAY, { since: 'cream' }),
  virtual_hardware_platform_versions: ints({ def: [0], since: 'cream' }),
  control_domain: ref('VM', { since: 'ely' }),
  updates_requiring_reboot: refs('pool_update', { since: 'ely' }),
  features: refs('Feature', { since: 'falcon' }),
  iscsi_iqn: str({ since: 'kolkata' }),
  multipathing: bool({ since: 'kolkata' }),
  uefi_certificates: str({ since: 'quebec' }),
  certificates: refs('Certificate', { since: 'stockholm' }),
  editions: strs({ since: 'stockholm' }),
  pending_guidances: enums(UPDATE_GUIDANCES, { since: '1.303.0' }),
  tls_verification_enabled: bool({ since: '1.313.0' }),
  last_software_update: date({ since: '22.20.0' }),
  https_only: bool({ since: '22.27.0' }),
  latest_synced_updates_applied: enm(LATEST_SYNCED_UPDATES_APPLIED, { def: 'unknown', since: '23.18.0' }),
  numa_affinity_policy: enm(HOST_NUMA_AFFINITY_POLICIES, { def: 'default_policy', since: '24.0.0' }),
  pending_guidances_recommended: enums(UPDATE_GUIDANCES, { since: '24.10.0' }),
  pending_guidances_full: enums(UPDATE_GUIDANCES, { since: '24.10.0' }),
  last_update_hash: str({ since: '24.10.0' }),
  // After the datamodel file: datamodel_lifecycle.ml, defaults from ocaml/xapi-consts/constants.ml.
  ssh_enabled: bool({ def: true, since: '25.21.0' }),
  ssh_enabled_timeout: int({ since: '25.21.0' }),
  ssh_expiry: date({ since: '25.21.0' }),
  console_idle_timeout: int({ since: '25.21.0' }),
  ssh_auto_mode: bool({ since: '25.27.0' }),
};

const host_metrics = {
  uuid: str(),
  memory_total: int({ col: 'memory__total' }),
  memory_free: int({ col: 'memory__free' }),
  live: bool({ def: true }),
  last_updated: date(),
  other_config: smap({ rw: true, since: 'orlando' }),
};

const SR = {
  uuid: str(),
  name_label: nameLabel(),
  name_description: nameDescription(),
  allowed_operations: enums(SR_OPERATIONS),
  current_operations: xmap(S, { kind: 'enum', values: SR_OPERATIONS }),
  VDIs: refs('VDI'),
  PBDs: refs('PBD'),
  virtual_allocation: int(),
  physical_utilisation: int(),
  physical_size: int(),
  type: str(),
  content_type: str(),
  shared: bool({ rw: true }),
  other_config: smap({ rw: true }),
  tags: strs({ rw: true, since: 'orlando' }),
  sm_config: smap({ rw: true, since: 'miami' }),
  blobs: blobs({ since: 'orlando' }),
  local_cache_enabled: bool({ since: 'cowley' }),
  introduced_by: ref('DR_task', { since: 'boston' }),
  clustered: bool({ since: 'dundee' }),
  is_tools_sr: bool({ since: 'dundee' }),
};

const PBD = {
  uuid: str(),
  host: ref('host'),
  SR: ref('SR'),
  device_config: smap({ rw: true }),
  currently_attached: bool(),
  other_config: smap({ rw: true, since: 'miami' }),
};

const VDI = {
  uuid: str(),
  name_label: nameLabel(),
  name_description: nameDescription(),
  allowed_operations: enums(VDI_OPERATIONS),
  current_operations: xmap(S, { kind: 'enum', values: VDI_OPERATIONS }),
  SR: ref('SR'),
  VBDs: refs('VBD'),
  crash_dumps: refs('crashdump'),
  virtual_size: int(),
  physical_utilisation: int(),
  type: enm(VDI_TYPES, { def: 'user' }),
  sharable: bool(),
  read_only: bool(),
  other_config: smap({ rw: true }),
  storage_lock: bool(),
  location: str({ since: 'miami' }),
  managed: bool({ def: true }),
  missing: bool(),
  parent: ref('VDI'),
  xenstore_data: smap({ rw: true, since: 'miami' }),
  sm_config: smap({ rw: true, since: 'miami' }),
  is_a_snapshot: bool({ since: 'orlando' }),
  snapshot_of: ref('VDI', { since: 'orlando' }),
  snapshots: refs('VDI', { since: 'orlando' }),
  snapshot_time: date({ since: 'orlando' }),
  tags: strs({ rw: true, since: 'orlando' }),
  allow_caching: bool({ rw: true, since: 'cowley' }),
  on_boot: enm(ON_BOOT, { def: 'persist', rw: true, since: 'cowley' }),
  metadata_of_pool: ref('pool', { since: 'boston' }),
  metadata_latest: bool({ since: 'boston' }),
  is_tools_iso: bool({ since: 'dundee' }),
  cbt_enabled: bool({ since: 'inverness' }),
};

const qosAlgorithmType = () => str({ rw: true, col: 'qos__algorithm_type' });
const qosAlgorithmParams = () => smap({ rw: true, col: 'qos__algorithm_params' });
const qosSupported = () => strs({ col: 'qos__supported_algorithms' });

const VBD = {
  uuid: str(),
  allowed_operations: enums(VBD_OPERATIONS),
  current_operations: xmap(S, { kind: 'enum', values: VBD_OPERATIONS }),
  VM: ref('VM'),
  VDI: ref('VDI'),
  device: str(),
  userdevice: str({ rw: true }),
  bootable: bool({ rw: true }),
  mode: enm(VBD_MODES, { def: 'RW', rw: true }),
  type: enm(VBD_TYPES, { def: 'Disk', rw: true }),
  unpluggable: bool({ rw: true, def: true, since: 'miami' }),
  storage_lock: bool(),
  empty: bool(),
  other_config: smap({ rw: true }),
  currently_attached: bool(),
  status_code: int(),
  status_detail: str(),
  runtime_properties: smap(),
  qos_algorithm_type: qosAlgorithmType(),
  qos_algorithm_params: qosAlgorithmParams(),
  qos_supported_algorithms: qosSupported(),
  metrics: ref('VBD_metrics'),
};

const VM = {
  uuid: str(),
  allowed_operations: enums(VM_OPERATIONS),
  current_operations: xmap(S, { kind: 'enum', values: VM_OPERATIONS }),
  name_label: nameLabel(),
  name_description: nameDescription(),
  power_state: enm(VM_POWER_STATES),
  user_version: int({ rw: true, def: 1 }),
  is_a_template: bool({ rw: true }),
  is_default_template: bool({ since: 'falcon' }),
  suspend_VDI: ref('VDI'),
  resident_on: ref('host'),
  scheduled_to_be_resident_on: ref('host'),
  affinity: ref('host', { rw: true }),
  memory_overhead: int(),
  memory_target: int(),
  memory_static_max: int({ col: 'memory__static_max' }),
  memory_dynamic_max: int({ col: 'memory__dynamic_max' }),
  memory_dynamic_min: int({ col: 'memory__dynamic_min' }),
  memory_static_min: int({ col: 'memory__static_min' }),
  VCPUs_params: smap({ rw: true, col: 'VCPUs__params' }),
  VCPUs_max: int({ col: 'VCPUs__max', def: 1 }),
  VCPUs_at_startup: int({ col: 'VCPUs__at_startup', def: 1 }),
  actions_after_softreboot: enm(ON_SOFTREBOOT, { rw: true, col: 'actions__after_softreboot', since: '23.1.0' }),
  actions_after_shutdown: enm(ON_NORMAL_EXIT, { rw: true, col: 'actions__after_shutdown' }),
  actions_after_reboot: enm(ON_NORMAL_EXIT, { rw: true, col: 'actions__after_reboot', def: 'restart' }),
  actions_after_crash: enm(ON_CRASH, { rw: true, col: 'actions__after_crash', def: 'restart' }),
  consoles: refs('console'),
  VIFs: refs('VIF'),
  VBDs: refs('VBD'),
  VUSBs: refs('VUSB'),
  crash_dumps: refs('crashdump'),
  VTPMs: refs('VTPM'),
  PV_bootloader: str({ rw: true, col: 'PV__bootloader' }),
  PV_kernel: str({ rw: true, col: 'PV__kernel' }),
  PV_ramdisk: str({ rw: true, col: 'PV__ramdisk' }),
  PV_args: str({ rw: true, col: 'PV__args' }),
  PV_bootloader_args: str({ rw: true, col: 'PV__bootloader_args' }),
  PV_legacy_args: str({ rw: true, col: 'PV__legacy_args' }),
  HVM_boot_policy: str({ rw: true, col: 'HVM__boot_policy' }),
  HVM_boot_params: smap({ rw: true, col: 'HVM__boot_params' }),
  HVM_shadow_multiplier: float({ col: 'HVM__shadow_multiplier', def: 1, since: 'miami' }),
  platform: smap({ rw: true }),
  PCI_bus: str(),
  other_config: smap({ rw: true }),
  domid: int({ def: -1 }),
  domarch: str(),
  last_boot_CPU_flags: smap(),
  is_control_domain: bool(),
  metrics: ref('VM_metrics'),
  guest_metrics: ref('VM_guest_metrics'),
  last_booted_record: str({ since: 'miami' }),
  recommendations: str({ rw: true }),
  xenstore_data: smap({ rw: true, since: 'miami' }),
  ha_always_run: bool({ since: 'orlando' }),
  ha_restart_priority: str({ since: 'orlando' }),
  is_a_snapshot: bool({ since: 'orlando' }),
  snapshot_of: ref('VM', { since: 'orlando' }),
  snapshots: refs('VM', { since: 'orlando' }),
  snapshot_time: date({ since: 'orlando' }),
  transportable_snapshot_id: str({ since: 'orlando' }),
  blobs: blobs({ since: 'orlando' }),
  tags: strs({ rw: true, since: 'orlando' }),
  blocked_operations: xmap({ kind: 'enum', values: VM_OPERATIONS }, S, { rw: true, since: 'orlando' }),
  snapshot_info: smap({ since: 'midnight-ride' }),
  snapshot_metadata: str({ since: 'midnight-ride' }),
  parent: ref('VM', { since: 'midnight-ride' }),
  children: refs('VM', { since: 'midnight-ride' }),
  bios_strings: smap({ since: 'midnight-ride' }),
  protection_policy: ref('VMPP', { since: 'cowley' }),
  is_snapshot_from_vmpp: bool({ since: 'cowley' }),
  snapshot_schedule: ref('VMSS', { since: 'falcon' }),
  is_vmss_snapshot: bool({ since: 'falcon' }),
  appliance: ref('VM_appliance', { rw: true }),
  start_delay: int({ since: 'boston' }),
  shutdown_delay: int({ since: 'boston' }),
  order: int({ since: 'boston' }),
  VGPUs: refs('VGPU', { since: 'boston' }),
  attached_PCIs: refs('PCI', { since: 'boston' }),
  suspend_SR: ref('SR', { rw: true, since: 'boston' }),
  version: int({ since: 'boston' }),
  generation_id: str({ def: '0:0', since: 'clearwater' }),
  hardware_platform_version: int({ since: 'cream' }),
  has_vendor_device: bool({ since: 'dundee' }),
  requires_reboot: bool({ since: 'ely' }),
  reference_label: str({ since: 'ely' }),
  domain_type: enm(DOMAIN_TYPES, { def: 'unspecified', since: 'jura' }),
  NVRAM: smap({ since: 'naples' }),
  pending_guidances: enums(UPDATE_GUIDANCES, { since: '1.303.0' }),
  pending_guidances_recommended: enums(UPDATE_GUIDANCES, { since: '24.10.0' }),
  pending_guidances_full: enums(UPDATE_GUIDANCES, { since: '24.10.0' }),
  // After the datamodel file (datamodel_lifecycle.ml); VM groups are not modelled.
  groups: refs('VM_group', { since: '24.19.1' }),
};

const VM_metrics = {
  uuid: str(),
  memory_actual: int({ col: 'memory__actual' }),
  VCPUs_number: int({ col: 'VCPUs__number' }),
  VCPUs_utilisation: xmap(I, F, { col: 'VCPUs__utilisation' }),
  VCPUs_CPU: xmap(I, I, { col: 'VCPUs__CPU' }),
  VCPUs_params: smap({ col: 'VCPUs__params' }),
  VCPUs_flags: xmap(I, { kind: 'set', of: S }, { col: 'VCPUs__flags' }),
  state: strs(),
  start_time: date(),
  install_time: date(),
  last_updated: date(),
  other_config: smap({ rw: true, since: 'orlando' }),
  hvm: bool({ since: 'ely' }),
  nested_virt: bool({ since: 'ely' }),
  nomigrate: bool({ since: 'ely' }),
  current_domain_type: enm(DOMAIN_TYPES, { def: 'unspecified', since: 'jura' }),
};

const VM_guest_metrics = {
  uuid: str(),
  os_version: smap(),
  // After the datamodel file: ocaml/idl/datamodel_lifecycle.ml dates it 24.28.0.
  netbios_name: smap({ since: '24.28.0' }),
  PV_drivers_version: smap(),
  PV_drivers_up_to_date: bool(),
  memory: smap(),
  disks: smap(),
  networks: smap(),
  other: smap(),
  last_updated: date(),
  other_config: smap({ rw: true, since: 'orlando' }),
  live: bool({ since: 'orlando' }),
  can_use_hotplug_vbd: enm(TRISTATE, { def: 'unspecified', since: 'dundee' }),
  can_use_hotplug_vif: enm(TRISTATE, { def: 'unspecified', since: 'dundee' }),
  PV_drivers_detected: bool({ since: 'dundee' }),
  services: smap({ since: '25.15.0' }),
};

/** VM_appliance (vApp, API 1.9; xen-api ocaml/idl/datamodel.ml). */
export const VM_APPLIANCE_OPERATIONS = ['start', 'clean_shutdown', 'hard_shutdown', 'shutdown'] as const;
const VM_appliance = {
  uuid: str(),
  name_label: nameLabel(),
  name_description: nameDescription(),
  allowed_operations: enums(VM_APPLIANCE_OPERATIONS),
  current_operations: xmap(S, { kind: 'enum', values: VM_APPLIANCE_OPERATIONS }),
  VMs: refs('VM'),
};

const VIF = {
  uuid: str(),
  allowed_operations: enums(VIF_OPERATIONS),
  current_operations: xmap(S, { kind: 'enum', values: VIF_OPERATIONS }),
  device: str(),
  network: ref('network'),
  VM: ref('VM'),
  MAC: str(),
  MTU: int({ def: 1500 }),
  other_config: smap({ rw: true }),
  currently_attached: bool(),
  status_code: int(),
  status_detail: str(),
  runtime_properties: smap(),
  qos_algorithm_type: qosAlgorithmType(),
  qos_algorithm_params: qosAlgorithmParams(),
  qos_supported_algorithms: qosSupported(),
  metrics: ref('VIF_metrics'),
  MAC_autogenerated: bool({ since: 'george' }),
  locking_mode: enm(VIF_LOCKING_MODES, { rw: true, since: 'tampa' }),
  ipv4_allowed: strs({ rw: true, since: 'tampa' }),
  ipv6_allowed: strs({ rw: true, since: 'tampa' }),
  ipv4_configuration_mode: enm(IPV4_CONF_MODES, { since: 'dundee' }),
  ipv4_addresses: strs({ since: 'dundee' }),
  ipv4_gateway: str({ since: 'dundee' }),
  ipv6_configuration_mode: enm(IPV6_CONF_MODES, { since: 'dundee' }),
  ipv6_addresses: strs({ since: 'dundee' }),
  ipv6_gateway: str({ since: 'dundee' }),
};

const network = {
  uuid: str(),
  name_label: nameLabel(),
  name_description: nameDescription(),
  allowed_operations: enums(NETWORK_OPERATIONS),
  current_operations: xmap(S, { kind: 'enum', values: NETWORK_OPERATIONS }),
  VIFs: refs('VIF'),
  PIFs: refs('PIF'),
  MTU: int({ rw: true, def: 1500, since: 'midnight-ride' }),
  other_config: smap({ rw: true }),
  bridge: str(),
  managed: bool({ def: true, since: 'falcon' }),
  blobs: blobs({ since: 'orlando' }),
  tags: strs({ rw: true, since: 'orlando' }),
  default_locking_mode: enm(NETWORK_DEFAULT_LOCKING, { since: 'tampa' }),
  assigned_ips: xmap({ kind: 'ref', cls: 'VIF' }, S, { since: 'creedence' }),
  purpose: enums(NETWORK_PURPOSES, { since: 'inverness' }),
};

const PIF = {
  uuid: str(),
  device: str(),
  network: ref('network'),
  host: ref('host'),
  MAC: str(),
  MTU: int({ def: 1500 }),
  VLAN: int({ def: -1 }),
  metrics: ref('PIF_metrics'),
  physical: bool({ since: 'miami' }),
  currently_attached: bool({ since: 'miami' }),
  ip_configuration_mode: enm(PIF_IP_MODES, { since: 'miami' }),
  IP: str({ since: 'miami' }),
  netmask: str({ since: 'miami' }),
  gateway: str({ since: 'miami' }),
  DNS: str({ since: 'miami' }),
  bond_slave_of: ref('Bond', { since: 'miami' }),
  bond_master_of: refs('Bond', { since: 'miami' }),
  VLAN_master_of: ref('VLAN', { since: 'miami' }),
  VLAN_slave_of: refs('VLAN', { since: 'miami' }),
  management: bool({ since: 'miami' }),
  other_config: smap({ rw: true, since: 'miami' }),
  disallow_unplug: bool({ rw: true, since: 'orlando' }),
  tunnel_access_PIF_of: refs('tunnel', { since: 'cowley' }),
  tunnel_transport_PIF_of: refs('tunnel', { since: 'cowley' }),
  ipv6_configuration_mode: enm(PIF_IPV6_MODES, { since: 'tampa' }),
  IPv6: strs({ since: 'tampa' }),
  ipv6_gateway: str({ since: 'tampa' }),
  primary_address_type: enm(PRIMARY_ADDRESS_TYPES, { since: 'tampa' }),
  managed: bool({ def: true, since: 'vgpu-productisation' }),
  properties: smap({ since: 'creedence' }),
  capabilities: strs({ since: 'dundee' }),
  igmp_snooping_status: enm(PIF_IGMP_STATUSES, { def: 'unknown', since: 'inverness' }),
  sriov_physical_PIF_of: refs('network_sriov', { since: 'kolkata' }),
  sriov_logical_PIF_of: refs('network_sriov', { since: 'kolkata' }),
  PCI: ref('PCI', { since: 'kolkata' }),
};

const task = {
  uuid: str(),
  name_label: str({ col: 'name__label' }),
  name_description: str({ col: 'name__description' }),
  allowed_operations: enums(TASK_OPERATIONS),
  current_operations: xmap(S, { kind: 'enum', values: TASK_OPERATIONS }),
  created: date(),
  finished: date(),
  status: enm(TASK_STATUSES),
  resident_on: ref('host'),
  progress: float(),
  type: str(),
  result: str(),
  error_info: strs(),
  other_config: smap({ rw: true, since: 'miami' }),
  subtask_of: ref('task', { since: 'orlando' }),
  subtasks: refs('task', { since: 'orlando' }),
  backtrace: str({ def: '()', since: 'dundee' }),
};

const message = {
  uuid: str(),
  name: str(),
  priority: int(),
  cls: enm(['VM', 'Host', 'SR', 'Pool', 'VMPP', 'VMSS', 'PVS_proxy', 'VDI', 'Certificate'] as const, { since: 'orlando' }),
  obj_uuid: str(),
  timestamp: date(),
  body: str(),
};

/** The whole schema: class → field name → spec. Field order is the order records are written in. */
export const SCHEMA = {
  session,
  pool,
  host,
  host_metrics,
  SR,
  PBD,
  VDI,
  VBD,
  VM,
  VM_metrics,
  VM_guest_metrics,
  VM_appliance,
  VIF,
  network,
  PIF,
  task,
  message,
} as const satisfies Record<ClassName, Record<string, FieldSpec>>;

export type Schema = typeof SCHEMA;

// ---------------------------------------------------------------------------------------
// Record types derived from the schema

type ScalarValue<T> = T extends { kind: 'int' | 'float' }
  ? number
  : T extends { kind: 'bool' }
    ? boolean
    : T extends { kind: 'enum'; values: infer V extends readonly string[] }
      ? V[number]
      : string;

/** JS type of a field's value in the database. */
type SetValue<T> = T extends { kind: 'set'; of: { kind: 'int' } } ? number[] : string[];

export type ValueOf<F> = F extends { type: infer T }
  ? T extends { kind: 'set' }
    ? SetValue<T>
    : T extends { kind: 'map'; value: infer V }
      ? Record<string, V extends { kind: 'set' } ? SetValue<V> : ScalarValue<V>>
      : ScalarValue<T>
  : never;

/** A full record of class C, e.g. `RecordOf<'VDI'>` has `virtual_size: number`, `SR: string`. */
export type RecordOf<C extends ClassName> = { -readonly [K in keyof Schema[C]]: ValueOf<Schema[C][K]> };

/** Field names of class C. */
export type FieldOf<C extends ClassName> = keyof Schema[C] & string;

/** Any record, when the class is only known at run time. */
export type AnyRecord = Record<string, unknown>;

// ---------------------------------------------------------------------------------------
// Relations: XAPI keeps the set side of a one-to-many relation in step with the ref side.

export interface Relation {
  /** The class holding the set field, e.g. VM. */
  readonly setClass: ClassName;
  /** The set field, e.g. VBDs. */
  readonly setField: string;
  /** The class holding the ref field, e.g. VBD. */
  readonly refClass: ClassName;
  /** The ref field, e.g. VM. */
  readonly refField: string;
}

/**
 * setClass.setField = every refClass object whose refField names it. The set side is
 * derived: the database rewrites it when an object is created, destroyed, or its ref field
 * is set; it cannot be set through the API.
 */
export const RELATIONS: readonly Relation[] = [
  { setClass: 'VM', setField: 'VBDs', refClass: 'VBD', refField: 'VM' },
  { setClass: 'VDI', setField: 'VBDs', refClass: 'VBD', refField: 'VDI' },
  { setClass: 'VM', setField: 'VIFs', refClass: 'VIF', refField: 'VM' },
  { setClass: 'network', setField: 'VIFs', refClass: 'VIF', refField: 'network' },
  { setClass: 'network', setField: 'PIFs', refClass: 'PIF', refField: 'network' },
  { setClass: 'host', setField: 'PIFs', refClass: 'PIF', refField: 'host' },
  { setClass: 'SR', setField: 'VDIs', refClass: 'VDI', refField: 'SR' },
  { setClass: 'SR', setField: 'PBDs', refClass: 'PBD', refField: 'SR' },
  { setClass: 'host', setField: 'PBDs', refClass: 'PBD', refField: 'host' },
  { setClass: 'host', setField: 'resident_VMs', refClass: 'VM', refField: 'resident_on' },
  { setClass: 'VM', setField: 'snapshots', refClass: 'VM', refField: 'snapshot_of' },
  { setClass: 'VM', setField: 'children', refClass: 'VM', refField: 'parent' },
  { setClass: 'VDI', setField: 'snapshots', refClass: 'VDI', refField: 'snapshot_of' },
  { setClass: 'task', setField: 'subtasks', refClass: 'task', refField: 'subtask_of' },
  { setClass: 'VM_appliance', setField: 'VMs', refClass: 'VM', refField: 'appliance' },
];

/** Classes whose objects do not survive a restart (XAPI drops sessions and tasks too). */
export const TRANSIENT_CLASSES: readonly ClassName[] = ['session', 'task'];

// ---------------------------------------------------------------------------------------
// Lookup helpers

export function isClassName(s: string): s is ClassName {
  return (CLASS_NAMES as readonly string[]).includes(s);
}

/** Spec of cls.field, or undefined when the class has no such public field. */
export function fieldSpec(cls: ClassName, field: string): FieldSpec | undefined {
  const table = SCHEMA[cls] as Record<string, FieldSpec>;
  return Object.prototype.hasOwnProperty.call(table, field) ? table[field] : undefined;
}

export function fieldType(cls: ClassName, field: string): FieldType | undefined {
  return fieldSpec(cls, field)?.type;
}

/** Field names of a class in schema order. */
export function fieldNames(cls: ClassName): string[] {
  return Object.keys(SCHEMA[cls]);
}

/** Database column of a field (`name_label` → `name__label`, `memory_static_max` → `memory__static_max`). */
export function columnName(cls: ClassName, field: string): string {
  return fieldSpec(cls, field)?.column ?? field;
}

/** Field whose database column is `column`, or undefined. */
export function fieldOfColumn(cls: ClassName, column: string): string | undefined {
  for (const [name, spec] of Object.entries(SCHEMA[cls] as Record<string, FieldSpec>)) {
    if ((spec.column ?? name) === column) return name;
  }
  return undefined;
}

/** True when field is the derived set side of a relation (not settable, maintained by the db). */
export function isRelationSet(cls: ClassName, field: string): boolean {
  return RELATIONS.some((r) => r.setClass === cls && r.setField === field);
}

/** A fresh copy of the default value of cls.field. */
export function defaultValue(cls: ClassName, field: string): unknown {
  const spec = fieldSpec(cls, field);
  if (!spec) throw new Error(`no field ${cls}.${field}`);
  return copyFlat(spec.default);
}

/** A record of class cls holding only default values (uuid "" until the db assigns one). */
export function defaultRecord<C extends ClassName>(cls: C): RecordOf<C> {
  const rec: AnyRecord = {};
  for (const [name, spec] of Object.entries(SCHEMA[cls] as Record<string, FieldSpec>)) {
    rec[name] = copyFlat(spec.default);
  }
  return rec as RecordOf<C>;
}

/** Copy of a field value: values are scalars, flat arrays or flat maps, so one level suffices. */
export function copyFlat(v: unknown): unknown {
  if (Array.isArray(v)) return [...(v as unknown[])];
  if (typeof v === 'object' && v !== null) return { ...(v as Record<string, unknown>) };
  return v;
}
