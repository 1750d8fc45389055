import type { SinkSpec } from '../config/job.js';
import { isS3 } from '../s3/s3-url.js';
import { ObjectParquetSink } from './object-parquet.js';
import { ParquetSink } from './parquet.js';
import { PostgresSink } from './postgres.js';
import type { Sink, SinkLayout } from './sink.js';

/** Builds the sink a job names; construction connects to nothing. */
export function makeSink(spec: SinkSpec, layout: SinkLayout): Sink {
  if (spec.kind === 'postgres') return new PostgresSink(spec, layout);
  return isS3(spec.path) ? new ObjectParquetSink(spec, layout) : new ParquetSink(spec, layout);
}

/** A sink that writes nothing, for --dry-run. */
export function nullSink(): Sink {
  return {
    description: '(dry run)',
    async check() {},
    async begin() {},
    async write() {},
    async checkpoint() {},
    async findResumable() {
      return undefined;
    },
    async published() {
      return undefined;
    },
    async baseline() {
      return undefined;
    },
    async publish() {},
    async abort() {},
    async close() {},
  };
}
