// `engine stats --json` in restic's shape (cmd/restic/cmd_stats.go statsContainer): one JSON
// object, no message_type. engine has one mode, which shows at once what restic's restore-size
// and raw-data modes show one at a time: total_size, total_file_count and snapshots_count have
// restic's default (restore-size) meaning; total_blob_count and the compression figures are
// raw-data's, over the distinct blobs; engine's own figures follow in snake_case. The schema is
// docs/json/stats.schema.json; docs/json/stats.md says what differs from restic.

/** What `engine stats` measures (src/cli/commands/stats.ts). */
export interface StatsFigures {
  snapshots: number;
  files: number;
  restoreBytes: number;
  dataBlobs: number;
  treeBlobs: number;
  uniqueRawBytes: number;
  uniqueStoredBytes: number;
  dedupRatio: number;
  compressionRatio: number;
  indexedBlobs: number;
  packs: number;
  packBytes: number;
}

export function statsJson(s: StatsFigures): Record<string, unknown> {
  return {
    total_size: s.restoreBytes,
    total_file_count: s.files,
    total_blob_count: s.dataBlobs + s.treeBlobs,
    snapshots_count: s.snapshots,
    compression_ratio: s.compressionRatio,
    // restic: (1 - stored / uncompressed) x 100; below 0 when the envelopes outweigh what compression saved.
    compression_space_saving: s.uniqueRawBytes > 0 ? (1 - s.uniqueStoredBytes / s.uniqueRawBytes) * 100 : 0,
    // engine's own
    data_blobs: s.dataBlobs,
    tree_blobs: s.treeBlobs,
    unique_raw_bytes: s.uniqueRawBytes,
    unique_stored_bytes: s.uniqueStoredBytes,
    dedup_ratio: s.dedupRatio,
    indexed_blobs: s.indexedBlobs,
    packs: s.packs,
    pack_bytes: s.packBytes,
  };
}
