/**
 * The ssh layer: hosts, connection parameters, remote commands, connection reuse, transfers.
 *
 * @module
 */

export {
  closeConnections,
  closePersisted,
  type ConnectionStats,
  connectionStats,
  connectWindowStats,
  type PersistedConnectionInfo,
  persistedConnections,
  resetConnectionStats,
} from "./connections.ts";
export type { ConnectWindowStats } from "./connect_window.ts";
export { persistDir, type PersistedConnection } from "./persist.ts";
export { FAST_KEX, type Kex } from "./profile.ts";
export { Host, type HostInput, type HostSpec, parseHostString, type Tags } from "./host.ts";
export { type HostList, parseHostList } from "./host_file.ts";
export { checkParams, type ConnectionParams, DEFAULT_PARAMS, type Endpoint } from "./params.ts";
export { remoteScript } from "./remote.ts";
export {
  checkTransferSources,
  type Direction,
  type TransferOptions,
  TransferTarget,
} from "./transfer.ts";
