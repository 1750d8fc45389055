/** Parquet's codec names, by the job file's `compression` values. */
export const CODECS = {
  zstd: 'ZSTD',
  snappy: 'SNAPPY',
  gzip: 'GZIP',
  lz4: 'LZ4_RAW',
  uncompressed: 'UNCOMPRESSED',
} as const;
