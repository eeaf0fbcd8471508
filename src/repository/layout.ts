// Where each kind of object lives in the backend (FORMAT.md "Layout").
import type { IndexId, KeyId, PackId, SnapshotId } from '../format/ids.js';

export const CONFIG_NAME = 'config';
export const KEYS_PREFIX = 'keys/';
export const DATA_PREFIX = 'data/';
export const INDEX_PREFIX = 'index/';
export const SNAPSHOTS_PREFIX = 'snapshots/';

export const keyName = (id: KeyId): string => `${KEYS_PREFIX}${id}`;
export const packName = (id: PackId): string => `${DATA_PREFIX}${id.slice(0, 2)}/${id}`;
export const indexName = (id: IndexId): string => `${INDEX_PREFIX}${id}`;
export const snapshotName = (id: SnapshotId): string => `${SNAPSHOTS_PREFIX}${id}`;

/** The id part of an object name: its last path component. */
export const idOfName = (name: string): string => name.slice(name.lastIndexOf('/') + 1);

/** The pack id of a name listed under data/, or null when it is not where a pack of that id lives. */
export function packIdOfName(name: string): PackId | null {
  const id = idOfName(name) as PackId;
  return /^[0-9a-f]{64}$/.test(id) && packName(id) === name ? id : null;
}
