/**
 * The simulator's HTTP transfer handlers (xen-api ocaml/idl/datamodel.ml, http_actions), as
 * routes for the server:
 * VM metadata export/import, raw VDI export/import, the database dump and its restore.
 */
import type { SimRoute } from '../http-route.js';
import { exportMetadataRoute } from './export-metadata.js';
import { exportRawVdiRoute } from './export-raw-vdi.js';
import { importMetadataRoute } from './import-metadata.js';
import { importRawVdiRoute } from './import-raw-vdi.js';
import { xmlDbRestoreRoute } from './xmldb-restore.js';
import { xmlDbDumpRoute } from './xmldbdump.js';

export const transferRoutes: SimRoute[] = [exportMetadataRoute, importMetadataRoute, exportRawVdiRoute, importRawVdiRoute, xmlDbDumpRoute, xmlDbRestoreRoute];

export { exportMetadataRoute, importMetadataRoute, exportRawVdiRoute, importRawVdiRoute, xmlDbDumpRoute, xmlDbRestoreRoute };
export { buildOvaXml, exportVersion, type OvaExportOptions } from './ova-export.js';
export { parseOvaXml, assertCompatible, type ExportHeader, type ExportObject } from './ova-document.js';
export { importObjects, assertCanRestoreBackup, type ImportConfig } from './ova-import.js';
export { packOvaTar, readOvaXml, ovaTarSize, OVA_XML } from './ova-tar.js';
