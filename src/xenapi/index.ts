/** Public API of the XenAPI client (protocol only: no DR logic, no UI). */
export { XenApiError, TransportError, AbortError, isAbortError, throwIfAborted, describeTarget } from './errors.js';
export type { TransportErrorKind } from './errors.js';
export {
  NULL_REF,
  isNullRef,
  toInt,
  toBigInt,
  toFloat,
  toBool,
  toStr,
  toStrArray,
  toStrMap,
  xenDouble,
  XenDouble,
} from './values.js';
export type { Ref, XenRecord } from './values.js';
export { quoteWhere, fieldEquals } from './where.js';
export { normalizeFingerprint, tlsMode, tlsWarning, fetchPeerFingerprint, fetchPeerCertificate } from './tls.js';
export type { TlsOptions, TlsMode, PeerCertificateInfo } from './tls.js';
export { Connector } from './connector.js';
export type { RateDeadline } from './connector.js';
export { AnswerBudget, sharedAnswerBudget, DEFAULT_ANSWER_BUDGET_BYTES } from './answer-budget.js';
export { checkRedirect } from './redirect-policy.js';
export { RpcClient, DEFAULT_CALL_TIMEOUT_MS, DEFAULT_MAX_RESPONSE_BYTES } from './rpc.js';
export type { CallOptions, RpcProtocol } from './rpc.js';
export { Session, masterUrl, DEFAULT_ORIGINATOR, DEFAULT_TRANSPORT, TRANSPORT_CHOICES, jsonRpcDependable } from './session.js';
export type { LoginOptions, ApiVersion, ProductVersion, TransportChoice } from './session.js';
export { callAsync, waitTask, runTask, withTask, cancelTask, destroyTask, getTask, taskError, decodeTaskResult, DEFAULT_TASK_DEADLINE_MS } from './tasks.js';
export type { TaskSnapshot, TaskStatus, WaitOptions } from './tasks.js';
export { encodeChunkFrames, decodeChunkFrames, chunkHeader, chunkedBodyLength, CHUNK_HEADER_BYTES } from './chunked.js';
export type { ChunkRegion } from './chunked.js';
export {
  createTransferTask,
  handlerUrl,
  redirectTarget,
  getBuffer,
  getStream,
  putBody,
  DEFAULT_DEADLINE_FLOOR_MS,
  DEFAULT_MIN_BYTES_PER_SECOND,
  DEFAULT_MAX_STREAM_BYTES,
} from './transfer.js';
export type { Query, StreamLimits } from './transfer.js';
export {
  exportMetadata,
  importMetadata,
  exportRawVdi,
  importRawVdi,
  dumpPoolDatabase,
  streamPoolDatabase,
  DEFAULT_MAX_METADATA_BYTES,
  DEFAULT_MAX_DB_DUMP_BYTES,
} from './http.js';
export type { ExportMetadataTarget, ImportMetadataOptions, ImportRawVdiOptions, RawFormat, StreamingDownload, TransferOptions } from './http.js';
export { serializeMethodCall, parseMethodResponse, decodeValueXml, formatXenDate } from './xmlrpc-codec.js';
export { decodeValueDocument, decodeXenDateTime, MethodResponseDecoder, MAX_VALUE_DEPTH } from './xmlrpc-decoder.js';
export { serializeJsonRpcCall, JsonAnswerReader, JsonRpcAnswerError, unwrapJsonRpc } from './jsonrpc-codec.js';
export type { DecodeOptions, ValueDocument } from './xmlrpc-decoder.js';
export { Pool, Host, SR, PBD, VDI, VBD, VM, Network, VMAppliance, VIF } from './classes/index.js';
export type { PoolRecord, HostRecord, SrRecord, PbdRecord, VdiRecord, VdiCreate, VbdRecord, VbdCreate, VmRecord, NetworkRecord, VmApplianceRecord, VmSequencingRecord, VifRecord, VifCreate, FieldType, RecordOf } from './classes/index.js';
